"""Argument checks shared by every package: one implementation, one message format.

Each check returns the (normalised) value or raises ``ValueError`` / ``TypeError`` naming the argument and the
bad value, e.g. ``"eps must be in [0, 1], got 3.0"``. The CLI turns these into one line and exit code 2, so a
command's flag is checked by passing its flag name (``"--topk"``) as ``name``.

Pure Python plus an optional torch import for the tensor checks, so the NumPy reference engine can use it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any


def check_int(name: str, value: Any, minimum: int | None = 1, maximum: int | None = None):
    """``value`` if it is an integer in ``[minimum, maximum]``, else a ``ValueError`` naming it.

    Integers are ints and anything with ``__index__`` (NumPy integers; the 0-d integer tensors that ``x.shape``
    gives under jit tracing, returned unchanged so that the trace keeps them symbolic); a float with an integral
    value is converted to ``int``. ``bool`` is refused.

    Example:
        >>> check_int("topk", 3)
        3
        >>> check_int("steps", 0, minimum=0)
        0
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        iv = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        iv = None
    ok = iv is not None and (minimum is None or iv >= minimum) and (maximum is None or iv <= maximum)
    if not ok:
        if maximum is not None and minimum is not None:
            what = f"an integer in [{minimum}, {maximum}]"
        elif maximum is not None:
            what = f"an integer <= {maximum}"
        elif minimum == 1:
            what = "a positive integer"
        elif minimum == 0:
            what = "a non-negative integer"
        elif minimum is None:
            what = "an integer"
        else:
            what = f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                 open_min: bool = False, open_max: bool = False) -> float:
    """``float(value)`` if it is a finite real number in the given range, else a ``ValueError`` naming it.

    NaN and infinity are always refused (a NaN compares false with every bound and would pass silently).

    Example:
        >>> check_number("lr", 0.1, minimum=0, open_min=True)
        0.1
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a number (not NaN or infinity), got {value!r}")
    lo_bad = minimum is not None and (v <= minimum if open_min else v < minimum)
    hi_bad = maximum is not None and (v >= maximum if open_max else v > maximum)
    if lo_bad or hi_bad:
        if minimum is not None and maximum is not None:
            rng = f"in {'(' if open_min else '['}{minimum:g}, {maximum:g}{')' if open_max else ']'}"
        elif minimum is not None:
            rng = f"a number {'>' if open_min else '>='} {minimum:g}"
        else:
            rng = f"a number {'<' if open_max else '<='} {maximum:g}"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite number > 0."""
    return check_number(name, value, minimum=0, open_min=True)


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``ValueError`` listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def check_size(name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """``(h, w)`` from an int or a pair of ints, each ``>= minimum``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = check_int(name, value, minimum)
        return (int(v), int(v))
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"{name} must be an integer or a pair (h, w), got {value!r}")
    return tuple(int(check_int(name, v, minimum)) for v in value)  # type: ignore[return-value]


def check_images(images: Any, name: str = "images", *, channels: int | None = None, unit_range: bool = True):
    """A ``Tensor[N, C, H, W]`` of floating-point pixels, finite and (``unit_range``) in [0, 1].

    cnnlab models take [0, 1] pixels (normalisation is their first layer); 0..255 pixels or NaN inputs give a
    silent wrong answer, so they are refused here with the value that is wrong.
    """
    import torch

    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name} must be a batch Tensor[N, C, H, W], got shape {tuple(images.shape)}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be floating-point pixels in [0, 1], got dtype {images.dtype}")
    if images.numel():
        lo, hi = torch.aminmax(images.detach())
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} contain NaN or infinite values")
        if unit_range and (lo < -1e-6 or hi > 1 + 1e-6):
            hint = " (0..255 pixels? divide by 255)" if hi > 1.5 else ""
            raise ValueError(f"{name} must be pixels in [0, 1], got values in [{lo:.4g}, {hi:.4g}]{hint}")
    return images


def check_finite_tensor(name: str, t: Any) -> Any:
    """``t`` if it holds no NaN or infinity, else ``ValueError`` naming it."""
    import torch

    if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t
