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


def cpu_has_native(dtype: torch.dtype) -> bool:
    """Whether oneDNN runs ``dtype`` (``torch.bfloat16`` / ``torch.float16``) convolutions on this CPU with its own
    instructions (AVX-512 / AMX on x86, the BF16 extension on Arm) rather than emulating them; ``True`` for float32
    and where torch cannot tell."""
    probe = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}.get(dtype)
    if probe is None or not torch.backends.mkldnn.is_available():  # no oneDNN: not its question
        return True
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):
        return True


def check_autocast(device: torch.device, dtype: torch.dtype, name: str = "amp") -> None:
    """Refuse CPU autocast to a ``dtype`` this CPU only emulates: there oneDNN's bfloat16 convolutions are 6 to 170
    times slower than float32 (measured on an AVX2 EPYC, benchmarks/bench_amp_cpu.py), which looks like a hung run.
    ``ValueError`` naming the CPU's instruction set; nothing to check on GPUs."""
    if device.type == "cpu" and not cpu_has_native(dtype):
        kind = str(dtype).removeprefix("torch.")
        raise ValueError(f"{name} ({kind} autocast) on this CPU ({torch.backends.cpu.get_cpu_capability()}, no native "
                         f"{kind}): its convolutions are emulated, up to 170x slower than float32; run without it")
