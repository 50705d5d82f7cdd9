"""R-CNN (Girshick et al. 2014) and Fast R-CNN (Girshick 2015), written here: torchvision has neither.

Both classify selective-search proposals (:mod:`cnnlab.detect._proposals`) into ``num_classes + 1`` classes (0 is
the background) and regress one box per class (R-CNN's parameterisation, :func:`encode_boxes`):

- **R-CNN** warps every proposal (dilated so that ``context`` pixels of the warped crop are context, 16 of 227
  in the paper) to a ``crop_size`` square and runs the whole backbone on each crop; a linear classifier and a
  linear per-class box regressor sit on the globally pooled deepest feature map. As in Fast R-CNN's ablation the
  classifier is the fine-tuned softmax, not the paper's per-class SVMs. Hundreds of backbone passes per image:
  the notes' "slow".
- **Fast R-CNN** runs the backbone once per image, pools each proposal's region of the stride-16 feature map to
  7x7 with RoI max pooling (``torchvision.ops.roi_pool``), and two fully connected layers feed the classifier
  and the box regressor.

Training samples ``rois_per_image`` regions per image, a quarter foreground (IoU >= 0.5 with a ground-truth box,
which joins the proposals), the rest background with IoU in [0.1, 0.5) (Fast R-CNN, section 2.3); the losses are
``loss_classifier`` (cross-entropy) and ``loss_box_reg`` (smooth L1 on the foreground's class-specific boxes).
Inference: softmax scores, decoded per-class boxes, score threshold, per-class NMS, the best
``detections_per_image``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import batched_nms, box_iou, roi_align, roi_pool

from cnnlab.detect._api import register_detector
from cnnlab.detect._backbone import FeatureBackbone
from cnnlab.detect._boxes import clip_boxes, decode_boxes, encode_boxes, sample_rois
from cnnlab.detect._proposals import ProposalCache


class _RegionDetector(nn.Module):
    """What R-CNN and Fast R-CNN share: proposals, RoI sampling, the two losses, and post-processing."""

    def __init__(self, num_classes: int, *, rois_per_image: int, positive_fraction: float, fg_iou: float,
                 bg_iou: Sequence[float], reg_iou: float, score_thresh: float, nms_thresh: float,
                 detections_per_image: int, test_proposals: int, proposal_options: dict) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.rois_per_image, self.positive_fraction = rois_per_image, positive_fraction
        self.fg_iou, self.bg_iou, self.reg_iou = fg_iou, (float(bg_iou[0]), float(bg_iou[1])), reg_iou
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_image, self.test_proposals = detections_per_image, test_proposals
        self.proposals = ProposalCache(**proposal_options)

    def image_proposals(self, images: Sequence[Tensor], targets: Sequence[dict] | None,
                        proposals: Sequence[Tensor] | None) -> list[Tensor]:
        """Proposals per image: given, carried by the targets (``"proposals"``), or from selective search."""
        if proposals is not None:
            if len(proposals) != len(images):
                raise ValueError(f"proposals must be one Tensor[P, 4] per image ({len(images)}), got {len(proposals)}")
            return [p.to(images[0].device).float() for p in proposals]
        out = []
        for i, img in enumerate(images):
            if targets is not None and "proposals" in targets[i]:
                out.append(targets[i]["proposals"].to(img.device).float())
            else:
                out.append(self.proposals(img).to(img.device))
        return out

    def sample(self, props: list[Tensor], targets: Sequence[dict]) -> tuple[list[Tensor], Tensor, Tensor, Tensor]:
        rois, labels, reg_targets, reg_mask = [], [], [], []
        for p, t in zip(props, targets):
            r, lab, gt, iou = sample_rois(p, t["boxes"], t["labels"], num=self.rois_per_image,
                                          positive_fraction=self.positive_fraction, fg_iou=self.fg_iou,
                                          bg_iou=self.bg_iou)
            rois.append(r)
            labels.append(lab)
            reg_targets.append(encode_boxes(gt, r) if len(r) else torch.zeros(0, 4, device=r.device))
            reg_mask.append((lab > 0) & (iou >= self.reg_iou))
        return rois, torch.cat(labels), torch.cat(reg_targets), torch.cat(reg_mask)

    def losses(self, logits: Tensor, deltas: Tensor, labels: Tensor, reg_targets: Tensor, reg_mask: Tensor
               ) -> dict[str, Tensor]:
        cls = F.cross_entropy(logits, labels)
        deltas = deltas.view(len(deltas), self.num_classes, 4)
        idx = reg_mask.nonzero().flatten()
        if len(idx):
            picked = deltas[idx, labels[idx] - 1]
            box = F.smooth_l1_loss(picked, reg_targets[idx], beta=1.0, reduction="sum") / max(1, len(labels))
        else:
            box = deltas.sum() * 0
        return {"loss_classifier": cls, "loss_box_reg": box}

    def postprocess(self, logits: Tensor, deltas: Tensor, rois: Tensor, size: tuple[int, int]) -> dict[str, Tensor]:
        k = self.num_classes
        scores = F.softmax(logits, -1)[:, 1:]  # (R, K)
        boxes = clip_boxes(decode_boxes(deltas.view(len(rois), k, 4), rois), size)  # (R, K, 4)
        labels = torch.arange(1, k + 1, device=rois.device).expand(len(rois), k)
        boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
        keep = (scores > self.score_thresh) & ((boxes[:, 2:] - boxes[:, :2]) > 1e-2).all(1)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_image]
        return {"boxes": boxes[keep], "labels": labels[keep], "scores": scores[keep]}


class RCNN(_RegionDetector):
    """R-CNN: one backbone pass per warped proposal. See the module docstring; options in :func:`rcnn`."""

    def __init__(self, backbone: FeatureBackbone, num_classes: int, *, crop_size: int, context: int,
                 crop_batch: int, **kw) -> None:
        super().__init__(num_classes, **kw)
        self.backbone = backbone
        self.crop_size, self.context, self.crop_batch = crop_size, context, crop_batch
        c = backbone.channels[-1]
        self.cls_score = nn.Linear(c, num_classes + 1)
        self.bbox_pred = nn.Linear(c, 4 * num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def warp(self, image: Tensor, boxes: Tensor) -> Tensor:
        """Crops ``Tensor[R, 3, S, S]``: each box dilated by the context margin and warped (bilinear) to S x S."""
        s, p = self.crop_size, self.context
        f = s / max(1, s - 2 * p)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        hw, hh = (boxes[:, 2] - boxes[:, 0]) * f / 2, (boxes[:, 3] - boxes[:, 1]) * f / 2
        big = torch.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1)
        return roi_align(image[None], [big], output_size=(s, s), spatial_scale=1.0, sampling_ratio=2, aligned=True)

    def embed(self, crops: Tensor) -> Tensor:
        """Globally pooled deepest feature map of the backbone for each crop, ``Tensor[R, C]``."""
        feats = self.backbone(crops)
        return next(reversed(feats.values())).mean((2, 3))

    def heads(self, images: Sequence[Tensor], rois: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        crops = torch.cat([self.warp(img, r) for img, r in zip(images, rois)])
        if len(crops) == 0:
            c = self.cls_score.in_features
            z = torch.zeros(0, c, device=images[0].device)
            return self.cls_score(z), self.bbox_pred(z)
        emb = torch.cat([self.embed(crops[i:i + self.crop_batch]) for i in range(0, len(crops), self.crop_batch)])
        return self.cls_score(emb), self.bbox_pred(emb)

    def forward(self, images: Sequence[Tensor], targets: Sequence[dict] | None = None,
                proposals: Sequence[Tensor] | None = None):
        props = self.image_proposals(images, targets, proposals)
        if self.training:
            rois, labels, reg_t, reg_m = self.sample(props, targets)
            logits, deltas = self.heads(images, rois)
            return self.losses(logits, deltas, labels, reg_t, reg_m)
        rois = [p[: self.test_proposals] for p in props]
        out = []
        for img, r in zip(images, rois):
            logits, deltas = self.heads([img], [r])
            out.append(self.postprocess(logits, deltas, r, tuple(img.shape[-2:])))
        return out


class FastRCNN(_RegionDetector):
    """Fast R-CNN: one backbone pass per image, RoI pooling, two FC layers. Options in :func:`fast_rcnn`."""

    def __init__(self, backbone: FeatureBackbone, num_classes: int, *, min_size: int, max_size: int,
                 pool_size: int, representation: int, dropout: float, pooling: str, **kw) -> None:
        super().__init__(num_classes, **kw)
        self.backbone = backbone
        self.transform = GeneralizedRCNNTransform(min_size, max_size, [0.0] * 3, [1.0] * 3)
        self.pool_size, self.pooling = pool_size, pooling
        self.scale = 1.0 / backbone.strides[-1]
        c = backbone.channels[-1]
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * pool_size * pool_size, representation),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(representation, representation),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.cls_score = nn.Linear(representation, num_classes + 1)
        self.bbox_pred = nn.Linear(representation, 4 * num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def pool(self, feature: Tensor, rois: list[Tensor]) -> Tensor:
        """Each RoI's region of the feature map pooled to ``pool_size`` x ``pool_size``."""
        s = (self.pool_size, self.pool_size)
        if self.pooling == "align":
            return roi_align(feature, rois, s, spatial_scale=self.scale, sampling_ratio=2, aligned=True)
        return roi_pool(feature, rois, s, spatial_scale=self.scale)

    def heads(self, feature: Tensor, rois: list[Tensor]) -> tuple[Tensor, Tensor]:
        x = self.head(self.pool(feature, rois))
        return self.cls_score(x), self.bbox_pred(x)

    def forward(self, images: Sequence[Tensor], targets: Sequence[dict] | None = None,
                proposals: Sequence[Tensor] | None = None):
        props = self.image_proposals(images, targets, proposals)
        original = [tuple(img.shape[-2:]) for img in images]
        tv_targets = None if targets is None else [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]
        batch, tv_targets = self.transform(list(images), tv_targets)
        scaled = []
        for p, (h0, w0), (h, w) in zip(props, original, batch.image_sizes):
            scaled.append(p * torch.tensor([w / w0, h / h0, w / w0, h / h0], device=p.device))
        feature = next(reversed(self.backbone(batch.tensors).values()))
        if self.training:
            rois, labels, reg_t, reg_m = self.sample(scaled, tv_targets)
            logits, deltas = self.heads(feature, rois)
            return self.losses(logits, deltas, labels, reg_t, reg_m)
        rois = [p[: self.test_proposals] for p in scaled]
        logits, deltas = self.heads(feature, rois)
        out, start = [], 0
        for r, size in zip(rois, batch.image_sizes):
            out.append(self.postprocess(logits[start:start + len(r)], deltas[start:start + len(r)], r, tuple(size)))
            start += len(r)
        return self.transform.postprocess(out, batch.image_sizes, original)


