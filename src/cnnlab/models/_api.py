"""The model registry, the pretrained-weights description and the normalisation layer.

Every cnnlab model takes pixels in [0, 1]: normalisation is its first layer (``model.normalize``), so
attacks and explanations work in pixel space. Every model carries ``model.cnnlab``, a :class:`ModelCard`
saying how it was built (registry name and keyword arguments), its class names and its input size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; the first layer of every cnnlab model.

    The statistics are non-persistent buffers: they follow ``.to(device)`` but stay out of state dicts,
    so pretrained state dicts load strictly and checkpoints record them in their config instead.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std must have the same length, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(
                f"expected a batch of {self.mean.shape[1]}-channel images (N, {self.mean.shape[1]}, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


@dataclass(frozen=True)
class Weights:
    """Pretrained weights: where they come from, how inputs must be prepared, and what the outputs mean.

    Attributes:
        name: short name, e.g. ``"imagenet"``.
        locate: returns the path of the state-dict file (a local file shipped by a package).
        categories: class names, index = output unit.
        input_size: ``(C, H, W)`` the network was trained at.
        mean, std: normalisation on [0, 1] pixels (applied inside the model).
        resize_size, interpolation: resize of the shorter side before the centre crop to ``input_size``.
        convert: optional function renaming keys of the raw state dict.
    """

    name: str
    locate: Callable[[], str]
    categories: tuple[str, ...]
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_size: int
    interpolation: str = "bicubic"
    meta: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Tensor]:
        """Load the weights file safely (no arbitrary unpickling)."""
        path = self.locate()
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)

    def transforms(self) -> Callable[[Tensor], Tensor]:
        """The evaluation preprocessing: ``Tensor[C, H, W]`` in [0, 1] -> ``Tensor[C', h, w]``."""
        from cnnlab.data import resize_and_crop

        size = self.input_size

        def preprocess(img: Tensor) -> Tensor:
            return resize_and_crop(
                img, self.resize_size, size[1:], interpolation=self.interpolation, channels=size[0]
            )

        return preprocess


@dataclass(frozen=True)
class FeatureInfo:
    """One feature map other code can take from a model by name (as timm's ``feature_info``): the dotted name
    of the module whose output it is, its channels and its stride (reduction) relative to the network's input.
    """

    module: str
    channels: int
    stride: int


def sequential_stages(layers: nn.Sequential, prefix: str, in_channels: int, stride: int = 1) -> list[FeatureInfo]:
    """The stage outputs of a plain ``Sequential`` feature extractor: the layer before each downsampling layer
    (a pooling layer or a strided convolution) and the last layer, with their channels and strides.

    Built by the model constructors from the layers they just made (LeNet-5, AlexNet, VGG, FastNet).
    """
    out: list[FeatureInfo] = []
    c, s = in_channels, stride
    prev_c = c  # channels of the previous layer's output
    for i, layer in enumerate(layers):
        step = 1
        for m in layer.modules():  # a layer may be a small block (conv-BN-ReLU)
            if isinstance(m, nn.Conv2d):
                step *= m.stride[0]
                c = m.out_channels
            elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                k = m.stride if m.stride is not None else m.kernel_size
                step *= k if isinstance(k, int) else k[0]
        if step > 1 and i > 0 and (not out or out[-1].module != f"{prefix}.{i - 1}"):
            out.append(FeatureInfo(f"{prefix}.{i - 1}", prev_c, s))
        s *= step
        prev_c = c
    out.append(FeatureInfo(f"{prefix}.{len(layers) - 1}", c, s))
    return out


@dataclass
class ModelCard:
    """What a model is: how to rebuild it, how to read its outputs, and where its parts are.

    Attributes:
        name, kwargs: the registry name and build arguments (``cnnlab.models.create(name, **kwargs)``).
        input_size: ``(C, H, W)`` the model takes (prediction resizes to it).
        classes: class names, index = output unit (``None``: unnamed).
        weights, resize_size, interpolation: the pretrained weights' name and their preprocessing.
        classifier: dotted name of the final classification layer (transfer replaces it; CAM reads it).
        pool: dotted name of the global average pooling before it, when the head is GAP + linear (CAM).
        features: the feature maps by name, channels and stride (detection and segmentation backbones,
            style layers, Grad-CAM's default layer: the last one).
        source: how the architecture is rebuilt from ``name`` and ``kwargs``: ``"cnnlab"`` (the registry,
            :func:`create`), ``"torchvision"`` (``torchvision.models.get_model(name, weights=None, **kwargs)``
            inside a :func:`cnnlab.models.wrap`), ``"module"`` (a user's own module wrapped with
            :func:`cnnlab.models.wrap`; only the caller can rebuild it, see :func:`load_checkpoint`).
        module_class: for ``source="module"``, the wrapped module's class as ``"package.module.Class"``.
        mean, std: the normalisation layer a wrapped model puts in front of its module (``None``: none; registry
            models keep theirs in ``kwargs``).
    """

    name: str
    kwargs: dict[str, Any]
    input_size: tuple[int, int, int]
    classes: list[str] | None = None
    weights: str | None = None
    resize_size: int | None = None
    interpolation: str = "bilinear"
    classifier: str | None = None
    pool: str | None = None
    features: list[FeatureInfo] = field(default_factory=list)
    source: str = "cnnlab"
    module_class: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None

    @property
    def num_classes(self) -> int | None:
        """Output units: the class names' count, else the build's ``num_classes`` (``None`` when unknown)."""
        if self.classes:
            return len(self.classes)
        n = self.kwargs.get("num_classes")
        return int(n) if isinstance(n, int) and not isinstance(n, bool) else None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelCard:
        d = dict(d)
        d["input_size"] = tuple(d["input_size"])
        d["features"] = [FeatureInfo(**f) for f in d.get("features") or []]
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})


