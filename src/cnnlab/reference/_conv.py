"""Convolution and transposed convolution, forward and backward, written with the notes' identities.

For ``Y = X ⋆ W + b`` (a cross-correlation, what ``torch.nn.Conv2d`` computes) and an upstream gradient
``dY = dL/dY``:

* ``dW = X ⋆ dY`` — the gradient with respect to the kernel is the **cross-correlation of the input with the
  upstream gradient** (batch summed; the forward's stride becomes the dilation of ``dY`` and its dilation
  becomes the stride);
* ``dX = dY * W`` — the gradient with respect to the input is the **full convolution of the upstream
  gradient with the kernel** (``dY`` spread back to the strided positions by inserting ``stride - 1`` zeros);
* ``db = sum of dY`` over batch and positions.

A transposed convolution swaps the two passes: its forward is the convolution's ``dX`` computation and its
backward to the input is the convolution's forward. It gives back the convolution's input shape.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab._checks import check_int
from cnnlab.reference._core import as_float_array, cross_correlate, dilate, full_convolve, pad2d, pair
from cnnlab.reference._sizes import conv_transpose_output_size, resolve_padding

__all__ = ["ConvGrads", "conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward"]


class ConvGrads(NamedTuple):
    """Gradients of a (transposed) convolution: ``dx`` like the input, ``dw`` like the kernel, ``db`` like the
    bias (``None`` when the layer has none)."""

    dx: np.ndarray
    dw: np.ndarray
    db: np.ndarray | None


def _check(x, w, groups, *, transposed: bool = False):
    x = as_float_array("x", x, 4)
    w = as_float_array("w", w, 4)
    check_int("groups", groups)
    c = x.shape[1]
    if transposed:
        if w.shape[0] != c or c % groups:
            raise ValueError(f"w must have shape [{c}, C_out // groups, kh, kw] for {c} input channels and "
                             f"groups={groups}, got {w.shape}")
    elif c % groups or w.shape[0] % groups or w.shape[1] * groups != c:
        raise ValueError(f"w must have shape [C_out, {c} // groups, kh, kw] with groups={groups} dividing both "
                         f"channel counts, got {w.shape}")
    return x, w, np.result_type(x, w)


def _bias(b, channels: int, dtype):
    if b is None:
        return None
    b = as_float_array("b", b, 1)
    if b.shape != (channels,):
        raise ValueError(f"b must have shape ({channels},), got {b.shape}")
    return b.astype(dtype, copy=False)


def _weight_gradient(xp: np.ndarray, g: np.ndarray, kernel_size, stride, dilation, groups: int) -> np.ndarray:
    """``dW = X ⋆ dY``: cross-correlate the padded input ``xp: [N, C, Hp, Wp]`` with the upstream gradient
    ``g: [N, O, Ho, Wo]``, summing over the batch -> ``[O, C // groups, kh, kw]``.

    The batch is the contracted "channel" axis: the input's channels play the batch, the gradient's channels
    play the kernels. A forward stride ``s`` means ``dY`` entries sit ``s`` apart on the input (dilation ``s``);
    a forward dilation ``d`` means neighbouring kernel taps sit ``d`` apart (stride ``d``).
    """
    n, c, hp, wp = xp.shape
    o, ho, wo = g.shape[1:]
    cg, og = c // groups, o // groups
    x_t = xp.reshape(n, groups, cg, hp, wp).transpose(2, 1, 0, 3, 4).reshape(cg, groups * n, hp, wp)
    g_t = g.reshape(n, groups, og, ho, wo).transpose(1, 2, 0, 3, 4).reshape(groups * og, n, ho, wo)
    dw = cross_correlate(x_t, g_t, stride=dilation, dilation=stride, groups=groups)  # [Cg, O, >= kh, >= kw]
    kh, kw = kernel_size
    return dw[:, :, :kh, :kw].transpose(1, 0, 2, 3)


def _input_gradient(g: np.ndarray, w: np.ndarray, padded_size, pads, stride, dilation, groups: int) -> np.ndarray:
    """``dX = dY * W``: full convolution of the stride-dilated upstream gradient with the kernel, cropped from
    the padded input's frame to the input's."""
    dxp = full_convolve(dilate(g, stride), w, dilation=dilation, groups=groups)
    hp, wp = padded_size
    (t, b), (l, r) = pads
    # rows / columns of the padded input that no window reached (floor in the output size) get no gradient
    dxp = pad2d(dxp, ((0, max(hp - dxp.shape[2], 0)), (0, max(wp - dxp.shape[3], 0))))
    return dxp[:, :, t:hp - b, l:wp - r]


def conv2d(x, w, b=None, *, stride=1, padding="valid", dilation=1, groups: int = 1) -> np.ndarray:
    """2-D convolution layer (a cross-correlation, as in ``torch.nn.functional.conv2d``).

    Args:
        x: ``[N, C, H, W]`` float32 or float64.
        w: ``[O, C // groups, kh, kw]``.
        b: ``[O]`` or ``None``.
        stride, dilation: int or ``(h, w)``.
        padding: ``"valid"`` (none), ``"same"`` (output ``ceil(H / stride)``), ``"full"``
            (``dilation * (k - 1)`` each side), an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
        groups: channel groups (``groups == C`` is a depthwise convolution).

    Returns:
        ``[N, O, Ho, Wo]`` (sizes: ``cnnlab.reference.conv_output_size``).

    Example:
        >>> x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3))
        >>> conv2d(x, w, padding="same", stride=2).shape
        (1, 1, 3, 3)
    """
    x, w, dtype = _check(x, w, groups)
    stride, dilation = pair("stride", stride), pair("dilation", dilation)
    pads = resolve_padding(padding, w.shape[2:], input_size=x.shape[2:], stride=stride, dilation=dilation)
    y = cross_correlate(pad2d(x.astype(dtype, copy=False), pads), w.astype(dtype, copy=False), stride=stride,
                        dilation=dilation, groups=groups)
    b = _bias(b, w.shape[0], dtype)
    return y if b is None else y + b[:, None, None]


def conv2d_backward(dy, x, w, *, bias: bool = True, stride=1, padding="valid", dilation=1,
                    groups: int = 1) -> ConvGrads:
    """Gradients of ``conv2d`` given the upstream gradient ``dy = dL/dY: [N, O, Ho, Wo]``.

    ``dw = x ⋆ dy`` (cross-correlation of the input with the upstream gradient) and ``dx = dy * w`` (full
    convolution of the upstream gradient with the kernel); ``db = dy.sum((0, 2, 3))`` when ``bias``. The other
    arguments are ``conv2d``'s.

    Example:
        >>> x, w = np.random.rand(2, 3, 6, 6), np.random.rand(4, 3, 3, 3)
        >>> g = conv2d_backward(np.ones((2, 4, 6, 6)), x, w, padding="same")
        >>> g.dx.shape, g.dw.shape, g.db.shape
        ((2, 3, 6, 6), (4, 3, 3, 3), (4,))
    """
    x, w, dtype = _check(x, w, groups)
    stride, dilation = pair("stride", stride), pair("dilation", dilation)
    pads = resolve_padding(padding, w.shape[2:], input_size=x.shape[2:], stride=stride, dilation=dilation)
    xp = pad2d(x.astype(dtype, copy=False), pads)
    dy = as_float_array("dy", dy, 4).astype(dtype, copy=False)
    ho = (xp.shape[2] - dilation[0] * (w.shape[2] - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dilation[1] * (w.shape[3] - 1) - 1) // stride[1] + 1
    if dy.shape != (x.shape[0], w.shape[0], ho, wo):
        raise ValueError(f"dy must have the output's shape {(x.shape[0], w.shape[0], ho, wo)}, got {dy.shape}")
    dw = _weight_gradient(xp, dy, w.shape[2:], stride, dilation, groups)
    dx = _input_gradient(dy, w.astype(dtype, copy=False), xp.shape[2:], pads, stride, dilation, groups)
    return ConvGrads(dx, dw, dy.sum(axis=(0, 2, 3)) if bias else None)


def _transpose_geometry(x, w, stride, padding, output_padding, dilation):
    """``(stride, dilation, pads, (Ho, Wo))`` of a transposed convolution: pads the explicit
    ``((top, bottom), (left, right))`` padding of the convolution it transposes, ``(Ho, Wo)`` its output size."""
    if isinstance(padding, str):
        raise ValueError(f"conv_transpose2d takes the explicit padding of the convolution it transposes, "
                         f"got {padding!r}")
    stride, dilation = pair("stride", stride), pair("dilation", dilation)
    pads = resolve_padding(padding, (1, 1))
    op = output_padding if isinstance(output_padding, tuple | list) else (output_padding, output_padding)
    sizes = tuple(conv_transpose_output_size(x.shape[2 + a], w.shape[2 + a], padding=pads[a], stride=stride[a],
                                             dilation=dilation[a], output_padding=op[a]) for a in (0, 1))
    return stride, dilation, pads, sizes


def conv_transpose2d(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                     groups: int = 1) -> np.ndarray:
    """2-D transposed convolution (``torch.nn.functional.conv_transpose2d``): the backward pass of ``conv2d``
    used as a forward pass.

    It maps a convolution's output shape back to its input shape: with the convolution's ``stride``,
    ``padding`` and ``dilation`` and ``output_padding = transpose_output_padding(H, ...)``,
    ``conv_transpose2d(conv2d(x, w), w).shape == x.shape``. Each input value is broadcast through the kernel
    (a full convolution of the stride-dilated input), instead of windows being reduced to one value.

    Args:
        x: ``[N, C_in, H, W]``.
        w: ``[C_in, C_out // groups, kh, kw]`` (the convolution's kernel, whose outputs are our inputs).
        b: ``[C_out]`` or ``None``.
        stride, dilation: int or ``(h, w)``.
        padding: the transposed convolution's (explicit) padding: an int, ``(ph, pw)`` or pairs; removed from
            the output's border.
        output_padding: int or ``(h, w)``, extra rows / columns at the bottom / right, ``< max(stride,
            dilation)``.
        groups: channel groups.

    Returns:
        ``[N, C_out, (H - 1) * s - 2 p + d * (kh - 1) + output_padding + 1, ...]``.
    """
    x, w, dtype = _check(x, w, groups, transposed=True)
    stride, dilation, pads, sizes = _transpose_geometry(x, w, stride, padding, output_padding, dilation)
    padded = (sizes[0] + sum(pads[0]), sizes[1] + sum(pads[1]))
    y = _input_gradient(x, w.astype(dtype, copy=False), padded, pads, stride, dilation, groups)
    b = _bias(b, w.shape[1] * groups, dtype)
    return y if b is None else y + b[:, None, None]


def conv_transpose2d_backward(dy, x, w, *, bias: bool = True, stride=1, padding=0, output_padding=0, dilation=1,
                              groups: int = 1) -> ConvGrads:
    """Gradients of ``conv_transpose2d``: the convolution's passes swapped back.

    ``dx`` is the *forward* convolution of ``dy`` with ``w`` (a cross-correlation), and ``dw`` is the
    convolution's kernel gradient with the roles exchanged: ``dy`` plays the input and ``x`` the upstream
    gradient (``dw = dy ⋆ x``).
    """
    x, w, dtype = _check(x, w, groups, transposed=True)
    stride, dilation, pads, sizes = _transpose_geometry(x, w, stride, padding, output_padding, dilation)
    dy = as_float_array("dy", dy, 4).astype(dtype, copy=False)
    if dy.shape != (x.shape[0], w.shape[1] * groups, *sizes):
        raise ValueError(f"dy must have the output's shape {(x.shape[0], w.shape[1] * groups, *sizes)}, "
                         f"got {dy.shape}")
    w = w.astype(dtype, copy=False)
    dyp = pad2d(dy, pads)
    h, wd = x.shape[2:]
    dx = cross_correlate(dyp, w, stride=stride, dilation=dilation, groups=groups)[:, :, :h, :wd]
    dw = _weight_gradient(dyp, x.astype(dtype, copy=False), w.shape[2:], stride, dilation, groups)
    return ConvGrads(dx, dw, dy.sum(axis=(0, 2, 3)) if bias else None)
