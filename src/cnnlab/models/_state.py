"""Running a user's model in a temporary state and giving it back exactly as it was.

One mechanism for every function that touches a model's state: :func:`restoring` records each module's
``training`` flag and each parameter's ``requires_grad`` and puts them back on exit, also when the block raises;
:func:`frozen` (inference, explanations, attacks) is :func:`restoring` plus eval mode and frozen parameters. A
model with some modules deliberately in eval mode (a frozen batch norm) keeps them so: ``model.train(flag)``
would flatten that mix, so nothing restores a mode that way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


def _check(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")


@contextlib.contextmanager
def restoring(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block the model may be changed freely (trained, put in another mode, (un)frozen); on exit every
    module's ``training`` flag and every parameter's ``requires_grad`` are what they were, also when the block
    raises. Weights are not restored (training is meant to change them).

    Example:
        >>> net = create("resnet_small")
        >>> net.layer1.eval()  # doctest: +ELLIPSIS
        Sequential(...)
        >>> with restoring(net):
        ...     net.train()  # doctest: +ELLIPSIS
        ResNet(...)
        >>> net.layer1.training
        False
    """
    _check(model)
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


@contextlib.contextmanager
def frozen(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Inside the block every parameter has ``requires_grad=False`` and (with ``eval_mode``) every module is in
    eval mode, so a backward pass to the input computes no weight gradients.

    Each module's ``training`` flag and each parameter's ``requires_grad`` are restored on exit, also when the
    block raises (:func:`restoring`).

    Example:
        >>> net = create("lenet5")
        >>> with frozen(net):
        ...     assert not net.training
        >>> net.training
        True
    """
    with restoring(model):
        if eval_mode:
            model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        yield model
