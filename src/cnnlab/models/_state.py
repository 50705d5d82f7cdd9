"""Running a user's model in a temporary state and giving it back exactly as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def frozen(model: nn.Module, *, eval_mode: bool = True) -> Iterator[nn.Module]:
    """Inside the block every parameter has ``requires_grad=False`` and (with ``eval_mode``) every module is in
    eval mode, so a backward pass to the input computes no weight gradients.

    Each module's ``training`` flag and each parameter's ``requires_grad`` are restored on exit, also when the
    block raises (a model with some modules deliberately in eval mode keeps them so).

    Example:
        >>> net = create("lenet5")
        >>> with frozen(net):
        ...     assert not net.training
        >>> net.training
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if eval_mode:
            model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag
