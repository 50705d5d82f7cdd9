"""A small worked example of one convolution, its two gradients and the identity each satisfies.

Integer inputs, kernel and upstream gradient make every number exact. Each identity is checked against the
convolution written as a dense matrix built from the definition (index arithmetic, no convolution code):
``y = M x`` and, because the layer is linear in both its input and its kernel, ``dX = M^T dY`` and
``dW = A^T dY``, where ``A`` is the matrix of ``w -> y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab._checks import check_int
from cnnlab.reference._conv import conv2d, conv2d_backward, conv_transpose2d
from cnnlab.reference._core import cross_correlate, dilate, full_convolve, pad2d
from cnnlab.reference._sizes import conv_output_size, resolve_padding, transpose_output_padding

__all__ = ["ConvDemo", "Identity", "conv_demo"]


@dataclass(frozen=True)
class Identity:
    """One checked statement: ``formula`` (computed with the engine's primitives) equals ``check`` (from the
    dense matrices ``M`` of ``x -> y`` and ``A`` of ``w -> y``) up to ``max_abs_error``."""

    name: str
    formula: str
    check: str
    max_abs_error: float

    @property
    def holds(self) -> bool:
        return self.max_abs_error <= 1e-9


@dataclass(frozen=True)
class ConvDemo:
    """The worked example: 2-D arrays (one image, one channel) and the identities."""

    mode: str
    stride: int
    dilation: int
    padding: tuple[tuple[int, int], tuple[int, int]]
    x: np.ndarray
    w: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    dw: np.ndarray
    identities: list[Identity]


def _dense_matrices(x: np.ndarray, kernel_size: int, pads, stride: int, dilation: int):
    """``M`` (``y = M x.ravel()`` for the fixed kernel) needs the kernel, ``A`` (``y = A w.ravel()``) the input:
    both from the definition ``y[i, j] = sum_{a,b} xpad[i s + a d, j s + b d] w[a, b]``."""
    h, wd = x.shape
    (t, _), (l, _) = pads
    xp = np.pad(x, pads)
    ho = (xp.shape[0] - dilation * (kernel_size - 1) - 1) // stride + 1
    wo = (xp.shape[1] - dilation * (kernel_size - 1) - 1) // stride + 1
    i, j, a, b = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(kernel_size), np.arange(kernel_size),
                             indexing="ij")
    rows, cols = i * stride + a * dilation, j * stride + b * dilation   # in the padded frame
    out_idx, tap_idx = i * wo + j, a * kernel_size + b
    A = np.zeros((ho * wo, kernel_size * kernel_size))
    np.add.at(A, (out_idx.ravel(), tap_idx.ravel()), xp[rows, cols].ravel())
    inside = (rows >= t) & (rows < t + h) & (cols >= l) & (cols < l + wd)   # taps on padding add nothing
    in_idx = (rows - t) * wd + (cols - l)

    def M(w: np.ndarray) -> np.ndarray:
        m = np.zeros((ho * wo, h * wd))
        np.add.at(m, (out_idx[inside], in_idx[inside]), np.broadcast_to(w[a, b], a.shape)[inside])
        return m

    return M, A, (ho, wo)


def conv_demo(*, size: int = 5, kernel: int = 3, mode: str = "same", stride: int = 1, dilation: int = 1,
              seed: int = 0) -> ConvDemo:
    """A ``size x size`` integer image convolved with a ``kernel x kernel`` integer kernel, an integer upstream
    gradient, both gradients, and the identities they satisfy (each checked, see ``ConvDemo.identities``).

    Args:
        size, kernel: input and kernel side (1..32 and 1..9).
        mode: ``"valid"``, ``"same"`` or ``"full"``.
        stride, dilation: positive ints.
        seed: for the integers.

    Example:
        >>> d = conv_demo(mode="same", stride=2)
        >>> d.y.shape, all(i.holds for i in d.identities)
        ((3, 3), True)
    """
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be 'valid', 'same' or 'full', got {mode!r}")
    for name, v, hi in (("size", size, 32), ("kernel", kernel, 9), ("stride", stride, 8), ("dilation", dilation, 8)):
        check_int(name, v, 1, hi)
    extent = dilation * (kernel - 1) + 1
    if mode == "valid" and extent > size:
        raise ValueError(f"kernel extent {extent} (kernel {kernel}, dilation {dilation}) is larger than the "
                         f"input size {size} for a valid convolution")
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, (size, size)).astype(np.float64)
    w = rng.integers(-2, 3, (kernel, kernel)).astype(np.float64)
    pads = resolve_padding(mode, (kernel, kernel), input_size=(size, size), stride=(stride, stride),
                           dilation=(dilation, dilation))
    opts = {"stride": stride, "padding": pads, "dilation": dilation}
    y = conv2d(x[None, None], w[None, None], **opts)[0, 0]
    dy = rng.integers(-3, 4, y.shape).astype(np.float64)
    dx, dw, _ = conv2d_backward(dy[None, None], x[None, None], w[None, None], bias=False, **opts)
    dx, dw = dx[0, 0], dw[0, 0]

    M, A, out_shape = _dense_matrices(x, kernel, pads, stride, dilation)
    assert out_shape == y.shape == (conv_output_size(size, kernel, padding=mode, stride=stride, dilation=dilation),) * 2
    xp = pad2d(x[None, None], pads)
    # the identities, written out with the two primitives
    dw_cc = cross_correlate(xp.transpose(1, 0, 2, 3), dy[None, None], stride=dilation, dilation=stride)
    dw_cc = dw_cc[0, 0, :kernel, :kernel]
    dx_full = full_convolve(dilate(dy[None, None], (stride, stride)), w[None, None], dilation=dilation)[0, 0]
    grow = (max(xp.shape[2] - dx_full.shape[0], 0), max(xp.shape[3] - dx_full.shape[1], 0))
    dx_full = np.pad(dx_full, ((0, grow[0]), (0, grow[1])))  # padded rows no window reached
    (t, b), (l, r) = pads
    dx_full = dx_full[t:xp.shape[2] - b, l:xp.shape[3] - r]
    op = tuple(transpose_output_padding(size, kernel, padding=pads[a], stride=stride, dilation=dilation)
               for a in (0, 1))
    tconv = conv_transpose2d(dy[None, None], w[None, None], stride=stride, padding=pads, dilation=dilation,
                             output_padding=op)[0, 0]
    tconv_y = conv_transpose2d(y[None, None], w[None, None], stride=stride, padding=pads, dilation=dilation,
                               output_padding=op)[0, 0]

    def err(a, b):
        return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).max()) if np.shape(a) == np.shape(b) \
            else float("inf")

    ids = [
        Identity("forward", "y = x ⋆ w (cross-correlation)", "M x", err(y.ravel(), M(w) @ x.ravel())),
        Identity("kernel gradient", "dW = x ⋆ dY (input cross-correlated with upstream gradient)", "A^T dY",
                 err(dw_cc.ravel(), A.T @ dy.ravel()) + err(dw, dw_cc)),
        Identity("input gradient", "dX = dY * w (full convolution of upstream gradient with kernel)", "M^T dY",
                 err(dx_full.ravel(), M(w).T @ dy.ravel()) + err(dx, dx_full)),
        Identity("transposed conv", "conv_transpose2d(dY, w)", "dX", err(tconv, dx)),
        Identity("shape", "conv_transpose2d(y, w).shape", f"x.shape {x.shape}",
                 0.0 if tconv_y.shape == x.shape else float("inf")),
    ]
    return ConvDemo(mode, stride, dilation, pads, x, w, y, dy, dx, dw, ids)
