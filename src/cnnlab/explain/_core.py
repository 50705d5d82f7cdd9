"""What every explanation method shares: the registry, targets, layers, model state and upsampling.

Shared arguments (described once here, not in every method):

    model: an ``nn.Module`` taking ``Tensor[N, C, H, W]`` (cnnlab models take pixels in [0, 1]). During the
        call it runs in eval mode with ``requires_grad`` off on its parameters; both are restored afterwards,
        also when the call raises, and every hook the method adds is removed.
    inputs: ``Tensor[N, C, H, W]``; results come back on its device.
    target: which output to explain, per sample: ``None`` (the predicted class), an ``int`` (the same class
        for every sample), a ``Tensor[N]`` / list of per-sample classes, or a callable ``f(output) -> Tensor[N]``
        on the model output (one score per row, so the same method serves detection or segmentation heads).
        Scores are the pre-softmax outputs.
    layer: a module of ``model`` or its dotted name; layer methods default to the last ``nn.Conv2d``
        (:func:`cnnlab.models.last_conv_name`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._registry import Registry

Target = int | Sequence[int] | Tensor | Callable[[Tensor], Tensor] | None

METHODS: Registry[Callable[..., Tensor]] = Registry("explanation method")


def register_method(name: str, *, kind: str) -> Callable:
    """Decorator adding an explanation method ``fn(model, inputs, target=None, **options) -> Tensor``.

    ``kind`` is ``"pixel"`` (a map with the input's spatial size) or ``"layer"`` (computed at a layer).
    """
    if kind not in ("pixel", "layer"):
        raise ValueError(f"kind must be 'pixel' or 'layer', got {kind!r}")
    return METHODS.register(name, kind=kind)


def names() -> list[str]:
    """Names of the registered explanation methods."""
    return METHODS.names()


def explain(method: str, model: nn.Module, inputs: Tensor, target: Target = None, **options: Any) -> Tensor:
    """Run the registered method ``method`` (see :func:`names`).

    Example:
        >>> from cnnlab import explain, models
        >>> net = models.create("lenet5", activation="relu")
        >>> explain.explain("gradcam", net, torch.rand(2, 1, 28, 28), target=3).shape
        torch.Size([2, 1, 28, 28])
    """
    return METHODS.lookup(method)(model, inputs, target, **options)


def check_inputs(model: nn.Module, inputs: Tensor, name: str = "inputs") -> Tensor:
    """The public-boundary check every explanation entry point starts with (:func:`cnnlab.models.check_batch`):
    a float ``Tensor[N, C, H, W]`` of finite pixels in [0, 1] (0..255 pixels and NaN are refused), with the
    channels of the model's card and a size the model can take."""
    from cnnlab.models import check_batch

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, Tensor):
        raise TypeError(f"{name} must be a Tensor[N, C, H, W], got {type(inputs).__name__}")
    return check_batch(model, inputs, name=name)


def layer_name(model: nn.Module, layer: nn.Module) -> str:
    """The dotted name of ``layer`` in ``model`` (for messages)."""
    for n, m in model.named_modules():
        if m is layer:
            return n or "(the model itself)"
    return type(layer).__name__


def check_feature_map(model: nn.Module, layer: nn.Module, act: Tensor, method: str) -> Tensor:
    """``act`` if it is a feature map ``Tensor[N, K, h, w]``; otherwise a ``ValueError`` naming the layer, what
    it gives, and the feature layers the model's card records (a linear classifier is no feature map)."""
    if isinstance(act, Tensor) and act.dim() == 4:
        return act
    from cnnlab.models import ModelCard

    got = f"output of shape {tuple(act.shape)}" if isinstance(act, Tensor) else type(act).__name__
    card = getattr(model, "cnnlab", None)
    known = [f.module for f in card.features] if isinstance(card, ModelCard) else []
    hint = f"; feature layers of this model: {', '.join(known)}" if known else \
        "; name a convolutional layer"
    raise ValueError(f"{method} needs a feature map (N, C, h, w) at its layer; layer {layer_name(model, layer)!r} "
                     f"({type(layer).__name__}) gives {got}{hint}")


