"""Object detection: R-CNN, Fast R-CNN, Faster R-CNN, Mask R-CNN, RetinaNet, SSD and YOLO v1 on any cnnlab
backbone (the pretrained EfficientNet-Lite0 by default), one registry and one signature (torchvision's), training
with named losses, COCO and VOC average precision, and pictures of boxes, anchors and proposals.

Example:
    >>> from cnnlab import data, detect
    >>> train = data.generate_scenes(64, size=128, classes=[0, 1])
    >>> det = detect.create("faster-rcnn", num_classes=2, min_size=128, max_size=128)      # doctest: +SKIP
    >>> detect.fit(det, train, None, detect.DetectConfig(epochs=2))                          # doctest: +SKIP
    >>> detect.evaluate(det, data.generate_scenes(16, size=128, classes=[0, 1], seed=1)).map50  # doctest: +SKIP
"""

from cnnlab.detect import _rcnn, _torchvision, _yolo  # noqa: F401 (register the detectors)
from cnnlab.detect._api import (
    DETECTORS,
    Detector,
    DetectorCard,
    check_detection_images,
    check_targets,
    create,
    load_detector,
    names,
    predict,
    read_detector_meta,
    register_detector,
    save_detector,
)
from cnnlab.detect._backbone import FeatureBackbone, FPNBackbone, build_backbone, freeze_batchnorm, select_layers
from cnnlab.detect._boxes import clip_boxes, decode_boxes, encode_boxes, sample_rois
from cnnlab.detect._fit import DetectConfig, DetectHistory, evaluate, evaluate_run, fit, model_params
from cnnlab.detect._metrics import DetectionResult, evaluate_predictions, pr_figure, voc_ap, voc_matches
from cnnlab.detect._plot import AnchorView, anchors_at, anchors_figure, draw_detections, save_png
from cnnlab.detect._proposals import ProposalCache, selective_search
from cnnlab.detect._rcnn import RCNN, FastRCNN, proposal_recall
from cnnlab.detect._run import DetectorRun, data_summary, detect_image, detect_images, train_detector
from cnnlab.detect._yolo import YOLOv1, yolo_boxes, yolo_loss, yolo_targets

__all__ = [
    "AnchorView",
    "DETECTORS",
    "DetectConfig",
    "DetectHistory",
    "DetectionResult",
    "Detector",
    "DetectorCard",
    "DetectorRun",
    "FPNBackbone",
    "FastRCNN",
    "FeatureBackbone",
    "ProposalCache",
    "RCNN",
    "YOLOv1",
    "anchors_at",
    "anchors_figure",
    "build_backbone",
    "check_detection_images",
    "check_targets",
    "clip_boxes",
    "create",
    "data_summary",
    "decode_boxes",
    "detect_image",
    "detect_images",
    "draw_detections",
    "encode_boxes",
    "evaluate",
    "evaluate_predictions",
    "evaluate_run",
    "fit",
    "model_params",
    "pr_figure",
    "voc_ap",
    "voc_matches",
    "freeze_batchnorm",
    "load_detector",
    "names",
    "predict",
    "proposal_recall",
    "read_detector_meta",
    "register_detector",
    "sample_rois",
    "save_detector",
    "save_png",
    "select_layers",
    "selective_search",
    "train_detector",
    "yolo_boxes",
    "yolo_loss",
    "yolo_targets",
]
