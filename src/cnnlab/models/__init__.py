"""Models: one registry of CNN families (LeNet-5, AlexNet, VGG, GoogLeNet, ResNet, EfficientNet-Lite0),
each in an ImageNet-size and a small-input (28x28 / 32x32) variant, plus pretrained weights, checkpoints,
prediction, and :func:`wrap` for your own ``nn.Module`` (or a torchvision architecture, ``cnnlab import``).

Example:
    >>> from cnnlab import models
    >>> net = models.create("efficientnet_lite0", weights="imagenet").eval()
    >>> "resnet_small" in models.names()
    True
"""

from cnnlab.models import _alexnet, _efficientnet, _googlenet, _lenet, _resnet, _vgg  # noqa: F401 (register)
from cnnlab.models._api import (
    MODELS,
    FeatureInfo,
    ModelCard,
    Normalize,
    Weights,
    card_of,
    check_class,
    classifier_name,
    create,
    default_stats,
    feature_info,
    feature_layer,
    info,
    last_conv_name,
    last_module_name,
    model_table,
    names,
    num_classes,
    register_model,
    sequential_stages,
)
from cnnlab.models._checkpoint import (
    atomic_write_bytes,
    load,
    load_checkpoint,
    read_checkpoint_meta,
    rebuild,
    save_checkpoint,
)
from cnnlab.models._efficientnet import imagenet_categories, same_padding
from cnnlab.models._import import import_weights, read_state_dict
from cnnlab.models._inputs import activation_bytes, check_batch, check_input_size, prepare
from cnnlab.models._predict import Prediction, predict, preprocess
from cnnlab.models._state import frozen, restoring
from cnnlab.models._wrap import Wrapped, wrap

__all__ = [
    "MODELS",
    "FeatureInfo",
    "ModelCard",
    "Normalize",
    "Prediction",
    "Weights",
    "Wrapped",
    "activation_bytes",
    "atomic_write_bytes",
    "create",
    "card_of",
    "check_batch",
    "check_class",
    "check_input_size",
    "classifier_name",
    "default_stats",
    "feature_info",
    "feature_layer",
    "frozen",
    "imagenet_categories",
    "import_weights",
    "info",
    "last_conv_name",
    "last_module_name",
    "model_table",
    "load",
    "load_checkpoint",
    "names",
    "num_classes",
    "predict",
    "prepare",
    "preprocess",
    "read_checkpoint_meta",
    "read_state_dict",
    "rebuild",
    "register_model",
    "restoring",
    "same_padding",
    "sequential_stages",
    "save_checkpoint",
    "wrap",
]

# registers fastnet_small (cnnlab.train's CPU recipe); on its own line so registrations from branches merge cleanly
from cnnlab.models import _fastnet  # noqa: E402, F401, I001

# registers plainnet_small and resnet_depth_small (He et al. 2016's plain and residual networks of any depth, for
# the depth claim); on its own line so registrations from branches merge cleanly
from cnnlab.models import _depthnet  # noqa: E402, F401, I001
