"""Gradient maps in pixel space: saliency, deconvnet, guided backprop (shared arguments: ``explain._core``)."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from cnnlab.explain._core import (
    Target,
    check_inputs,
    model_state,
    prepare_target,
    register_method,
    target_scores,
)
from cnnlab.explain._relu import ModifiedReLU


def input_gradient(model: nn.Module, inputs: Tensor, target: Target = None, *, rule: str | None = None) -> Tensor:
    """``d score / d inputs``, ``Tensor[N, C, H, W]``; ``rule`` = ``"deconvnet"`` / ``"guided"`` changes the
    backward of every ReLU-like operation (see :mod:`cnnlab.explain._relu`)."""
    check_inputs(model, inputs)
    target = prepare_target(target, inputs.device)
    with model_state(model):
        x = inputs.detach().clone().requires_grad_(True)
        mode = ModifiedReLU(rule) if rule is not None else contextlib.nullcontext()
        with torch.enable_grad():
            with mode:
                out = model(x)
            scores = target_scores(out, target)
            (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad


@register_method("saliency", kind="pixel")
def saliency(model: nn.Module, inputs: Tensor, target: Target = None, *, reduce: str | None = "max",
             absolute: bool = True) -> Tensor:
    """Saliency map (Simonyan, Vedaldi & Zisserman 2014): the gradient of the pre-softmax class score with
    respect to the input pixels, its absolute value, reduced over channels.

    Args:
        reduce: ``"max"`` (the paper's, default) or ``"sum"`` over channels -> ``Tensor[N, 1, H, W]``;
            ``None`` keeps ``Tensor[N, C, H, W]`` (equal to Captum's ``Saliency``).
        absolute: take ``|gradient|`` (default ``True``).

    Example:
        >>> net = cnnlab.models.create("lenet5")
        >>> saliency(net, torch.rand(2, 1, 28, 28), target=3).shape
        torch.Size([2, 1, 28, 28])
    """
    if reduce not in ("max", "sum", None):
        raise ValueError(f"reduce must be 'max', 'sum' or None, got {reduce!r}")
    g = input_gradient(model, inputs, target)
    if absolute:
        g = g.abs()
    if reduce == "max":
        return g.amax(1, keepdim=True)
    if reduce == "sum":
        return g.sum(1, keepdim=True)
    return g


@register_method("deconvnet", kind="pixel")
def deconvnet(model: nn.Module, inputs: Tensor, target: Target = None) -> Tensor:
    """Deconvnet (Zeiler & Fergus 2014): backpropagate the class score, but through each ReLU pass only the
    positive part of the gradient, whatever the forward input was. ``Tensor[N, C, H, W]``.

    Holds for ``nn.ReLU`` (also in place), ``F.relu`` / ``torch.relu``, ``clamp(min=0)`` and ReLU6 / hardtanh
    clamps with lower bound 0.
    """
    return input_gradient(model, inputs, target, rule="deconvnet")


@register_method("guided", kind="pixel")
def guided_backprop(model: nn.Module, inputs: Tensor, target: Target = None) -> Tensor:
    """Guided backpropagation (Springenberg et al. 2015): through each ReLU the gradient is zeroed where
    the forward input was <= 0 and where the gradient itself is <= 0. ``Tensor[N, C, H, W]``.

    Same ReLU coverage as :func:`deconvnet`; for ReLU6 the forward gate is ``0 < x < 6``.
    """
    return input_gradient(model, inputs, target, rule="guided")
