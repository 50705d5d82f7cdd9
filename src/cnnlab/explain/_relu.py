"""The modified ReLU backward of deconvnet and guided backprop, for every way a network writes a ReLU.

Captum swaps the backward of ``nn.ReLU`` modules with hooks, so ``F.relu``, ``torch.relu``, ``x.relu()``,
``x.clamp(min=0)`` and ReLU6 (``nn.ReLU6`` is a hardtanh) silently keep their plain gradient. Here a
``TorchFunctionMode`` active during the forward pass replaces each ReLU-like call (lower bound exactly 0)
by an autograd function with the modified backward; the backward pass itself runs outside the mode.

Rules, with ``g`` the gradient arriving at the output and ``active`` = the forward input lay strictly inside
the clamp (``0 < x`` for ReLU, ``0 < x < 6`` for ReLU6; read off the output):

- plain gradient: ``g * active``
- deconvnet (Zeiler & Fergus 2014): ``relu(g)``, the forward input is ignored
- guided backprop (Springenberg et al. 2015): ``relu(g) * active``
- linear: the forward pass is the identity and the backward ``g`` (used to find receptive fields)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

RULES = ("deconvnet", "guided", "linear")


class _ModifiedClamp(torch.autograd.Function):
    """``clamp(x, 0, hi)`` (``hi`` may be None) whose backward follows ``rule``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, hi: float | None, rule: str, inplace: bool) -> Tensor:
        ctx.rule, ctx.hi = rule, hi
        if rule == "linear":
            return x.clone()
        if inplace:
            out = x.clamp_(0, hi)
            ctx.mark_dirty(x)
        else:
            out = x.clamp(0, hi)
        if rule == "guided":
            ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, None, None, None]:
        if ctx.rule == "linear":
            return g, None, None, None
        if ctx.rule == "deconvnet":
            return F.relu(g), None, None, None
        (out,) = ctx.saved_tensors
        # relu(g) gated by the forward derivative, with the same fused kernels as ReLU / hardtanh backward
        pos = F.relu(g)
        if ctx.hi is None:
            return torch.ops.aten.threshold_backward(pos, out, 0), None, None, None
        return torch.ops.aten.hardtanh_backward(pos, out, 0.0, ctx.hi), None, None, None


def _number(v: Any) -> float | None:
    if isinstance(v, Tensor):
        return float(v) if v.numel() == 1 and not v.requires_grad else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _relu_args(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
    return args[0], None, bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))


def _relu_inplace(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
    return args[0], None, True


def _relu6(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
    return args[0], 6.0, bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))


def _hardtanh(inplace_default: bool):
    def parse(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
        names = ("min_val", "max_val", "inplace")
        vals = dict(zip(names, args[1:]), **kwargs)
        lo, hi = _number(vals.get("min_val", -1.0)), _number(vals.get("max_val", 1.0))
        if lo != 0.0 or hi is None or hi <= 0:
            return None  # a tanh-like clamp, not a ReLU
        return args[0], hi, inplace_default or bool(vals.get("inplace", False))

    return parse


def _clamp(inplace: bool):
    def parse(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
        vals = dict(zip(("min", "max"), args[1:]), **kwargs)
        if "out" in vals:
            return None
        lo = _number(vals.get("min"))
        hi_raw = vals.get("max")
        hi = _number(hi_raw)
        if lo != 0.0 or (hi_raw is not None and (hi is None or hi <= 0)):
            return None
        return args[0], hi, inplace

    return parse


def _clamp_min(inplace: bool):
    def parse(args: tuple, kwargs: dict) -> tuple[Tensor, float | None, bool] | None:
        lo = _number(kwargs.get("min", args[1] if len(args) > 1 else None))
        return (args[0], None, inplace) if lo == 0.0 else None

    return parse


_PARSERS = {
    F.relu: _relu_args, torch.relu: _relu_args, Tensor.relu: _relu_args,
    F.relu_: _relu_inplace, torch.relu_: _relu_inplace, Tensor.relu_: _relu_inplace,
    F.relu6: _relu6,
    F.hardtanh: _hardtanh(False), F.hardtanh_: _hardtanh(True),
    torch.clamp: _clamp(False), Tensor.clamp: _clamp(False), torch.clip: _clamp(False), Tensor.clip: _clamp(False),
    Tensor.clamp_: _clamp(True), Tensor.clip_: _clamp(True), torch.clamp_: _clamp(True),
    torch.clamp_min: _clamp_min(False), Tensor.clamp_min: _clamp_min(False), Tensor.clamp_min_: _clamp_min(True),
}


class ModifiedReLU(TorchFunctionMode):
    """Inside this mode every ReLU-like call builds a graph node whose backward follows ``rule``
    (``"deconvnet"``, ``"guided"`` or ``"linear"``); everything else runs unchanged.

    Example:
        >>> x = torch.randn(4, requires_grad=True)
        >>> with ModifiedReLU("guided"):
        ...     y = torch.relu(x)
        >>> g, = torch.autograd.grad(y, x, torch.tensor([1.0, -1.0, 1.0, -1.0]))
    """

    def __init__(self, rule: str) -> None:
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        self.rule = rule
        self.calls = 0  # how many ReLU-like calls were replaced (for tests and warnings)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        parse = _PARSERS.get(func)
        if parse is not None and args and isinstance(args[0], Tensor) and args[0].is_floating_point():
            parsed = parse(args, kwargs)
            if parsed is not None and torch.is_grad_enabled():
                x, hi, inplace = parsed
                self.calls += 1
                return _ModifiedClamp.apply(x, hi, self.rule, inplace)
        return func(*args, **kwargs)
