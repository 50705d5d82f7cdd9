"""Shared checks and the two primitives everything else is written with: ``cross_correlate`` and
``full_convolve``.

Both work on batches of multi-channel images, ``x: [N, C, H, W]`` and kernels ``k: [O, C // groups, kh, kw]``,
in float32 or float64, and are vectorised the im2col way: a strided *view* of every window
(``sliding_window_view``), one copy into a ``[C * kh * kw, positions]`` matrix, one BLAS matrix product.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["cross_correlate", "full_convolve", "dilate", "pad2d", "windows"]


def as_float_array(name: str, a, ndim: int | None = None) -> np.ndarray:
    """``a`` as a float32 / float64 array, or a TypeError / ValueError naming ``name``."""
    arr = np.asarray(a)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


def pair(name: str, v) -> tuple[int, int]:
    """``v`` or ``(v, v)`` as two positive ints."""
    vals = tuple(v) if isinstance(v, tuple | list) else (v, v)
    if len(vals) != 2 or any(isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 1 for x in vals):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {v!r}")
    return int(vals[0]), int(vals[1])


def pad2d(x: np.ndarray, padding: tuple[tuple[int, int], tuple[int, int]], value: float = 0.0) -> np.ndarray:
    """Pad the last two axes by ``((top, bottom), (left, right))``."""
    (t, b), (l, r) = padding
    if t == b == l == r == 0:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(t, b), (l, r)], constant_values=value)


def dilate(x: np.ndarray, factor: tuple[int, int]) -> np.ndarray:
    """Insert ``factor - 1`` zeros between neighbouring entries of the last two axes ([.., H, W] ->
    [.., (H - 1) * fh + 1, (W - 1) * fw + 1]): the upstream gradient of a strided convolution, spread back to
    the positions the kernel visited."""
    fh, fw = factor
    if fh == fw == 1:
        return x
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + ((h - 1) * fh + 1, (w - 1) * fw + 1), dtype=x.dtype)
    out[..., ::fh, ::fw] = x
    return out


def windows(x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int] = (1, 1),
            dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """A read-only view ``[..., Ho, Wo, kh, kw]`` of every (strided, dilated) kernel window of ``x[..., H, W]``;
    no copy."""
    kh, kw = kernel_size
    (sh, sw), (dh, dw) = stride, dilation
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if x.shape[-2] < eh or x.shape[-1] < ew:
        raise ValueError(f"kernel extent {(eh, ew)} is larger than the (padded) input {x.shape[-2:]}")
    v = sliding_window_view(x, (eh, ew), axis=(-2, -1))  # [..., H - eh + 1, W - ew + 1, eh, ew]
    return v[..., ::sh, ::sw, ::dh, ::dw]


def cross_correlate(x: np.ndarray, k: np.ndarray, *, stride=1, dilation=1, groups: int = 1) -> np.ndarray:
    """Valid multi-channel cross-correlation, what deep-learning libraries call a convolution.

    ``out[n, o, i, j] = sum_{c, a, b} x[n, g(o) * C/G + c, i * s + a * d, j * s + b * d] * k[o, c, a, b]``:
    the kernel slides over the input *without* being flipped.

    Args:
        x: ``[N, C, H, W]``, already padded.
        k: ``[O, C // groups, kh, kw]``.
        stride, dilation: int or ``(h, w)``.
        groups: input and output channels are split into this many independent blocks.

    Returns:
        ``[N, O, Ho, Wo]`` with ``Ho = (H - d * (kh - 1) - 1) // s + 1``.

    Example:
        >>> cross_correlate(np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)))[0, 0]
        array([[ 8., 12.],
               [20., 24.]])
    """
    n, c, _, _ = x.shape
    o, cg, kh, kw = k.shape
    if c != cg * groups or o % groups:
        raise ValueError(f"input channels {c} and kernel shape {k.shape} do not match groups={groups}")
    og = o // groups
    win = windows(x.reshape(n, groups, cg, *x.shape[2:]), (kh, kw), pair("stride", stride),
                  pair("dilation", dilation))                          # [N, G, Cg, Ho, Wo, kh, kw] (a view)
    ho, wo = win.shape[3:5]
    kmat = k.reshape(groups, og, cg * kh * kw)
    if kh * kw <= ho * wo:
        # im2col: one copy into [G, Cg * kh * kw, N * Ho * Wo] (rows of kernel taps, columns of positions; the copy
        # runs along input rows), then one batched BLAS product [G, Og, Cg * kh * kw] @ cols
        cols = win.transpose(1, 2, 5, 6, 0, 3, 4).reshape(groups, cg * kh * kw, n * ho * wo)
        out = np.matmul(kmat, cols)                                    # [G, Og, N * Ho * Wo]
        return out.reshape(groups, og, n, ho, wo).transpose(2, 0, 1, 3, 4).reshape(n, o, ho, wo)
    # a kernel larger than the output (the weight gradient, where dY is the kernel): positions as rows instead,
    # so that the copy still runs along the long kernel rows
    cols = win.transpose(1, 0, 3, 4, 2, 5, 6).reshape(groups, n * ho * wo, cg * kh * kw)
    out = np.matmul(cols, kmat.transpose(0, 2, 1))                     # [G, N * Ho * Wo, Og]
    return out.reshape(groups, n, ho, wo, og).transpose(1, 0, 4, 2, 3).reshape(n, o, ho, wo)


def full_convolve(g: np.ndarray, k: np.ndarray, *, dilation=1, groups: int = 1) -> np.ndarray:
    """Full multi-channel convolution of ``g: [N, O, H, W]`` with ``k: [O, C // groups, kh, kw]``.

    A true convolution: the kernel is flipped, and "full" means every position where the kernel overlaps ``g``
    by at least one point, so the output grows to ``H + d * (kh - 1)``. The kernel is applied transposed in its
    channel axes (output channels in, input channels out), which makes this the adjoint of
    ``cross_correlate(., k)``:

    ``out[n, c, h, w] = sum_{o, a, b} g[n, o, h - a * d, w - b * d] * k[o, c, a, b]``.

    It is written as a cross-correlation of the zero-padded ``g`` with the flipped, channel-transposed kernel.

    Returns:
        ``[N, C, H + d * (kh - 1), W + d * (kw - 1)]``.
    """
    o, cg, kh, kw = k.shape
    dh, dw = pair("dilation", dilation)
    if g.shape[1] != o:
        raise ValueError(f"gradient channels {g.shape[1]} do not match the kernel's {o} output channels")
    og = o // groups
    # [G*Og, Cg, kh, kw] -> [G*Cg, Og, kh, kw], flipped in space: the convolution's kernel
    k_t = k.reshape(groups, og, cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cg, og, kh, kw)
    k_t = k_t[..., ::-1, ::-1]
    ph, pw = dh * (kh - 1), dw * (kw - 1)
    return cross_correlate(pad2d(g, ((ph, ph), (pw, pw))), k_t, dilation=(dh, dw), groups=groups)
