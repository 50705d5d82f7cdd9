"""Data: users' images, the offline sample photos, and datasets as tensors.

Example:
    >>> from cnnlab import data
    >>> img = data.sample_image("chelsea")      # Tensor[3, 300, 451] in [0, 1]
    >>> train = data.fashion_mnist("train")     # doctest: +SKIP
"""

from cnnlab.data._datasets import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    ImageTensors,
    cifar10,
    digits,
    download_fashion_mnist,
    fashion_mnist,
    fashion_mnist_dirs,
    image_folder,
    load_dataset,
    read_idx,
    stratified_subset,
)
from cnnlab.data._detection import (
    DETECTION_DATA,
    VocAnnotation,
    coco_detection,
    detection_specs,
    load_detection,
    read_voc_xml,
    register_detection_data,
    split_detection_spec,
    voc_boxes,
    voc_classes,
    voc_detection,
)
from cnnlab.data._detection_transforms import augment_detection, crop_detection, hflip_detection, resize_detection
from cnnlab.data._images import (
    image_from_spec,
    load_image,
    resize_and_crop,
    sample_image,
    sample_names,
    to_channels,
)
from cnnlab.data._scenes import DetectionSet, generate_scenes, semantic_labels

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "DetectionSet",
    "FASHION_MNIST_CLASSES",
    "ImageTensors",
    "cifar10",
    "digits",
    "download_fashion_mnist",
    "fashion_mnist",
    "fashion_mnist_dirs",
    "generate_scenes",
    "image_folder",
    "image_from_spec",
    "load_dataset",
    "load_image",
    "read_idx",
    "resize_and_crop",
    "sample_image",
    "sample_names",
    "semantic_labels",
    "stratified_subset",
    "to_channels",
]

# detection data (voc:, coco:, scenes: specs) and box-aware augmentation; kept apart so branches merge cleanly
__all__ += [
    "DETECTION_DATA",
    "VocAnnotation",
    "augment_detection",
    "coco_detection",
    "crop_detection",
    "detection_specs",
    "hflip_detection",
    "load_detection",
    "read_voc_xml",
    "register_detection_data",
    "resize_detection",
    "split_detection_spec",
    "voc_boxes",
    "voc_classes",
    "voc_detection",
]
