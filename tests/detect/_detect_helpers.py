"""Shared by the detection tests: a small random-init backbone (EfficientNet-Lite0 at half width) and CPU-quick
detector settings for generated scenes."""

import torch

from cnnlab import detect, models

SIZE = 96
# the RPN and RoI heads at a few dozen regions: the defaults (1000 / 600 proposals, 128 RoIs) cost CPU, not coverage
SMALL_RPN = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 64, "rpn_pre_nms_test": 100, "rpn_post_nms_test": 32,
             "rois_per_image": 32, "detections_per_image": 20}
# small, CPU-quick settings per detector (the defaults are for real photos)
OPTIONS = {
    "rcnn": {"crop_size": 48, "rois_per_image": 16, "test_proposals": 40, "ss_max_side": 96},
    "fast-rcnn": {"min_size": SIZE, "max_size": SIZE, "test_proposals": 60, "ss_max_side": 96},
    "faster-rcnn": {"min_size": SIZE, "max_size": SIZE, "anchor_sizes": [16, 32, 64, 128], "fpn_channels": 32,
                    "representation": 64, **SMALL_RPN},
    "mask-rcnn": {"min_size": SIZE, "max_size": SIZE, "anchor_sizes": [16, 32, 64, 128], "fpn_channels": 32,
                  "representation": 64, "mask_channels": 16, **SMALL_RPN},
    "retinanet": {"min_size": SIZE, "max_size": SIZE, "anchor_sizes": [16, 32, 64, 128, 256], "fpn_channels": 32,
                  "detections_per_image": 20, "topk_candidates": 100},
    "ssd": {"size": SIZE, "extra_channels": 32, "detections_per_image": 20, "topk_candidates": 100},
    "yolo": {"size": SIZE, "hidden": 32},
}


def tiny_backbone():
    return models.create("efficientnet_lite0", weights=None, width=0.5)


def build(name, num_classes=2, **extra):
    torch.manual_seed(0)
    return detect.create(name, num_classes=num_classes, backbone=tiny_backbone(), **{**OPTIONS[name], **extra})
