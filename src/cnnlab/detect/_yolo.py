"""YOLO v1 (Redmon et al. 2016, "You Only Look Once: Unified, Real-Time Object Detection"), written here.

The image is resized to ``size x size`` and divided into an ``S x S`` grid (``S = size / stride`` of the
backbone's deepest map). Each cell predicts ``B`` boxes ``(x, y, sqrt w, sqrt h, confidence)`` and one set of
class probabilities ``p(c)``: ``x, y`` are the box centre's offset inside the cell, ``w, h`` are relative to the
image. The cell that holds a ground-truth box's centre is responsible for it, and of its ``B`` predictors the one
whose box has the highest IoU with it is the responsible predictor.

The loss is the paper's sum of squared errors (equation 3):

    lambda_coord * sum_{i,j} 1obj_ij [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
  + sum_{i,j} 1obj_ij (C - IoU(pred, truth))^2
  + lambda_noobj * sum_{i,j} 1noobj_ij C^2
  + sum_i 1obj_i sum_c (p(c) - p^(c))^2

with lambda_coord = 5 and lambda_noobj = 0.5, summed over the grid and averaged over the images; it is reported as
four named terms (``loss_box``, ``loss_obj``, ``loss_noobj``, ``loss_class``). Two choices the paper leaves open or
that we change: when several boxes' centres fall in one cell, the largest is that cell's object (v1 predicts one
object per cell); outputs pass through a sigmoid (x, y, sqrt w, sqrt h, confidence, in [0, 1] as their targets)
and a softmax (class probabilities) instead of the paper's linear layer, and the head is convolutional (3x3 conv +
1x1 conv on the feature map) instead of two fully connected layers, which on a 13 x 13 grid would hold most of the
parameters. Detections: class-specific confidence ``p(c) * C`` per box, threshold, per-class NMS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import batched_nms

from cnnlab.detect._api import register_detector
from cnnlab.detect._backbone import FeatureBackbone


def yolo_boxes(pred: Tensor, grid: int) -> Tensor:
    """Predicted boxes as image-relative x1y1x2y2 in [0, 1]: ``pred [..., S, S, B, 4]`` holding ``(x, y, sqrt w,
    sqrt h)`` -> ``[..., S, S, B, 4]``."""
    ys, xs = torch.meshgrid(torch.arange(grid, device=pred.device), torch.arange(grid, device=pred.device),
                            indexing="ij")
    cx = (xs[..., None] + pred[..., 0]) / grid
    cy = (ys[..., None] + pred[..., 1]) / grid
    w, h = pred[..., 2] ** 2, pred[..., 3] ** 2
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def yolo_targets(boxes: Tensor, labels: Tensor, size: tuple[int, int], grid: int, num_classes: int
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The grid targets of one image: ``boxes [K, 4]`` pixels of an image of ``size = (h, w)``.

    Returns:
        ``(obj [S, S] bool, box [S, S, 4] as (x, y, sqrt w, sqrt h), gt [S, S, 4] image-relative x1y1x2y2,
        cls [S, S, num_classes] one-hot)``; a cell holds the largest box whose centre falls in it.
    """
    h, w = size
    obj = torch.zeros(grid, grid, dtype=torch.bool)
    box = torch.zeros(grid, grid, 4)
    gt = torch.zeros(grid, grid, 4)
    cls = torch.zeros(grid, grid, num_classes)
    if len(boxes):
        rel = boxes.detach().float().cpu() / torch.tensor([w, h, w, h])
        area = (rel[:, 2] - rel[:, 0]) * (rel[:, 3] - rel[:, 1])
        for k in area.argsort().tolist():  # smallest first: a larger box in the same cell overwrites it
            x1, y1, x2, y2 = rel[k].clamp(0, 1).tolist()
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            i, j = min(int(cy * grid), grid - 1), min(int(cx * grid), grid - 1)
            obj[i, j] = True
            box[i, j] = torch.tensor([cx * grid - j, cy * grid - i, max(x2 - x1, 0) ** 0.5, max(y2 - y1, 0) ** 0.5])
            gt[i, j] = torch.tensor([x1, y1, x2, y2])
            cls[i, j] = 0
            cls[i, j, int(labels[k]) - 1] = 1
    return obj, box, gt, cls


def yolo_loss(pred: Tensor, obj: Tensor, box: Tensor, gt: Tensor, cls: Tensor, *, boxes_per_cell: int,
              lambda_coord: float = 5.0, lambda_noobj: float = 0.5) -> dict[str, Tensor]:
    """The YOLO v1 loss (the module docstring) of a batch.

    Args:
        pred: ``Tensor[N, S, S, B * 5 + C]`` after the output activations: per predictor ``(x, y, sqrt w, sqrt h,
            C)``, then the class probabilities.
        obj, box, gt, cls: :func:`yolo_targets` of each image, stacked (``[N, S, S]``, ``[N, S, S, 4]`` x2,
            ``[N, S, S, C]``).

    Returns:
        ``loss_box``, ``loss_obj``, ``loss_noobj``, ``loss_class``: sums over the grid, averaged over the images.
    """
    n, s = pred.shape[:2]
    b = boxes_per_cell
    p = pred[..., : 5 * b].reshape(n, s, s, b, 5)
    probs = pred[..., 5 * b:]
    with torch.no_grad():  # the responsible predictor: highest IoU with the cell's box (IoU is a target, no grad)
        pb = yolo_boxes(p[..., :4], s)  # (N, S, S, B, 4)
        iou = _pairwise_iou(pb, gt[..., None, :].expand_as(pb))  # (N, S, S, B)
        resp = torch.zeros_like(iou, dtype=torch.bool)
        resp.scatter_(-1, iou.argmax(-1, keepdim=True), True)
        resp &= obj[..., None]
    coord = ((p[..., :4] - box[..., None, :]) ** 2).sum(-1)  # (N, S, S, B)
    conf = p[..., 4]
    loss_box = lambda_coord * (coord * resp).sum()
    loss_obj = (((conf - iou) ** 2) * resp).sum()
    loss_noobj = lambda_noobj * ((conf ** 2) * ~resp).sum()
    loss_class = (((probs - cls) ** 2).sum(-1) * obj).sum()
    return {"loss_box": loss_box / n, "loss_obj": loss_obj / n, "loss_noobj": loss_noobj / n,
            "loss_class": loss_class / n}