def _region_kw(rois_per_image, positive_fraction, fg_iou, bg_iou, reg_iou, score_thresh, nms_thresh,
               detections_per_image, test_proposals, ss_mode, ss_max_side, max_proposals) -> dict:
    return dict(rois_per_image=rois_per_image, positive_fraction=positive_fraction, fg_iou=fg_iou, bg_iou=bg_iou,
                reg_iou=reg_iou, score_thresh=score_thresh, nms_thresh=nms_thresh,
                detections_per_image=detections_per_image, test_proposals=test_proposals,
                proposal_options={"mode": ss_mode, "max_side": ss_max_side, "max_proposals": max_proposals})


@register_detector("rcnn", paper="Girshick et al. 2014, Rich feature hierarchies (R-CNN)", multiscale=False,
                   proposals="selective search (OpenCV ximgproc)")
def rcnn(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], crop_size: int = 128, context: int = 8,
         crop_batch: int = 64, rois_per_image: int = 32, positive_fraction: float = 0.25, fg_iou: float = 0.5,
         bg_iou: Sequence[float] = (0.1, 0.5), reg_iou: float = 0.6, score_thresh: float = 0.05,
         nms_thresh: float = 0.3, detections_per_image: int = 100, test_proposals: int = 1000,
         ss_mode: str = "fast", ss_max_side: int = 500, max_proposals: int = 2000) -> nn.Module:
    """R-CNN with ``crop_size`` warped crops (227 in the paper; 128 keeps the CPU in minutes) and ``context`` pixels
    of context each side (16 of 227 in the paper), box regression for foreground crops with IoU >= ``reg_iou``
    (0.6 in the paper), per-class NMS at ``nms_thresh`` (0.3 in the paper), ``test_proposals`` per image at test
    time (2000 in the paper)."""
    return RCNN(make_backbone(), num_classes, crop_size=crop_size, context=context, crop_batch=crop_batch,
                **_region_kw(rois_per_image, positive_fraction, fg_iou, bg_iou, reg_iou, score_thresh, nms_thresh,
                             detections_per_image, test_proposals, ss_mode, ss_max_side, max_proposals))


