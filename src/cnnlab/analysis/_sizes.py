"""Output-size arithmetic of convolution and pooling layers, one spatial dimension at a time.

The notes' rule is ``(W - F + 2P) / S + 1``; the helpers add dilation, floor/ceil rounding, transposed
convolution and TensorFlow "SAME" padding, and agree with what torch computes (tested against torch).
"""

from __future__ import annotations

import math


def _check(name: str, value: int, minimum: int) -> int:
    # anything with __index__ is an integer: ints, and 0-d integer tensors from x.shape under jit tracing
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution: ``floor((W + 2P - D(F - 1) - 1) / S) + 1``.

    With ``dilation=1`` this is the notes' ``(W - F + 2P) / S + 1``.

    Example:
        >>> conv_output_size(227, 11, stride=4)   # AlexNet's first layer
        55
    """
    _check("size", size, 1), _check("kernel", kernel, 1), _check("stride", stride, 1)
    _check("padding", padding, 0), _check("dilation", dilation, 1)
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        raise ValueError(f"kernel {kernel} (dilation {dilation}) does not fit input {size} with padding {padding}")
    return span // stride + 1


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of max/average pooling (``stride`` defaults to ``kernel``, as in torch).

    With ``ceil_mode`` the division rounds up, but the last window must start inside the input or the left
    padding (torch's rule).

    Example:
        >>> pool_output_size(112, 3, 2, ceil_mode=True)   # GoogLeNet's maxpool1
        56
    """
    stride = kernel if stride is None else stride
    if padding > kernel // 2:
        raise ValueError(f"padding must be at most half the kernel ({kernel // 2}), got {padding}")
    if not ceil_mode:
        return conv_output_size(size, kernel, stride, padding, dilation)
    conv_output_size(size, kernel, stride, padding, dilation)  # checks the arguments
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window would start in the right padding
        out -= 1
    return out


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: ``(W - 1)S - 2P + D(F - 1) + output_padding + 1``.

    Example:
        >>> conv_transpose_output_size(7, 4, stride=2, padding=1)
        14
    """
    _check("size", size, 1), _check("kernel", kernel, 1), _check("stride", stride, 1)
    _check("padding", padding, 0), _check("dilation", dilation, 1), _check("output_padding", output_padding, 0)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding must be smaller than stride or dilation, got {output_padding}")
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension, ``(before, after)``: the output is ``ceil(W / S)`` long and
    the odd pixel goes after (bottom/right).

    Example:
        >>> same_padding(224, 3, 2)
        (0, 1)
    """
    _check("size", size, 1), _check("kernel", kernel, 1), _check("stride", stride, 1), _check("dilation", dilation, 1)
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def padding_for_output(size: int, out: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """The symmetric padding ``P`` that makes a convolution map ``size`` to ``out``.

    Example:
        >>> padding_for_output(28, 28, 5)   # LeNet-5's C1 on 28x28 images keeps the paper's 28x28 maps
        2
    """
    _check("size", size, 1), _check("out", out, 1), _check("kernel", kernel, 1), _check("stride", stride, 1)
    for p in range(0, dilation * (kernel - 1) + 1):
        if size + 2 * p >= dilation * (kernel - 1) + 1 and conv_output_size(size, kernel, stride, p, dilation) == out:
            return p
    raise ValueError(f"no symmetric padding maps {size} to {out} with kernel {kernel}, stride {stride}")


def adaptive_pool_bins(size: int, out: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` input range of every output unit of adaptive pooling (torch's bins).

    Example:
        >>> adaptive_pool_bins(5, 3)
        [(0, 2), (1, 4), (3, 5)]
    """
    _check("size", size, 1), _check("out", out, 1)
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]