def register_model(
    name: str,
    *,
    family: str,
    input_size: tuple[int, int, int],
    weights: dict[str, Weights] | None = None,
    small: bool = False,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model builder ``fn(*, num_classes, in_channels, **kw) -> nn.Module``."""
    return MODELS.register(name, family=family, input_size=input_size, weights=weights or {}, small=small)


def names() -> list[str]:
    """Names of all registered models."""
    return MODELS.names()


def info(name: str) -> dict[str, Any]:
    """Registry metadata of a model: family, default input size, available weights."""
    return MODELS.info(name)


def _resolve_weights(name: str, weights: str | Weights | None) -> Weights | None:
    if weights is None or isinstance(weights, Weights):
        return weights
    available: dict[str, Weights] = MODELS.info(name)["weights"]
    if not isinstance(weights, str):
        raise TypeError(f"weights must be None, a name or a Weights object, got {type(weights).__name__}")
    if weights == "DEFAULT" and available:
        return next(iter(available.values()))
    if weights not in available:
        have = ", ".join(available) or "none"
        raise ValueError(f"model {name!r} has no weights {weights!r} (available: {have})")
    return available[weights]


def create(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    weights: str | Weights | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`names`.
        num_classes: output units (default: the weights' class count, else 1000 for ImageNet-size models
            and 10 for small-input variants).
        in_channels: image channels (default: the registered input size's).
        weights: ``None`` (random init), ``"DEFAULT"``, a weights name such as ``"imagenet"``, or a
            :class:`Weights` object.
        **kwargs: family options (e.g. ``dropout``); ``input_adapter={"in_channels": 1, "size": [64, 64]}``
            puts a :class:`cnnlab.transfer.InputAdapter` in front of the normalisation (see ``cnnlab.transfer``).

    Returns:
        An ``nn.Module`` in train mode taking ``Tensor[N, C, H, W]`` in [0, 1], with ``model.cnnlab`` set.

    Example:
        >>> m = create("lenet5")
        >>> m(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    meta = MODELS.info(name)
    w = _resolve_weights(name, weights)
    default_c, h, wd = meta["input_size"]
    if w is not None:
        if num_classes not in (None, len(w.categories)):
            raise ValueError(
                f"weights {w.name!r} have {len(w.categories)} classes, got num_classes={num_classes}; "
                "use cnnlab.transfer to replace the classifier"
            )
        if in_channels not in (None, w.input_size[0]):
            raise ValueError(f"weights {w.name!r} need in_channels={w.input_size[0]}, got {in_channels}")
        num_classes, in_channels = len(w.categories), w.input_size[0]
        kwargs.setdefault("mean", w.mean)
        kwargs.setdefault("std", w.std)
    num_classes = num_classes if num_classes is not None else (10 if meta["small"] else 1000)
    in_channels = in_channels if in_channels is not None else default_c
    for arg, v in (("num_classes", num_classes), ("in_channels", in_channels)):
        check_int(arg, v)
    adapter = kwargs.pop("input_adapter", None)  # cnnlab.transfer: resize / grey -> RGB before the network
    model = MODELS.lookup(name)(num_classes=num_classes, in_channels=in_channels, **kwargs)
    if w is not None:
        model.load_state_dict(w.state_dict(), strict=True)
    if adapter is not None:
        from cnnlab.models._adapter import InputAdapter

        model.normalize = InputAdapter(model.normalize, **adapter)
        kwargs["input_adapter"] = model.normalize.spec()
    built_kwargs = {"num_classes": num_classes, "in_channels": in_channels, **_jsonable(kwargs)}
    model.cnnlab = ModelCard(
        name=name,
        kwargs=built_kwargs,
        input_size=(in_channels, h, wd) if w is None else w.input_size,
        classes=list(w.categories) if w is not None else None,
        weights=w.name if w is not None else None,
        resize_size=w.resize_size if w is not None else None,
        interpolation=w.interpolation if w is not None else "bilinear",
        **structure(model),
    )
    return model


def structure(model: nn.Module) -> dict[str, Any]:
    """``classifier``, ``pool`` and ``features`` as the model's constructor recorded them (``classifier_name``,
    ``pool_name``, ``feature_info`` attributes); the card keeps them so checkpoints and wrapped models carry them.
    """
    missing = [a for a in ("classifier_name", "feature_info") if not hasattr(model, a)]
    if missing:
        raise TypeError(f"{type(model).__name__} does not record {', '.join(missing)} (registered models must)")
    feats = [f if isinstance(f, FeatureInfo) else FeatureInfo(**f) for f in model.feature_info]
    for name in [model.classifier_name, getattr(model, "pool_name", None), *(f.module for f in feats)]:
        if name is not None:
            model.get_submodule(name)  # a wrong name fails here, at registration time's first build
    return {"classifier": model.classifier_name, "pool": getattr(model, "pool_name", None), "features": feats}


def num_classes(model: nn.Module) -> int | None:
    """The model's output count as its card records it (``None`` for a module without a card)."""
    card = getattr(model, "cnnlab", None)
    return card.num_classes if isinstance(card, ModelCard) else None


