"""Device lookup: one place that turns ``"auto"``, ``"cpu"``, ``"cuda:1"``... into a ``torch.device`` or a clear
error naming the value (``--device cuda`` on a machine without CUDA, ``--device tpu9``)."""

from __future__ import annotations

import torch
from torch import nn


def resolve_device(spec: str | torch.device | None = "auto", name: str = "device") -> torch.device:
    """A usable ``torch.device`` for ``spec``.

    ``"auto"`` / ``None`` is CUDA when available, else the CPU. An unknown device, CUDA on a machine without it,
    or a GPU index past the last GPU raise ``ValueError`` naming the value.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(spec, torch.device):
        dev = spec
    else:
        if not isinstance(spec, str):
            raise ValueError(f"{name} must be a device name such as 'cpu' or 'cuda', got {spec!r}")
        try:
            dev = torch.device(spec)
        except (RuntimeError, ValueError):
            raise ValueError(f"unknown {name} {spec!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {str(spec)!r} asked for, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name} {str(spec)!r}: this machine has {torch.cuda.device_count()} GPU(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(f"{name} {str(spec)!r} asked for, but MPS is not available on this machine")
    elif dev.type not in ("cpu", "meta"):
        raise ValueError(f"unsupported {name} {str(spec)!r} (use auto, cpu, cuda, cuda:N or mps)")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a model with neither."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")
