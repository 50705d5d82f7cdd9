"""Semantic segmentation: label every pixel.

One registry of segmenters (``model(images) -> logits Tensor[N, K, H, W]`` at the input size): FCN-32s/16s/8s,
U-Net (from scratch or on the pretrained EfficientNet-Lite0), SegNet-Basic and SegNet (max unpooling with the
encoder's indices), torchvision's DeepLabV3 and LR-ASPP heads on a cnnlab backbone. Training goes through
``cnnlab.train``'s engine; metrics (global / class-average accuracy, per-class IoU, mIoU) come from one confusion
matrix over a split; :func:`from_attribution` turns explanation maps of a classifier into segments and boxes.

Example:
    >>> from cnnlab import data, segment
    >>> train = data.load_segmentation("scenes", "train")
    >>> net = segment.create("unet", num_classes=train.num_classes, base=8, depth=2)
    >>> net(train.floats()[:2]).shape
    torch.Size([2, 4, 64, 64])
"""

from cnnlab.segment._metrics import SegmentationMetrics, confusion_matrix, from_confusion, metrics
from cnnlab.segment._models import (
    SEGMENTERS,
    FeatureEncoder,
    bilinear_kernel,
    bilinear_upsampler,
    create,
    match_size,
    names,
    rebuild,
    register_segmenter,
    segmenter_table,
)
from cnnlab.segment._train import (
    SegmentationEval,
    SegmentConfig,
    SegmenterRun,
    class_weights_for,
    evaluate,
    fit_segmenter,
    joint_augment,
    load,
    load_run_options,
    pixel_metric,
    predict_labels,
    save,
    segmentation_loss,
    train_segmenter,
)

__all__ = [
    "SEGMENTERS",
    "FeatureEncoder",
    "SegmentConfig",
    "SegmentationEval",
    "SegmentationMetrics",
    "SegmenterRun",
    "bilinear_kernel",
    "bilinear_upsampler",
    "class_weights_for",
    "confusion_matrix",
    "create",
    "evaluate",
    "fit_segmenter",
    "from_confusion",
    "joint_augment",
    "load",
    "load_run_options",
    "match_size",
    "metrics",
    "names",
    "pixel_metric",
    "predict_labels",
    "rebuild",
    "register_segmenter",
    "save",
    "segmentation_loss",
    "segmenter_table",
    "train_segmenter",
]