def check_class(model: nn.Module, index, *, name: str = "target") -> int:
    """``index`` if it is a class of ``model`` (``0 <= index < num_classes``), else a ``ValueError`` naming it,
    the model and its class count (``--targeted 12``: "model 'lenet5' has 10 classes (0..9)").

    For a module without a card only the sign is checked (the forward pass checks the rest).
    """
    index = int(check_int(name, index, minimum=0))
    k = num_classes(model)
    if k is not None and index >= k:
        card = card_of(model)
        raise ValueError(f"{name} {index} is not a class of model {card.name!r}: it has {k} classes "
                         f"(0..{k - 1})")
    return index


def card_of(model: nn.Module) -> ModelCard:
    """The model's :class:`ModelCard`, or a ``ValueError`` saying how to give it one."""
    card = getattr(model, "cnnlab", None)
    if not isinstance(card, ModelCard):
        raise ValueError(f"this {type(model).__name__} has no cnnlab card: build it with cnnlab.models.create, "
                         "load it with cnnlab.models.load, or wrap your own module with cnnlab.models.wrap")
    return card


def classifier_name(model: nn.Module) -> str:
    """Dotted name of the model's classifier, as its card records it."""
    name = card_of(model).classifier
    if name is None:
        raise ValueError(f"model {card_of(model).name!r} records no classifier")
    return name


def feature_info(model: nn.Module) -> list[FeatureInfo]:
    """The model's feature maps (module name, channels, stride), shallow to deep, as its card records them."""
    return list(card_of(model).features)


def feature_layer(model: nn.Module, name: str | None = None) -> str:
    """A feature module's dotted name: ``name`` checked against the model, or the deepest recorded feature map.

    Raises ``ValueError`` naming the layer and the recorded feature names when ``name`` is no module of it.
    """
    if name is None:
        feats = feature_info(model)
        if not feats:
            raise ValueError(f"model {card_of(model).name!r} records no feature layers; name one")
        return feats[-1].module
    try:
        model.get_submodule(name)
    except AttributeError:
        known = ", ".join(f.module for f in getattr(getattr(model, "cnnlab", None), "features", []) or [])
        raise ValueError(f"model has no layer {name!r}" + (f" (feature layers: {known})" if known else "")) from None
    return name


def _jsonable(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in kwargs.items():
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


def default_stats(in_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation used when a model is trained from scratch: (x - 0.5) / 0.5 on every channel."""
    return (0.5,) * in_channels, (0.5,) * in_channels


def model_table() -> list[dict[str, Any]]:
    """One row per registered model: name, family, input size, parameter count, weights available."""
    rows = []
    for n in MODELS.names():
        meta = MODELS.info(n)
        with torch.device("meta"):  # count parameters without allocating them
            m = MODELS.lookup(n)(num_classes=10 if meta["small"] else 1000, in_channels=meta["input_size"][0])
        rows.append({"name": n, "family": meta["family"], "input_size": list(meta["input_size"]),
                     "params": sum(p.numel() for p in m.parameters()), "weights": list(meta["weights"])})
    return rows


def last_module_name(model: nn.Module, kind: type[nn.Module] | tuple[type[nn.Module], ...]) -> str | None:
    """Dotted name of the last module of type ``kind`` in registration order, or ``None`` if there is none."""
    name = None
    for n, m in model.named_modules():
        if isinstance(m, kind):
            name = n
    return name


def last_conv_name(model: nn.Module) -> str:
    """Dotted name of the last ``nn.Conv2d`` in registration order (the default layer for CAM methods)."""
    name = last_module_name(model, nn.Conv2d)
    if name is None:
        raise ValueError("model has no nn.Conv2d layer")
    return name
