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
    check_size,
    create,
    match_size,
    names,
    rebuild,
    register_segmenter,
    segmenter_table,
)
from cnnlab.segment._plot import colorize, draw_box, examples_figure, iou_figure, overlay
from cnnlab.segment._predict import SegmentedImage, save_label_png, save_png, segment_images
from cnnlab.segment._recipes import DEFAULT_TRAIN, RECIPES, Recipe, recipe, recipe_names, training_settings
from cnnlab.segment._train import (
    SegmentationEval,
    SegmentConfig,
    SegmenterRun,
    class_scores,
    class_weights_for,
    evaluate,
    fit_segmenter,
    joint_augment,
    load,
    load_run_options,
    pixel_metric,
    predict_labels,
    run_class_weights,
    save,
    segmentation_loss,
    train_segmenter,
    undo_weights,
    undo_weights_sweep,
)
from cnnlab.segment._upsample import (
    UpsamplingComparison,
    checkerboard,
    checkerboard_figure,
    upsampling_comparison,
    upsampling_figure,
)
from cnnlab.segment._weak import (
    AttributionSegment,
    Heatmap,
    attribution_heatmaps,
    classifier_input_size,
    from_attribution,
    grabcut_mask,
    largest_component_box,
    segment_figure,
    segment_heatmap,
)

__all__ = [
    "DEFAULT_TRAIN",
    "AttributionSegment",
    "FeatureEncoder",
    "Heatmap",
    "RECIPES",
    "Recipe",
    "SEGMENTERS",
    "SegmentConfig",
    "SegmentationEval",
    "SegmentationMetrics",
    "SegmentedImage",
    "SegmenterRun",
    "attribution_heatmaps",
    "UpsamplingComparison",
    "bilinear_kernel",
    "bilinear_upsampler",
    "check_size",
    "checkerboard",
    "checkerboard_figure",
    "class_scores",
    "class_weights_for",
    "undo_weights",
    "undo_weights_sweep",
    "classifier_input_size",
    "colorize",
    "confusion_matrix",
    "create",
    "draw_box",
    "evaluate",
    "examples_figure",
    "fit_segmenter",
    "from_attribution",
    "from_confusion",
    "grabcut_mask",
    "iou_figure",
    "joint_augment",
    "largest_component_box",
    "load",
    "load_run_options",
    "match_size",
    "metrics",
    "names",
    "overlay",
    "pixel_metric",
    "predict_labels",
    "run_class_weights",
    "rebuild",
    "recipe",
    "recipe_names",
    "register_segmenter",
    "save",
    "save_label_png",
    "save_png",
    "segment_figure",
    "segment_heatmap",
    "segment_images",
    "segmentation_loss",
    "segmenter_table",
    "train_segmenter",
    "training_settings",
    "upsampling_comparison",
    "upsampling_figure",
]