def target_scores(output: Tensor, target: Target) -> Tensor:
    """The explained score of every sample: ``Tensor[N]`` picked from ``output`` by ``target``."""
    n = output.shape[0]
    if callable(target) and not isinstance(target, Tensor):
        s = target(output)
        if not isinstance(s, Tensor) or s.shape != (n,):
            got = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise ValueError(f"a target callable must return one score per sample, shape ({n},), got {got}")
        return s
    if output.dim() != 2:
        raise ValueError(f"a class target needs a model output (N, classes), got shape {tuple(output.shape)}; "
                         "pass a callable target instead")
    idx = resolve_target(output, target)
    return output.gather(1, idx[:, None]).squeeze(1)


class CheckedClasses:
    """Class indices already on the device with their range read once (see :func:`prepare_target`)."""

    def __init__(self, t: Tensor, lo: int, hi: int) -> None:
        self.t, self.lo, self.hi = t, lo, hi


def prepare_target(target: Target, device: torch.device) -> Target | CheckedClasses:
    """Move per-sample class targets to ``device`` and read their range *before* the forward pass.

    Validating after the forward would need host syncs that stall the queue between forward and backward; here
    the one sync (a CPU tensor or list needs none) happens while the device is idle. Other targets pass through.
    """
    if target is None or callable(target) and not isinstance(target, Tensor) or isinstance(target, (int, bool)):
        return target
    t = torch.as_tensor(target)
    if t.is_floating_point() or t.is_complex():
        raise TypeError(f"target must hold integer classes, got dtype {t.dtype}")
    t = t.long().reshape(-1)
    if not t.numel():
        return target
    lo, hi = torch.stack(torch.aminmax(t)).tolist()  # one transfer; none for a CPU tensor
    return CheckedClasses(t.to(device, non_blocking=True), lo, hi)


def resolve_target(output: Tensor, target: Target | CheckedClasses) -> Tensor:
    """Per-sample class indices ``Tensor[N]`` (long, on the output's device) for a class target."""
    n, k = output.shape[0], output.shape[-1]
    if target is None:
        return output.detach().argmax(-1)
    if isinstance(target, CheckedClasses):
        if target.lo < 0 or target.hi >= k:
            raise ValueError(f"target classes must be in [0, {k - 1}], got values from {target.lo} to {target.hi}")
        t = target.t.expand(n) if target.t.numel() == 1 else target.t
        if t.shape != (n,):
            raise ValueError(f"target must have one class per sample ({n}), got {t.numel()}")
        return t
    if isinstance(target, bool):
        raise TypeError(f"target must be an int, a sequence/tensor of ints or a callable, got {target!r}")
    if isinstance(target, int):
        if not 0 <= target < k:
            raise ValueError(f"target must be in [0, {k - 1}], got {target}")
        return torch.full((n,), target, dtype=torch.long, device=output.device)
    t = torch.as_tensor(target, device=output.device)
    if t.is_floating_point() or t.is_complex():
        raise TypeError(f"target must hold integer classes, got dtype {t.dtype}")
    t = t.long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"target must have one class per sample ({n}), got {t.numel()}")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
        raise ValueError(f"target classes must be in [0, {k - 1}], got {t.tolist()}")
    return t


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """A module of ``model`` from a module, a dotted name, or ``None``: the deepest feature map its card records
    (``cnnlab.models.feature_info``), or for a plain ``nn.Module`` without a card its last ``nn.Conv2d``."""
    if layer is None:
        from cnnlab.models import ModelCard, feature_layer, last_conv_name

        layer = feature_layer(model) if isinstance(getattr(model, "cnnlab", None), ModelCard) else \
            last_conv_name(model)
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError:
            close = [n for n, _ in model.named_modules() if n and (layer in n or n in layer)][:3]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"model has no layer {layer!r}{hint}") from None
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a module of the model")
        return layer
    raise TypeError(f"layer must be an nn.Module, a dotted name or None, got {type(layer).__name__}")


