"""The locally connected layer: a convolution whose weights are *not* shared across positions.

Every output position ``(i, j)`` has its own kernel ``w[i, j]: [O, C, kh, kw]`` and its own bias. Same
receptive fields as a convolution, ``Ho * Wo`` times its parameters (the notes: no weight sharing means many
more parameters, less efficiency and more overfitting; no translation equivariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab._checks import check_int
from cnnlab.reference._core import as_float_array, pad2d, pair, windows
from cnnlab.reference._sizes import conv_output_size, resolve_padding

__all__ = [
    "ParameterCounts",
    "locally_connected2d",
    "locally_connected2d_backward",
    "parameter_counts",
]


def _geometry(x_shape, w_shape, stride, padding, dilation):
    if len(w_shape) != 6:
        raise ValueError(f"w must have shape [Ho, Wo, O, C, kh, kw], got {w_shape}")
    s, d = pair("stride", stride), pair("dilation", dilation)
    pads = resolve_padding(padding, w_shape[4:], input_size=x_shape[2:], stride=s, dilation=d)
    out = tuple(conv_output_size(x_shape[2 + a], w_shape[4 + a], padding=pads[a], stride=s[a], dilation=d[a])
                for a in (0, 1))
    if tuple(w_shape[:2]) != out or w_shape[3] != x_shape[1]:
        raise ValueError(f"w must have shape {(*out, w_shape[2], x_shape[1], *w_shape[4:])} for input "
                         f"{tuple(x_shape)}, got {tuple(w_shape)}")
    return s, d, pads


def locally_connected2d(x, w, b=None, *, stride=1, padding="valid", dilation=1) -> np.ndarray:
    """Locally connected layer: ``y[n, o, i, j] = sum_{c,a,b} window(x)[n, c, i, j, a, b] * w[i, j, o, c, a, b]
    + b[o, i, j]``.

    Args:
        x: ``[N, C, H, W]``.
        w: ``[Ho, Wo, O, C, kh, kw]``, one kernel per output position.
        b: ``[O, Ho, Wo]`` or ``None``.
        stride, padding, dilation: as ``conv2d``.

    Example:
        >>> x = np.random.rand(2, 3, 6, 6)
        >>> locally_connected2d(x, np.random.rand(4, 4, 5, 3, 3, 3)).shape
        (2, 5, 4, 4)
    """
    x, w = as_float_array("x", x, 4), as_float_array("w", w)
    s, d, pads = _geometry(x.shape, w.shape, stride, padding, dilation)
    win = windows(pad2d(x, pads), w.shape[4:], s, d)                  # [N, C, Ho, Wo, kh, kw]
    # position-wise contraction: a batched matmul over the Ho * Wo positions
    y = np.einsum("ncijab,ijocab->noij", win, w, optimize=True)
    if b is not None:
        b = as_float_array("b", b, 3)
        if b.shape != y.shape[1:]:
            raise ValueError(f"b must have shape {y.shape[1:]}, got {b.shape}")
        y = y + b
    return y


def locally_connected2d_backward(dy, x, w, *, bias: bool = True, stride=1, padding="valid", dilation=1):
    """Gradients ``(dx, dw, db)`` of ``locally_connected2d``.

    ``dw[i, j]`` is the window at ``(i, j)`` times the upstream gradient there (the cross-correlation of the
    input with the gradient, without the sum over positions that weight sharing brings); ``dx`` adds each
    position's kernel, weighted by its upstream gradient, back onto its window (col2im: one vectorised
    scatter-add per kernel tap, not per pixel).
    """
    x, w, dy = as_float_array("x", x, 4), as_float_array("w", w), as_float_array("dy", dy, 4)
    s, d, pads = _geometry(x.shape, w.shape, stride, padding, dilation)
    xp = pad2d(x, pads)
    ho, wo, o, c, kh, kw = w.shape
    if dy.shape != (x.shape[0], o, ho, wo):
        raise ValueError(f"dy must have shape {(x.shape[0], o, ho, wo)}, got {dy.shape}")
    win = windows(xp, (kh, kw), s, d)
    dw = np.einsum("ncijab,noij->ijocab", win, dy, optimize=True)
    dwin = np.einsum("noij,ijocab->ncijab", dy, w, optimize=True)      # gradient of each window
    dxp = np.zeros_like(xp)
    for a in range(kh):
        for bb in range(kw):
            rows = slice(a * d[0], a * d[0] + (ho - 1) * s[0] + 1, s[0])
            cols = slice(bb * d[1], bb * d[1] + (wo - 1) * s[1] + 1, s[1])
            dxp[:, :, rows, cols] += dwin[..., a, bb]
    (t, bot), (l, r) = pads
    dx = dxp[:, :, t:xp.shape[2] - bot, l:xp.shape[3] - r]
    return dx, dw, (dy.sum(axis=0) if bias else None)


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters of a convolution and of the locally connected layer with the same shapes."""

    conv: int
    locally_connected: int
    output_size: tuple[int, int]

    @property
    def ratio(self) -> float:
        """How many times more parameters the unshared layer has (``Ho * Wo`` with biases on both sides)."""
        return self.locally_connected / self.conv


def parameter_counts(in_channels: int, out_channels: int, kernel_size, input_size, *, stride=1, padding="valid",
                     dilation=1, bias: bool = True) -> ParameterCounts:
    """Parameter counts of a conv layer, ``(kh * kw * C + 1) * O``, and of the locally connected layer with the
    same shapes, ``Ho * Wo * (kh * kw * C + 1) * O``.

    Example:
        >>> p = parameter_counts(3, 16, 3, (32, 32), padding="same")
        >>> p.conv, p.locally_connected, p.ratio
        (448, 458752, 1024.0)
    """
    k, hw = pair("kernel_size", kernel_size), pair("input_size", input_size)
    s, d = pair("stride", stride), pair("dilation", dilation)
    for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
        check_int(name, v)
    pads = resolve_padding(padding, k, input_size=hw, stride=s, dilation=d)
    out = tuple(conv_output_size(hw[a], k[a], padding=pads[a], stride=s[a], dilation=d[a]) for a in (0, 1))
    per_kernel = k[0] * k[1] * in_channels + int(bias)
    return ParameterCounts(per_kernel * out_channels, out[0] * out[1] * per_kernel * out_channels, out)