def _pairwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of boxes ``a[..., 4]`` and ``b[..., 4]`` element by element (x1y1x2y2)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1) + (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area - inter).clamp(min=1e-9)


class YOLOv1(nn.Module):
    """YOLO v1 on a cnnlab backbone; options in :func:`yolo`."""

    def __init__(self, backbone: FeatureBackbone, num_classes: int, *, size: int, boxes_per_cell: int, hidden: int,
                 lambda_coord: float, lambda_noobj: float, score_thresh: float, nms_thresh: float,
                 detections_per_image: int) -> None:
        super().__init__()
        stride = backbone.strides[-1]
        if size % stride:
            raise ValueError(f"yolo size must be a multiple of the backbone's stride {stride}, got {size}")
        self.backbone = backbone
        self.num_classes, self.size, self.grid, self.boxes_per_cell = num_classes, size, size // stride, boxes_per_cell
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
        self.score_thresh, self.nms_thresh, self.detections_per_image = score_thresh, nms_thresh, detections_per_image
        self.transform = GeneralizedRCNNTransform(size, size, [0.0] * 3, [1.0] * 3, size_divisible=1,
                                                  fixed_size=(size, size))
        self.head = nn.Sequential(nn.Conv2d(backbone.channels[-1], hidden, 3, padding=1),
                                  nn.LeakyReLU(0.1, inplace=True),
                                  nn.Conv2d(hidden, boxes_per_cell * 5 + num_classes, 1))
        nn.init.normal_(self.head[-1].weight, std=0.01)
        nn.init.zeros_(self.head[-1].bias)

    def predict_grid(self, x: Tensor) -> Tensor:
        """``x [N, 3, size, size]`` -> ``[N, S, S, B * 5 + C]`` after sigmoid (boxes, confidence) / softmax."""
        raw = self.head(next(reversed(self.backbone(x).values()))).permute(0, 2, 3, 1)
        b = self.boxes_per_cell
        return torch.cat([torch.sigmoid(raw[..., : 5 * b]), torch.softmax(raw[..., 5 * b:], -1)], -1)

    def forward(self, images: Sequence[Tensor], targets: Sequence[dict] | None = None):
        original = [tuple(img.shape[-2:]) for img in images]
        tv = None if targets is None else [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets]
        batch, tv = self.transform(list(images), tv)
        pred = self.predict_grid(batch.tensors)
        if self.training:
            parts = [yolo_targets(t["boxes"], t["labels"], (self.size, self.size), self.grid, self.num_classes)
                     for t in tv]
            obj, box, gt, cls = (torch.stack(z).to(pred.device) for z in zip(*parts))
            return yolo_loss(pred, obj, box, gt, cls, boxes_per_cell=self.boxes_per_cell,
                             lambda_coord=self.lambda_coord, lambda_noobj=self.lambda_noobj)
        return self.transform.postprocess([self.decode(p) for p in pred], batch.image_sizes, original)

    def decode(self, pred: Tensor) -> dict[str, Tensor]:
        """Detections of one image from its grid ``[S, S, B * 5 + C]`` (pixels of the resized image)."""
        s, b, k = self.grid, self.boxes_per_cell, self.num_classes
        p = pred[..., : 5 * b].reshape(s, s, b, 5)
        boxes = (yolo_boxes(p[..., :4], s).clamp(0, 1) * self.size).reshape(-1, 4)  # (S*S*B, 4)
        scores = (p[..., 4:5] * pred[..., None, 5 * b:]).reshape(-1, k)  # p(c) * C: (S*S*B, K)
        labels = torch.arange(1, k + 1, device=pred.device).expand_as(scores)
        boxes = boxes[:, None, :].expand(-1, k, -1).reshape(-1, 4)
        scores, labels = scores.reshape(-1), labels.reshape(-1)
        keep = (scores > self.score_thresh) & ((boxes[:, 2:] - boxes[:, :2]) > 1e-2).all(1)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_image]
        return {"boxes": boxes[keep], "labels": labels[keep], "scores": scores[keep]}


@register_detector("yolo", paper="Redmon et al. 2016, You Only Look Once (YOLO v1)", multiscale=False,
                   proposals="none (one stage: an S x S grid)")
def yolo(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], size: int = 416, boxes_per_cell: int = 2,
         hidden: int = 256, lambda_coord: float = 5.0, lambda_noobj: float = 0.5, score_thresh: float = 0.01,
         nms_thresh: float = 0.5, detections_per_image: int = 100) -> nn.Module:
    """YOLO v1 at ``size x size`` on the backbone's stride-32 map (S = 13 at 416; the paper: S = 7 at 448 from a
    stride-64 network), ``boxes_per_cell`` = B (2 in the paper), the paper's lambdas."""
    return YOLOv1(make_backbone(strides=[32]), num_classes, size=size, boxes_per_cell=boxes_per_cell, hidden=hidden,
                  lambda_coord=lambda_coord, lambda_noobj=lambda_noobj, score_thresh=score_thresh,
                  nms_thresh=nms_thresh, detections_per_image=detections_per_image)

