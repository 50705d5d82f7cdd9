"""Output sizes and padding of every convolution mode (one spatial axis at a time).

With input size ``n``, kernel size ``k``, dilation ``d`` (effective extent ``d * (k - 1) + 1``), stride ``s``
and padding ``p_before + p_after``::

    out = floor((n + p_before + p_after - d * (k - 1) - 1) / s) + 1

The notes' modes are paddings: *valid* pads nothing (every point the kernel touches lies in the input, the
output is smaller), *full* pads ``d * (k - 1)`` on both sides (the kernel overlaps the input by at least one
point, the output is larger) and *same* pads so that ``out = ceil(n / s)`` (the kernel is centred on every
input point; with stride 1 the output has the input's size). Same padding is split as TensorFlow and
``torch`` do: ``total // 2`` before and the rest after, so even kernels and strides pad one more at the end.

The arithmetic is :mod:`cnnlab._sizes` (pure Python, shared with :mod:`cnnlab.analysis`); this module adds the
padding modes and keyword-only signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab import _sizes

__all__ = [
    "MODES",
    "conv_output_size",
    "conv_transpose_output_size",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
    "transpose_output_padding",
]

MODES = ("valid", "same", "full")

Padding = str | int | Sequence  # "valid" | "same" | "full" | p | (ph, pw) | ((top, bottom), (left, right))


def _non_negative(name: str, value: int) -> int:
    return int(_sizes.check_int(name, value, 0))


def same_padding(n: int, k: int, *, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` padding of one axis so that the output has ``ceil(n / stride)`` points."""
    return _sizes.same_padding(n, k, stride, dilation)


def _axis_padding(padding, k: int, n: int | None, s: int, d: int, axis: int) -> tuple[int, int]:
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "full":
            return d * (k - 1), d * (k - 1)
        if padding == "same":
            if n is None:
                raise ValueError("padding='same' needs the input size")
            return same_padding(n, k, stride=s, dilation=d)
        raise ValueError(f"padding must be one of {MODES}, an int or pairs, got {padding!r}")
    if isinstance(padding, int | float) and not isinstance(padding, bool):
        p = _non_negative("padding", padding)
        return p, p
    if isinstance(padding, Sequence) and len(padding) == 2:
        item = padding[axis]
        if isinstance(item, Sequence) and len(item) == 2:
            return _non_negative("padding", item[0]), _non_negative("padding", item[1])
        p = _non_negative("padding", item)
        return p, p
    raise ValueError(f"padding must be one of {MODES}, an int or pairs, got {padding!r}")


def resolve_padding(padding: Padding, kernel_size: tuple[int, int], *, input_size: tuple[int, int] | None = None,
                    stride: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1)
                    ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Explicit ``((top, bottom), (left, right))`` padding for a mode name or an explicit padding.

    Args:
        padding: ``"valid"``, ``"same"``, ``"full"``, an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
        kernel_size: ``(kh, kw)``.
        input_size: ``(H, W)``; needed for ``"same"`` with a stride.
        stride, dilation: per axis.

    Example:
        >>> resolve_padding("same", (3, 3), input_size=(5, 5), stride=(2, 2))
        ((1, 1), (1, 1))
    """
    sizes = input_size if input_size is not None else (None, None)
    return tuple(_axis_padding(padding, kernel_size[a], sizes[a], stride[a], dilation[a], a) for a in (0, 1))


def conv_output_size(n: int, k: int, *, padding: Padding = "valid", stride: int = 1, dilation: int = 1) -> int:
    """Output size of one axis of a convolution (or cross-correlation).

    ``padding`` is a mode (``"valid"``, ``"same"``, ``"full"``), an int, or a ``(before, after)`` pair.

    Example:
        >>> conv_output_size(5, 3, padding="valid"), conv_output_size(5, 3, padding="full")
        (3, 7)
        >>> conv_output_size(5, 3, padding="same", stride=2)
        3
    """
    n, k = _sizes.check_int("input size", n, 1), _sizes.check_int("kernel size", k, 1)
    s, d = _sizes.check_int("stride", stride, 1), _sizes.check_int("dilation", dilation, 1)
    if isinstance(padding, Sequence) and not isinstance(padding, str):
        padding = (tuple(padding), 0)
    before, after = _axis_padding(padding, k, n, s, d, 0)
    return _sizes.conv_output_size(n, k, s, before, after, d)


def conv_transpose_output_size(n: int, k: int, *, padding: int | tuple[int, int] = 0, stride: int = 1,
                               dilation: int = 1, output_padding: int = 0) -> int:
    """Output size of one axis of a transposed convolution: the input size of the convolution it transposes.

    ``(n - 1) * stride - before - after + dilation * (k - 1) + output_padding + 1``; ``output_padding``
    (``< max(stride, dilation)``) picks one of the ``stride`` input sizes that a strided convolution maps to
    the same output size.

    Example:
        >>> conv_transpose_output_size(3, 3, padding=1, stride=2, output_padding=0)
        5
    """
    k, s, d = _sizes.check_int("kernel size", k, 1), _sizes.check_int("stride", stride, 1), \
        _sizes.check_int("dilation", dilation, 1)
    before, after = _axis_padding(padding if not isinstance(padding, tuple) else (padding, 0), k, None, s, d, 0)
    return _sizes.conv_transpose_output_size(n, k, s, before, after, d, output_padding)


def transpose_output_padding(n: int, k: int, *, padding: int | tuple[int, int] = 0, stride: int = 1,
                             dilation: int = 1) -> int:
    """The ``output_padding`` that makes a transposed convolution give back the size ``n`` of its convolution's
    input: ``(n + before + after - dilation * (k - 1) - 1) % stride``."""
    before, after = (padding, padding) if isinstance(padding, int) else padding
    return (n + before + after - dilation * (k - 1) - 1) % stride


def pool_output_size(n: int, k: int, *, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output size of one axis of max or average pooling (``stride`` defaults to ``k``).

    With ``ceil_mode`` the last, partial window is kept when it starts inside the input or left padding.

    Example:
        >>> pool_output_size(7, 2), pool_output_size(7, 2, ceil_mode=True)
        (3, 4)
    """
    return _sizes.pool_output_size(n, k, stride, padding, dilation, ceil_mode)
