"""Max pooling with switches, max unpooling and average pooling, forward and backward.

Max pooling keeps, for every window, the largest value and a *switch*: where in the input it was (a flat index
``row * W + col`` into the input plane, the convention of ``torch.nn.functional.max_pool2d(...,
return_indices=True)``). The backward pass and max unpooling both route values back through the switches
("max unpooling remembers where the maximum was"); every other position gets zero.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab.reference._conv import _input_gradient
from cnnlab.reference._core import as_float_array, pad2d, pair, windows
from cnnlab.reference._sizes import pool_output_size

__all__ = [
    "MaxPoolResult",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
]


class MaxPoolResult(NamedTuple):
    """``y: [N, C, Ho, Wo]`` the maxima; ``switches: int64 [N, C, Ho, Wo]`` their flat indices ``row * W + col``
    in the input plane."""

    y: np.ndarray
    switches: np.ndarray


def _pool_geometry(shape, kernel_size, stride, padding, dilation, ceil_mode):
    k = pair("kernel_size", kernel_size)
    s = k if stride is None else pair("stride", stride)
    d = pair("dilation", dilation)
    p = padding if isinstance(padding, tuple | list) else (padding, padding)
    out = tuple(pool_output_size(shape[2 + a], k[a], stride=s[a], padding=p[a], dilation=d[a], ceil_mode=ceil_mode)
                for a in (0, 1))
    # ceil mode: extra bottom / right padding so that the last, partial window exists in the padded frame
    extra = tuple(max((out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - (shape[2 + a] + 2 * p[a]), 0) for a in (0, 1))
    pads = ((p[0], p[0] + extra[0]), (p[1], p[1] + extra[1]))
    return k, s, d, pads, out


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> MaxPoolResult:
    """Max pooling that also returns the switches.

    Args:
        x: ``[N, C, H, W]`` float32 or float64.
        kernel_size, stride (default: ``kernel_size``), padding (at most half the kernel; padded with -inf),
            dilation: int or ``(h, w)``.
        ceil_mode: keep the last partial window (``cnnlab.reference.pool_output_size``).

    Returns:
        ``MaxPoolResult(y, switches)``; ties go to the first maximum in row-major window order.

    Example:
        >>> r = max_pool2d(np.array([[[[1., 5.], [3., 2.]]]]), 2)
        >>> r.y.ravel(), r.switches.ravel()
        (array([5.]), array([1]))
    """
    x = as_float_array("x", x, 4)
    n, c, h, w = x.shape
    k, s, d, pads, (ho, wo) = _pool_geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    win = windows(pad2d(x, pads, value=-np.inf), k, s, d)             # [N, C, Ho, Wo, kh, kw]
    flat = win.reshape(n, c, ho, wo, k[0] * k[1])                      # one copy
    arg = flat.argmax(axis=-1)                                         # index inside the window
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    # window (i, j), tap (a, b) -> input row i * s + a * d - top, column j * s + b * d - left
    rows = np.arange(ho)[:, None] * s[0] + (arg // k[1]) * d[0] - pads[0][0]
    cols = np.arange(wo)[None, :] * s[1] + (arg % k[1]) * d[1] - pads[1][0]
    return MaxPoolResult(y, (rows * w + cols).astype(np.int64))


def _scatter_add(values: np.ndarray, switches: np.ndarray, shape) -> np.ndarray:
    """Sum ``values[N, C, ...]`` into planes ``[N, C, H, W]`` at the flat positions ``switches`` (vectorised;
    overlapping windows that share a maximum add up)."""
    n, c, h, w = shape
    base = (np.arange(n * c) * (h * w)).reshape(n, c, *([1] * (switches.ndim - 2)))
    out = np.bincount((switches + base).ravel(), weights=values.ravel(), minlength=n * c * h * w)
    return out.astype(values.dtype, copy=False).reshape(n, c, h, w)


def _check_switches(name: str, values, switches):
    values = as_float_array(name, values, 4)
    switches = np.asarray(switches)
    if switches.shape != values.shape or not np.issubdtype(switches.dtype, np.integer):
        raise ValueError(f"switches must be integers of shape {values.shape}, got {switches.dtype} {switches.shape}")
    return values, switches


def max_pool2d_backward(dy, switches, input_shape) -> np.ndarray:
    """Gradient of max pooling: each upstream value goes to the input position its switch remembers.

    Args:
        dy: ``[N, C, Ho, Wo]``.
        switches: from ``max_pool2d``.
        input_shape: ``(N, C, H, W)`` of the pooled input.
    """
    dy, switches = _check_switches("dy", dy, switches)
    n, c, h, w = input_shape
    if (n, c) != dy.shape[:2] or switches.size and (switches.min() < 0 or switches.max() >= h * w):
        raise ValueError(f"input_shape {tuple(input_shape)} does not match dy {dy.shape} and its switches")
    return _scatter_add(dy, switches, (n, c, h, w))


def max_unpool2d(y, switches, output_size) -> np.ndarray:
    """Max unpooling: put each pooled value back where its maximum was, zeros elsewhere
    (``torch.nn.functional.max_unpool2d``).

    Args:
        y: ``[N, C, Ho, Wo]`` pooled values (or any features of that shape).
        switches: ``max_pool2d``'s.
        output_size: ``(H, W)`` of the plane to rebuild.
    """
    y, switches = _check_switches("y", y, switches)
    h, w = pair("output_size", tuple(output_size))
    if switches.size and (switches.min() < 0 or switches.max() >= h * w):
        raise ValueError(f"switches point outside an output of size {(h, w)}")
    n, c = y.shape[:2]
    out = np.zeros((n, c, h * w), dtype=y.dtype)
    np.put_along_axis(out, switches.reshape(n, c, -1), y.reshape(n, c, -1), axis=-1)
    return out.reshape(n, c, h, w)


def max_unpool2d_backward(dy, switches) -> np.ndarray:
    """Gradient of max unpooling with respect to its input: read ``dy[N, C, H, W]`` at the switches."""
    dy = as_float_array("dy", dy, 4)
    n, c = dy.shape[:2]
    switches = np.asarray(switches)
    return np.take_along_axis(dy.reshape(n, c, -1), switches.reshape(n, c, -1), axis=-1).reshape(switches.shape)


def _avg_divisor(shape, k, s, d, pads, count_include_pad: bool, dtype) -> np.ndarray | float:
    if count_include_pad:
        return float(k[0] * k[1])
    ones = pad2d(np.ones((1, 1, *shape[2:]), dtype=dtype), pads)   # 1 inside the input, 0 in the padding
    return windows(ones, k, s, d).sum(axis=(-2, -1))                # [1, 1, Ho, Wo] real elements per window


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> np.ndarray:
    """Average pooling (``torch.nn.functional.avg_pool2d``); zero padding counts in the mean unless
    ``count_include_pad=False``."""
    x = as_float_array("x", x, 4)
    k, s, d, pads, _ = _pool_geometry(x.shape, kernel_size, stride, padding, 1, False)
    total = windows(pad2d(x, pads), k, s, d).sum(axis=(-2, -1))
    return total / _avg_divisor(x.shape, k, s, d, pads, count_include_pad, x.dtype)


def avg_pool2d_backward(dy, input_shape, kernel_size, stride=None, padding=0,
                        count_include_pad: bool = True) -> np.ndarray:
    """Gradient of average pooling: each upstream value, divided by its window's count, is spread evenly over
    the window (overlapping windows add up)."""
    dy = as_float_array("dy", dy, 4)
    n, c, h, w = input_shape
    k, s, d, pads, out = _pool_geometry((n, c, h, w), kernel_size, stride, padding, 1, False)
    if dy.shape != (n, c, *out):
        raise ValueError(f"dy must have the pooled shape {(n, c, *out)}, got {dy.shape}")
    g = dy / _avg_divisor((n, c, h, w), k, s, d, pads, count_include_pad, dy.dtype)
    # the window sum is a depthwise convolution with a kernel of ones; its input gradient is dY's full
    # convolution with that kernel (see cnnlab.reference._conv)
    ones = np.ones((c, 1, *k), dtype=dy.dtype)
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    return _input_gradient(g, ones, padded, pads, s, d, c)