def _hook_counts(model: nn.Module) -> list[tuple[int, int, int, int]]:
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(m._backward_pre_hooks)) for m in model.modules()]


@contextlib.contextmanager
def model_state(model: nn.Module, *, eval_mode: bool = True) -> Iterator[list]:
    """Run ``model`` in eval mode with frozen parameters; restore everything on exit.

    Yields a list to which the caller appends hook handles; they are all removed on exit, the list is
    cleared, each module's ``training`` flag and each parameter's ``requires_grad`` are restored, also
    when the block raises. Freezing the parameters means the backward pass computes no weight gradients.
    """
    from cnnlab.models import frozen

    handles: list = []
    with frozen(model, eval_mode=eval_mode):
        try:
            yield handles
        finally:
            for h in handles:
                h.remove()
            handles.clear()


def capture_layer(layer: nn.Module, store: dict[str, Tensor], *, grad: bool) -> Any:
    """Register a forward hook keeping ``layer``'s output in ``store["act"]``; returns the handle.

    With ``grad=True`` the output is made a graph node that requires grad even when nothing upstream does
    (the parameters are frozen), so ``torch.autograd.grad(score, store["act"])`` backpropagates only through
    the part of the network after the layer.
    """

    def hook(module: nn.Module, args: Any, out: Any) -> Any:
        if not isinstance(out, Tensor):
            raise ValueError(f"layer {type(module).__name__} must return a tensor, got {type(out).__name__}")
        if grad and not out.requires_grad:
            leaf = out.detach().requires_grad_()
            store["act"] = leaf
            return leaf.clone()  # a non-leaf, so in-place operations after the layer stay legal
        store["act"] = out
        return None

    return layer.register_forward_hook(hook)


def upsample(maps: Tensor, size: Sequence[int] | Tensor, *, mode: str = "bilinear") -> Tensor:
    """Resize layer maps ``Tensor[N, K, h, w]`` to ``size`` = ``(H, W)`` (or the size of a tensor's last two
    dimensions); the one upsampling helper of the layer methods. ``mode``: ``"bilinear"`` (corners not
    aligned, as Captum's ``LayerAttribution.interpolate`` and OpenCV's ``resize``), ``"bicubic"``,
    ``"nearest"``."""
    if isinstance(size, Tensor):
        size = tuple(size.shape[-2:])
    size = tuple(int(s) for s in size)
    if mode not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(f"mode must be 'bilinear', 'bicubic' or 'nearest', got {mode!r}")
    if tuple(maps.shape[-2:]) == size:
        return maps
    if mode == "nearest":
        return F.interpolate(maps, size=size, mode="nearest")
    return F.interpolate(maps, size=size, mode=mode, align_corners=False)


def normalize_maps(maps: Tensor, *, absolute: bool = False, percentile: float | None = None) -> Tensor:
    """Scale every map of ``Tensor[N, K, H, W]`` to [0, 1]: min-max per sample, or with ``percentile``
    (e.g. 99) divide by that percentile of ``|map|`` and clip, which keeps a few extreme gradients from
    washing out the rest. ``absolute`` takes ``|map|`` first."""
    x = maps.detach().float()
    if absolute:
        x = x.abs()
    flat = x.flatten(1)
    if percentile is not None:
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        hi = torch.quantile(flat.abs(), percentile / 100, dim=1).clamp_min(1e-12)
        return (x / hi.view(-1, *([1] * (x.dim() - 1)))).clamp(0, 1)
    lo, hi = flat.min(1).values, flat.max(1).values
    shape = (-1, *([1] * (x.dim() - 1)))
    return (x - lo.view(shape)) / (hi - lo).clamp_min(1e-12).view(shape)
