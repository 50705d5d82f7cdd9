"""torchvision classification architectures as cnnlab models: what each family's card records.

``cnnlab import resnet101 weights.pth`` builds ``torchvision.models.get_model(name, weights=None)`` (no download),
loads the state dict into it and wraps it (:func:`cnnlab.models.wrap`) with the facts below, so that CAM,
Grad-CAM's default layer, transfer and the detection backbones read the card instead of guessing.

For each family the classifier, the global pool (only where the head is global average pooling straight into one
linear layer, CAM's condition) and the feature maps (module, channels, stride) are written down from the
architecture; ``tests/models/test_models_torchvision.py`` checks every one against the shapes a forward pass
produces. Other torchvision classifiers (ViT, Swin, MaxViT, GoogLeNet, Inception-v3, SqueezeNet) are imported
with their classifier only and no feature maps: the card says so (``features == []``), and layer methods then
need a layer named explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnlab.models._api import FeatureInfo, sequential_stages

# torchvision's convention for ImageNet classifiers, used when the user gives no normalisation
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def names() -> list[str]:
    """torchvision's classification architectures (``torchvision.models.list_models``)."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def build(name: str, *, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """``torchvision.models.get_model(name, weights=None, num_classes=...)``: random init, never a download.
    torchvision's classifiers take 3-channel images (``in_channels`` is accepted so that cards of wrapped
    torchvision models hold ``num_classes`` and ``in_channels`` like every registry card)."""
    import warnings

    import torchvision

    if name not in names():
        raise ValueError(f"unknown torchvision classification architecture {name!r}")
    if in_channels != 3:
        raise ValueError(f"torchvision {name} takes 3-channel images, got in_channels={in_channels}")
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("aux_logits", False)  # no auxiliary heads: the model returns one tensor of logits
        kwargs.setdefault("init_weights", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def preprocessing(name: str) -> dict[str, Any]:
    """Input size, resize, interpolation and normalisation of the architecture's torchvision weights (read from
    the weights' metadata, which ships with torchvision; nothing is downloaded)."""
    import torchvision

    try:
        t = torchvision.models.get_model_weights(name).DEFAULT.transforms()
        crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
        interp = str(t.interpolation.value)
        mean, std = tuple(t.mean), tuple(t.std)
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        crop, resize, interp, mean, std = 224, 256, "bilinear", IMAGENET_MEAN, IMAGENET_STD
    return {"input_size": (3, crop, crop), "resize_size": resize,
            "interpolation": interp if interp in ("bilinear", "bicubic", "nearest") else "bilinear",
            "mean": mean, "std": std}


def _last_conv_channels(module: nn.Module) -> int:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


def _resnet(net: nn.Module) -> dict[str, Any]:
    def out(layer: nn.Module) -> int:
        block = layer[-1]
        return (block.bn3 if hasattr(block, "bn3") else block.bn2).num_features

    feats = [FeatureInfo("relu", net.bn1.num_features, 2)]
    feats += [FeatureInfo(f"layer{i}", out(getattr(net, f"layer{i}")), 2 ** (i + 1)) for i in range(1, 5)]
    return {"classifier": "fc", "pool": "avgpool", "features": feats}


def _regnet(net: nn.Module) -> dict[str, Any]:
    feats = [FeatureInfo("stem", _last_conv_channels(net.stem), 2)]
    feats += [FeatureInfo(f"trunk_output.block{i}", _last_conv_channels(getattr(net.trunk_output, f"block{i}")),
                          2 ** (i + 1)) for i in range(1, 5)]
    return {"classifier": "fc", "pool": "avgpool", "features": feats}


def _densenet(net: nn.Module) -> dict[str, Any]:
    f = net.features
    feats = [FeatureInfo("features.relu0", f.norm0.num_features, 2)]
    feats += [FeatureInfo(f"features.denseblock{i}", getattr(f, f"transition{i}").norm.num_features, 2 ** (i + 1))
              for i in range(1, 4)]
    feats.append(FeatureInfo("features.norm5", f.norm5.num_features, 32))
    return {"classifier": "classifier", "pool": None, "features": feats}


def _shufflenet(net: nn.Module) -> dict[str, Any]:
    c = net._stage_out_channels  # [stem, stage2, stage3, stage4, conv5]
    feats = [FeatureInfo("conv1", c[0], 2), FeatureInfo("stage2", c[1], 8), FeatureInfo("stage3", c[2], 16),
             FeatureInfo("stage4", c[3], 32), FeatureInfo("conv5", c[4], 32)]
    return {"classifier": "fc", "pool": None, "features": feats}


def _sequential(prefix: str, classifier: str, pool: str | None) -> Callable[[nn.Module], dict[str, Any]]:
    def structure(net: nn.Module) -> dict[str, Any]:
        return {"classifier": classifier, "pool": pool,
                "features": sequential_stages(net.get_submodule(prefix), prefix, 3)}

    return structure


# name prefix -> the family's card facts (names relative to the torchvision module)
FAMILIES: dict[str, Callable[[nn.Module], dict[str, Any]]] = {
    "resnet": _resnet,
    "resnext": _resnet,
    "wide_resnet": _resnet,
    "regnet": _regnet,
    "densenet": _densenet,
    "shufflenet_v2": _shufflenet,
    "vgg": _sequential("features", "classifier.6", None),
    "alexnet": _sequential("features", "classifier.6", None),
    "mobilenet_v2": _sequential("features", "classifier.1", None),
    "mobilenet_v3": _sequential("features", "classifier.3", None),  # Linear-Hardswish-Dropout-Linear head
    "efficientnet": _sequential("features", "classifier.1", "avgpool"),
    "convnext": _sequential("features", "classifier.2", None),  # LayerNorm2d-Flatten-Linear head
    "mnasnet": _sequential("layers", "classifier.1", None),
}


# the classifier of each family and of the other torchvision classifiers, known without building the network
CLASSIFIERS: dict[str, str | None] = {
    "resnet": "fc", "resnext": "fc", "wide_resnet": "fc", "regnet": "fc", "shufflenet_v2": "fc",
    "densenet": "classifier",
    "vgg": "classifier.6", "alexnet": "classifier.6", "mobilenet_v2": "classifier.1", "mobilenet_v3": "classifier.3",
    "efficientnet": "classifier.1", "convnext": "classifier.2", "mnasnet": "classifier.1", "vit": "heads.head",
    "swin": "head", "maxvit": "classifier.5", "googlenet": "fc", "inception": "fc", "squeezenet": None,
}


def classifier(name: str) -> str | None:
    """The dotted name of the classifier of torchvision's ``name`` (``None``: a convolutional head)."""
    for prefix in sorted(CLASSIFIERS, key=len, reverse=True):
        if name.startswith(prefix):
            return CLASSIFIERS[prefix]
    with torch.device("meta"):
        return structure(name, build(name, num_classes=1))["classifier"]


def family(name: str) -> str | None:
    """The family whose card facts :data:`FAMILIES` records for ``name``, or ``None``."""
    for prefix in sorted(FAMILIES, key=len, reverse=True):
        if name.startswith(prefix):
            return prefix
    return None


def structure(name: str, net: nn.Module) -> dict[str, Any]:
    """``classifier``, ``pool`` and ``features`` of a torchvision module (names relative to it). A family not in
    :data:`FAMILIES` records its last ``nn.Linear`` as the classifier, no pool and no feature maps."""
    fam = family(name)
    if fam is not None:
        return FAMILIES[fam](net)
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return {"classifier": linears[-1] if linears else None, "pool": None, "features": []}
