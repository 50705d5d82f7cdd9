"""Your own model everywhere: :func:`wrap` gives any ``nn.Module`` a model card, so prediction, checkpoints,
explanations, attacks, the summary and the CLI take it like a registry model.

A wrapped model is ``Wrapped(normalize, net)``: the normalisation layer in front (so the model takes [0, 1]
pixels, as every cnnlab model does) and the user's module as ``net``. The card's layer names are the model's, so
they start with ``net.`` (``net.layer4``).

How a wrapped model comes back from a checkpoint (:func:`cnnlab.models.load_checkpoint`):

- a torchvision architecture (``card.source == "torchvision"``, what ``cnnlab import`` writes) is rebuilt from its
  name with ``torchvision.models.get_model(name, weights=None)``;
- any other module (``card.source == "module"``) is rebuilt only by the caller, who passes a fresh instance
  (``load_checkpoint(path, module=MyNet())``): a checkpoint never names code to import and run, for the same
  reason pickles are never loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int, check_number
from cnnlab._device import model_device
from cnnlab.models._api import FeatureInfo, ModelCard, Normalize


class Wrapped(nn.Module):
    """``net(normalize(x))``: a module behind its normalisation layer (see :func:`wrap`)."""

    def __init__(self, net: nn.Module, normalize: nn.Module | None = None) -> None:
        super().__init__()
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.net = net

    def forward(self, x: Tensor) -> Any:
        return self.net(self.normalize(x))


def module_class(module: nn.Module) -> str:
    """``"package.module.Class"`` of a module (what a ``source="module"`` card records)."""
    cls = type(module)
    return f"{cls.__module__}.{cls.__qualname__}"


def _class_names(classes: int | Sequence[str]) -> tuple[int, list[str] | None]:
    if isinstance(classes, (int,)) and not isinstance(classes, bool):
        return int(check_int("classes", classes)), None
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
        raise ValueError(f"classes must be a class count or a non-empty list of class names, got {classes!r}")
    names = [str(c) for c in classes]
    return len(names), names


def _stats(name: str, values: Sequence[float] | None, channels: int) -> list[float] | None:
    if values is None:
        return None
    vals = [check_number(name, v) for v in values]
    if len(vals) != channels:
        raise ValueError(f"{name} must have one value per channel ({channels}), got {len(vals)}")
    return vals


def _submodule(net: nn.Module, name: str, what: str) -> nn.Module:
    try:
        return net.get_submodule(name)
    except AttributeError:
        raise ValueError(f"{what} {name!r} is no module of {type(net).__name__}") from None


def make_card(net: nn.Module, *, num_classes: int, classes: list[str] | None, input_size: tuple[int, int, int],
              mean: list[float] | None, std: list[float] | None, classifier: str | None, pool: str | None,
              features: list[FeatureInfo], name: str, source: str, kwargs: dict[str, Any] | None = None,
              resize_size: int | None = None, interpolation: str = "bilinear") -> ModelCard:
    """The card of ``Wrapped(net)``: the layer names given relative to ``net`` are prefixed with ``net.``."""
    def full(n: str | None) -> str | None:
        return None if n is None else f"net.{n}"

    return ModelCard(
        name=name, kwargs={"num_classes": num_classes, "in_channels": int(input_size[0]), **(kwargs or {})},
        input_size=tuple(input_size),
        classes=classes, resize_size=resize_size, interpolation=interpolation, classifier=full(classifier),
        pool=full(pool), features=[FeatureInfo(f"net.{f.module}", f.channels, f.stride) for f in features],
        source=source, module_class=module_class(net) if source == "module" else None, mean=mean, std=std)


def assemble(net: nn.Module, card: ModelCard) -> Wrapped:
    """``Wrapped(net)`` with the card's normalisation, on ``net``'s device, carrying ``card``."""
    norm = Normalize(card.mean, card.std) if card.mean is not None else None
    model = Wrapped(net, norm.to(model_device(net)) if norm is not None else None)
    model.cnnlab = card
    return model


def _probe(model: Wrapped, size: tuple[int, int, int], layers: list[str]) -> tuple[Any, dict[str, tuple]]:
    # one forward of a grey image at the input size; the output and each named layer's output shape
    from cnnlab.models._state import frozen

    shapes: dict[str, tuple] = {}
    handles = []
    try:
        for n in layers:
            handles.append(model.get_submodule(n).register_forward_hook(
                lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape) if isinstance(o, Tensor) else None)))
        with frozen(model), torch.no_grad():
            out = model(torch.full((1, *size), 0.5, device=model_device(model)))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{type(model.net).__name__} cannot take input_size {'x'.join(map(str, size))} "
                         f"({reason})") from None
    finally:
        for h in handles:
            h.remove()
    return out, shapes


def wrap(module: nn.Module, *, classes: int | Sequence[str], input_size: Sequence[int],
         mean: Sequence[float] | None = None, std: Sequence[float] | None = None, classifier: str | None = None,
         features: Sequence[str | FeatureInfo] | None = None, pool: str | None = None,
         name: str | None = None) -> Wrapped:
    """Give any ``nn.Module`` classifier a cnnlab card, so that :func:`cnnlab.models.predict`,
    :func:`cnnlab.models.save_checkpoint`, the explanations, the attacks, the summary and the CLI take it.

    Args:
        module: a classifier mapping ``Tensor[N, C, H, W]`` to logits ``Tensor[N, K]`` (not changed; it becomes
            the wrapped model's ``net``).
        classes: the class count ``K`` or the ``K`` class names (index = output unit).
        input_size: ``(C, H, W)`` the module takes (prediction resizes photos to it).
        mean, std: the per-channel normalisation the module was trained with on [0, 1] pixels; given, it becomes
            a layer in front (``model.normalize``) and the wrapped model takes [0, 1] pixels. ``None`` (default):
            the module itself takes [0, 1] pixels.
        classifier: dotted name (in ``module``) of the final classification layer (transfer replaces it; CAM
            reads it).
        features: feature layers shallow to deep (dotted names in ``module``; their channels and strides are
            measured with one forward pass at ``input_size``), or :class:`FeatureInfo` rows. Grad-CAM's default
            layer is the last one.
        pool: dotted name of a global average pool feeding ``classifier`` directly (CAM's condition), if any.
        name: the model's name in messages and summaries (default: the module's class name).

    Returns:
        A :class:`Wrapped` model with ``model.cnnlab`` set (``source="module"``). Its checkpoint is rebuilt with
        ``load_checkpoint(path, module=<a fresh instance of the class>)``.

    Raises:
        ValueError: a wrong layer name, ``mean`` without ``std``, statistics of the wrong length, an input size
            the module cannot take, or an output that does not have one unit per class.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...                     nn.Linear(8, 2))
        >>> m = wrap(net, classes=["cat", "dog"], input_size=(3, 32, 32), mean=(0.5,) * 3, std=(0.25,) * 3,
        ...          classifier="4", features=["1"], pool="2")
        >>> m.cnnlab.features
        [FeatureInfo(module='net.1', channels=8, stride=1)]
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if isinstance(getattr(module, "cnnlab", None), ModelCard):
        raise ValueError(f"this {type(module).__name__} already has a cnnlab card: use it as it is")
    k, names = _class_names(classes)
    if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Sequence) or len(input_size) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {input_size!r}")
    size = tuple(int(check_int("input_size", v)) for v in input_size)
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (or neither)")
    mean_l, std_l = _stats("mean", mean, size[0]), _stats("std", std, size[0])
    if std_l is not None and any(s <= 0 for s in std_l):
        raise ValueError(f"std must be positive, got {std_l}")
    for n, what in ((classifier, "classifier"), (pool, "pool")):
        if n is not None:
            _submodule(module, n, what)
    rows = list(features or [])
    for f in rows:
        if not isinstance(f, (str, FeatureInfo)):
            raise TypeError(f"features must be layer names or FeatureInfo rows, got {type(f).__name__}")
        _submodule(module, f if isinstance(f, str) else f.module, "feature layer")
    card = make_card(module, num_classes=k, classes=names, input_size=size, mean=mean_l, std=std_l,
                     classifier=classifier, pool=pool, features=[], name=name or type(module).__name__,
                     source="module")
    model = assemble(module, card)
    measured = [f"net.{f}" for f in rows if isinstance(f, str)]
    out, shapes = _probe(model, size, measured)
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[1] != k:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{type(module).__name__} gives outputs of shape {got} for one image; classes says {k} "
                         f"(expected (1, {k}))")
    feats = []
    for f in rows:
        if isinstance(f, FeatureInfo):
            feats.append(f)
            continue
        shape = shapes.get(f"net.{f}")
        if shape is None or len(shape) != 4:
            raise ValueError(f"feature layer {f!r} gives {'no output' if shape is None else shape}, not a feature "
                             "map (N, C, h, w)")
        feats.append(FeatureInfo(f, int(shape[1]), max(1, round(size[1] / shape[2]))))
    model.cnnlab = dataclasses.replace(card, features=[FeatureInfo(f"net.{f.module}", f.channels, f.stride)
                                                       for f in feats])
    return model