@register_detector("fast-rcnn", paper="Girshick 2015, Fast R-CNN", multiscale=False,
                   proposals="selective search (OpenCV ximgproc)")
def fast_rcnn(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], min_size: int = 384,
              max_size: int = 640, stride: int = 16, pool_size: int = 7, pooling: str = "max",
              representation: int = 512,
              dropout: float = 0.0, rois_per_image: int = 64, positive_fraction: float = 0.25, fg_iou: float = 0.5,
              bg_iou: Sequence[float] = (0.1, 0.5), reg_iou: float = 0.5, score_thresh: float = 0.05,
              nms_thresh: float = 0.3, detections_per_image: int = 100, test_proposals: int = 1000,
              ss_mode: str = "fast", ss_max_side: int = 500, max_proposals: int = 2000) -> nn.Module:
    """Fast R-CNN on the backbone's stride-``stride`` map (16, conv5 of VGG in the paper), RoI max pooling to
    ``pool_size`` (``pooling="align"`` uses RoIAlign instead), two FC layers of ``representation`` (4096 in the
    paper), 64 RoIs per image (the paper: 2 images x 64)."""
    from cnnlab._checks import check_choice

    check_choice("pooling", pooling, ("max", "align"))
    return FastRCNN(make_backbone(strides=[stride]), num_classes, min_size=min_size, max_size=max_size,
                    pool_size=pool_size, representation=representation, dropout=dropout, pooling=pooling,
                    **_region_kw(rois_per_image, positive_fraction, fg_iou, bg_iou, reg_iou, score_thresh, nms_thresh,
                                 detections_per_image, test_proposals, ss_mode, ss_max_side, max_proposals))


def proposal_recall(proposals: Sequence[Tensor], targets: Sequence[dict], iou: float = 0.5) -> float:
    """Fraction of ground-truth boxes covered by some proposal with IoU >= ``iou`` (what the detector can find)."""
    hit = total = 0
    for p, t in zip(proposals, targets):
        g = t["boxes"]
        total += len(g)
        if len(g) and len(p):
            hit += int((box_iou(g, p).max(1).values >= iou).sum())
    return hit / total if total else float("nan")
