"""Output-size arithmetic of convolution and pooling layers, one spatial dimension at a time.

The notes' rule is ``(W - F + 2P) / S + 1``; the helpers add dilation, floor/ceil rounding, transposed
convolution and TensorFlow "SAME" padding, and agree with what torch computes (tested against torch). The
arithmetic is :mod:`cnnlab._sizes`, shared with the NumPy reference engine; these are its symmetric-padding,
positional-argument forms.
"""

from __future__ import annotations

from cnnlab import _sizes
from cnnlab._sizes import check_int as _check


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution: ``floor((W + 2P - D(F - 1) - 1) / S) + 1``.

    With ``dilation=1`` this is the notes' ``(W - F + 2P) / S + 1``.

    Example:
        >>> conv_output_size(227, 11, stride=4)   # AlexNet's first layer
        55
    """
    return _sizes.conv_output_size(size, kernel, stride, padding, padding, dilation)


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of max/average pooling (``stride`` defaults to ``kernel``, as in torch).

    With ``ceil_mode`` the division rounds up, but the last window must start inside the input or the left
    padding (torch's rule).

    Example:
        >>> pool_output_size(112, 3, 2, ceil_mode=True)   # GoogLeNet's maxpool1
        56
    """
    return _sizes.pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution: ``(W - 1)S - 2P + D(F - 1) + output_padding + 1``.

    Example:
        >>> conv_transpose_output_size(7, 4, stride=2, padding=1)
        14
    """
    return _sizes.conv_transpose_output_size(size, kernel, stride, padding, padding, dilation, output_padding)


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one dimension, ``(before, after)``: the output is ``ceil(W / S)`` long and
    the odd pixel goes after (bottom/right).

    Example:
        >>> same_padding(224, 3, 2)
        (0, 1)
    """
    return _sizes.same_padding(size, kernel, stride, dilation)


def padding_for_output(size: int, out: int, kernel: int, stride: int = 1, dilation: int = 1) -> int:
    """The symmetric padding ``P`` that makes a convolution map ``size`` to ``out``.

    Example:
        >>> padding_for_output(28, 28, 5)   # LeNet-5's C1 on 28x28 images keeps the paper's 28x28 maps
        2
    """
    _check("input size", size, 1), _check("output size", out, 1), _check("kernel size", kernel, 1)
    _check("stride", stride, 1)
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
    _check("input size", size, 1), _check("output size", out, 1)
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]
