"""The detectors torchvision implements, built on cnnlab backbones: Faster R-CNN, Mask R-CNN, RetinaNet and SSD.

torchvision's models normalise with ImageNet statistics inside their ``GeneralizedRCNNTransform``; every cnnlab
backbone normalises itself (its first layer), so the transform is given mean 0 and std 1 and only resizes.
Sizes default to what a 2-core CPU trains in minutes (shorter side 384, longer at most 640), not torchvision's
800-1333 px.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial

from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN, MaskRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator, DefaultBoxGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD, SSDHead
from torchvision.ops import MultiScaleRoIAlign

from cnnlab.detect._api import register_detector
from cnnlab.detect._backbone import FeatureBackbone, FPNBackbone

IDENTITY_NORM = {"image_mean": [0.0, 0.0, 0.0], "image_std": [1.0, 1.0, 1.0]}
ASPECTS = (0.5, 1.0, 2.0)


def _level_names(n: int) -> list[str]:
    return [str(i) for i in range(n)]


def _rcnn_parts(make_backbone: Callable[..., FeatureBackbone], *, fpn_channels: int,
                anchor_sizes: Sequence[Sequence[int]] | Sequence[int], aspect_ratios: Sequence[float]):
    features = make_backbone()
    backbone = FPNBackbone(features, fpn_channels, extra="pool")
    levels = len(features.layers) + 1  # + the max-pooled level
    sizes = tuple(tuple(s) if isinstance(s, (list, tuple)) else (int(s),) for s in anchor_sizes)
    if len(sizes) != levels:
        raise ValueError(f"anchor_sizes needs one entry per pyramid level ({levels}: strides "
                         f"{features.strides + [features.strides[-1] * 2]}), got {len(sizes)}")
    anchors = AnchorGenerator(sizes, (tuple(float(a) for a in aspect_ratios),) * levels)
    return backbone, anchors, _level_names(levels - 1)


@register_detector("faster-rcnn", paper="Ren et al. 2015, Faster R-CNN (with an FPN, Lin et al. 2017)",
                   multiscale=True, proposals="region proposal network on the feature pyramid")
def faster_rcnn(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], min_size: int = 384,
                max_size: int = 640, fpn_channels: int = 96,
                anchor_sizes: Sequence = (32, 64, 128, 256), aspect_ratios: Sequence[float] = ASPECTS,
                representation: int = 256, rpn_pre_nms_train: int = 1000, rpn_post_nms_train: int = 600,
                rpn_pre_nms_test: int = 500, rpn_post_nms_test: int = 300, rois_per_image: int = 128,
                detections_per_image: int = 100, score_thresh: float = 0.05, nms_thresh: float = 0.5,
                sampling_ratio: int = 2) -> nn.Module:
    """Faster R-CNN: an RPN (objectness + proposal box regression over anchors at every pyramid level) and a
    Fast R-CNN head (RoIAlign 7x7, two FC layers of ``representation``, classification + box regression): the
    four losses ``loss_objectness``, ``loss_rpn_box_reg``, ``loss_classifier``, ``loss_box_reg``.

    ``anchor_sizes``: one size (or a tuple of sizes) per level, strides 8, 16, 32 and the pooled 64, each at
    every aspect ratio in ``aspect_ratios``. ``sampling_ratio``: RoIAlign's bilinear samples per bin side (2 as
    torchvision; 1 quarters the cost of RoIAlign's backward pass, the slowest step of small images on a CPU).
    """
    backbone, anchors, names = _rcnn_parts(make_backbone, fpn_channels=fpn_channels, anchor_sizes=anchor_sizes,
                                           aspect_ratios=aspect_ratios)
    pool = MultiScaleRoIAlign(names, output_size=7, sampling_ratio=sampling_ratio)
    head = TwoMLPHead(fpn_channels * 7 * 7, representation)
    return FasterRCNN(backbone, min_size=min_size, max_size=max_size, **IDENTITY_NORM, rpn_anchor_generator=anchors,
                      rpn_pre_nms_top_n_train=rpn_pre_nms_train, rpn_post_nms_top_n_train=rpn_post_nms_train,
                      rpn_pre_nms_top_n_test=rpn_pre_nms_test, rpn_post_nms_top_n_test=rpn_post_nms_test,
                      box_roi_pool=pool, box_head=head,
                      box_predictor=FastRCNNPredictor(representation, num_classes + 1),
                      box_batch_size_per_image=rois_per_image, box_detections_per_img=detections_per_image,
                      box_score_thresh=score_thresh, box_nms_thresh=nms_thresh)


@register_detector("mask-rcnn", paper="He et al. 2017, Mask R-CNN", multiscale=True, masks=True,
                   proposals="region proposal network on the feature pyramid")
def mask_rcnn(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], min_size: int = 384,
              max_size: int = 640, fpn_channels: int = 96, anchor_sizes: Sequence = (32, 64, 128, 256),
              aspect_ratios: Sequence[float] = ASPECTS, representation: int = 256, mask_channels: int = 128,
              rpn_pre_nms_train: int = 1000, rpn_post_nms_train: int = 600, rpn_pre_nms_test: int = 500,
              rpn_post_nms_test: int = 300, rois_per_image: int = 128, detections_per_image: int = 100,
              score_thresh: float = 0.05, nms_thresh: float = 0.5) -> nn.Module:
    """Mask R-CNN: Faster R-CNN plus a mask head (RoIAlign 14x14, four 3x3 convs of ``mask_channels``, a 2x
    transposed conv, one 28x28 mask per class): a fifth loss, ``loss_mask``. Needs instance masks to train."""
    backbone, anchors, names = _rcnn_parts(make_backbone, fpn_channels=fpn_channels, anchor_sizes=anchor_sizes,
                                           aspect_ratios=aspect_ratios)
    head = TwoMLPHead(fpn_channels * 7 * 7, representation)
    return MaskRCNN(backbone, min_size=min_size, max_size=max_size, **IDENTITY_NORM, rpn_anchor_generator=anchors,
                    rpn_pre_nms_top_n_train=rpn_pre_nms_train, rpn_post_nms_top_n_train=rpn_post_nms_train,
                    rpn_pre_nms_top_n_test=rpn_pre_nms_test, rpn_post_nms_top_n_test=rpn_post_nms_test,
                    box_roi_pool=MultiScaleRoIAlign(names, output_size=7, sampling_ratio=2), box_head=head,
                    box_predictor=FastRCNNPredictor(representation, num_classes + 1),
                    box_batch_size_per_image=rois_per_image, box_detections_per_img=detections_per_image,
                    box_score_thresh=score_thresh, box_nms_thresh=nms_thresh,
                    mask_roi_pool=MultiScaleRoIAlign(names, output_size=14, sampling_ratio=2),
                    mask_head=MaskRCNNHeads(fpn_channels, (mask_channels,) * 4, 1),
                    mask_predictor=MaskRCNNPredictor(mask_channels, mask_channels, num_classes + 1))


@register_detector("retinanet", paper="Lin et al. 2017, Focal Loss for Dense Object Detection (RetinaNet)",
                   multiscale=True, proposals="none (one stage: dense anchors on P3-P7)")
def retinanet(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], min_size: int = 384,
              max_size: int = 640, fpn_channels: int = 96, anchor_sizes: Sequence[int] = (32, 64, 128, 256, 512),
              aspect_ratios: Sequence[float] = ASPECTS, group_norm: int = 16, prior_probability: float = 0.01,
              detections_per_image: int = 100, score_thresh: float = 0.05, nms_thresh: float = 0.5,
              topk_candidates: int = 1000) -> nn.Module:
    """RetinaNet: FPN levels P3-P7 (P6, P7 from strided convs), three anchor scales ``s * 2^(0, 1/3, 2/3)`` times
    the aspect ratios at each level, a classification and a box subnet (four 3x3 convs each, GroupNorm with
    ``group_norm`` groups as torchvision's v2; 0 for none as the paper), sigmoid focal loss (alpha 0.25, gamma 2,
    torchvision's ``sigmoid_focal_loss``) and the classification bias initialised to ``-log((1 - pi) / pi)``
    (``pi = prior_probability``; -log 99 for 0.01): losses ``classification`` and ``bbox_regression``."""
    features = make_backbone()
    if len(features.layers) != 3:
        raise ValueError(f"retinanet takes three backbone maps (C3-C5), got {len(features.layers)}")
    backbone = FPNBackbone(features, fpn_channels, extra="p6p7")
    sizes = tuple((int(s), int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in anchor_sizes)
    if len(sizes) != 5:
        raise ValueError(f"retinanet needs five anchor sizes (P3-P7), got {len(sizes)}")
    anchors = AnchorGenerator(sizes, (tuple(float(a) for a in aspect_ratios),) * 5)
    norm = partial(nn.GroupNorm, group_norm) if group_norm else None
    head = RetinaNetHead(fpn_channels, anchors.num_anchors_per_location()[0], num_classes + 1, norm_layer=norm)
    if prior_probability != 0.01:
        nn.init.constant_(head.classification_head.cls_logits.bias,
                          -math.log((1 - prior_probability) / prior_probability))
    return RetinaNet(backbone, num_classes + 1, min_size=min_size, max_size=max_size, **IDENTITY_NORM,
                     anchor_generator=anchors, head=head, score_thresh=score_thresh, nms_thresh=nms_thresh,
                     detections_per_img=detections_per_image, topk_candidates=topk_candidates)


class SSDBackbone(nn.Module):
    """Backbone maps plus SSD's extra layers (1x1 conv to half the channels, 3x3 stride-2 conv), each halving the
    resolution: ``forward(x) -> OrderedDict`` of ``len(layers) + extra`` maps."""

    def __init__(self, features: FeatureBackbone, extra: int, channels: int) -> None:
        super().__init__()
        self.features = features
        c, blocks = features.channels[-1], []
        for _ in range(extra):
            blocks.append(nn.Sequential(nn.Conv2d(c, channels // 2, 1), nn.ReLU(inplace=True),
                                        nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1),
                                        nn.ReLU(inplace=True)))
            c = channels
        self.extra = nn.ModuleList(blocks)
        self.out_channels = [*features.channels, *([channels] * extra)]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        maps = self.features(x)
        last = next(reversed(maps.values()))
        for i, block in enumerate(self.extra):
            last = block(last)
            maps[str(len(self.features.layers) + i)] = last
        return maps


@register_detector("ssd", paper="Liu et al. 2016, SSD: Single Shot MultiBox Detector", multiscale=True,
                   proposals="none (one stage: default boxes on several maps)")
def ssd(*, num_classes: int, make_backbone: Callable[..., FeatureBackbone], size: int | Sequence[int] = 384,
        extra_layers: int = 2, extra_channels: int = 256, min_ratio: float = 0.08, max_ratio: float = 0.9,
        aspect_ratios: Sequence[Sequence[int]] | None = None, detections_per_image: int = 100,
        score_thresh: float = 0.01, nms_thresh: float = 0.45, topk_candidates: int = 400) -> nn.Module:
    """SSD: default boxes of several scales (``min_ratio..max_ratio`` of the image, linearly over the maps, plus
    the paper's extra ``sqrt(s_k s_k+1)`` box) and aspect ratios (``2`` means 2:1 and 1:2) on the backbone's last
    three maps and ``extra_layers`` extra ones; the input is resized to ``size`` (a square side or ``(h, w)``).
    Loss: softmax cross-entropy with 3:1 hard-negative mining and smooth-L1 box regression (``classification``,
    ``bbox_regression``)."""
    features = make_backbone()
    backbone = SSDBackbone(features, extra_layers, extra_channels)
    n = len(backbone.out_channels)
    ratios = [list(a) for a in aspect_ratios] if aspect_ratios is not None else \
        [[2]] + [[2, 3]] * (n - 2) + [[2]]
    if len(ratios) != n:
        raise ValueError(f"aspect_ratios needs one list per feature map ({n}), got {len(ratios)}")
    hw = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    anchors = DefaultBoxGenerator(ratios, min_ratio=min_ratio, max_ratio=max_ratio)
    head = SSDHead(backbone.out_channels, anchors.num_anchors_per_location(), num_classes + 1)
    return SSD(backbone, anchors, hw, num_classes + 1, **IDENTITY_NORM, head=head, score_thresh=score_thresh,
               nms_thresh=nms_thresh, detections_per_img=detections_per_image, topk_candidates=topk_candidates)
