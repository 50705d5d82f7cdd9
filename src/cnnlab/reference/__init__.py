"""A readable NumPy reference engine for convolutional layers (float32 and float64), checked against PyTorch.

It shows how a convolution layer computes and how its gradients flow, with the identities of the notes
written as code:

* the modes: valid, same, full, strided and dilated convolution, and their output sizes
  (``conv_output_size``, ``resolve_padding``);
* ``dW = X ⋆ dY``: the kernel gradient is the cross-correlation of the input with the upstream gradient;
  ``dX = dY * W``: the input gradient is the full convolution of the upstream gradient with the kernel
  (``cross_correlate``, ``full_convolve``, ``conv2d_backward``);
* a transposed convolution swaps the forward and backward passes and gives back the input's shape
  (``conv_transpose2d``);
* max unpooling remembers where the maximum was (``max_pool2d`` switches, ``max_unpool2d``);
* locally connected layers don't share weights (``locally_connected2d``, ``parameter_counts``).

Everything is vectorised (strided window views, im2col, BLAS matrix products), never a Python loop over pixels.

Example:
    >>> import numpy as np
    >>> from cnnlab import reference as ref
    >>> x, w = np.random.rand(2, 3, 8, 8), np.random.rand(4, 3, 3, 3)
    >>> y = ref.conv2d(x, w, padding="same", stride=2)              # [2, 4, 4, 4]
    >>> dx, dw, db = ref.conv2d_backward(np.ones_like(y), x, w, padding="same", stride=2)
"""

from cnnlab.reference._activations import (
    linear,
    linear_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax_cross_entropy,
    tanh,
    tanh_backward,
)
from cnnlab.reference._conv import ConvGrads, conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from cnnlab.reference._core import cross_correlate, dilate, full_convolve, pad2d, windows
from cnnlab.reference._demo import ConvDemo, Identity, conv_demo
from cnnlab.reference._local import ParameterCounts, locally_connected2d, locally_connected2d_backward, parameter_counts
from cnnlab.reference._net import (
    SGD,
    Conv2d,
    DigitsConfig,
    DigitsResult,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    Sigmoid,
    digits_cnn,
    train_digits,
)
from cnnlab.reference._pool import (
    MaxPoolResult,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool2d,
    max_unpool2d_backward,
)
from cnnlab.reference._saturation import SaturationConfig, SaturationResult, plot_saturation, saturation_demo
from cnnlab.reference._sizes import (
    MODES,
    conv_output_size,
    conv_transpose_output_size,
    pool_output_size,
    resolve_padding,
    same_padding,
    transpose_output_padding,
)

__all__ = [
    "MODES",
    "SGD",
    "Conv2d",
    "ConvDemo",
    "ConvGrads",
    "DigitsConfig",
    "DigitsResult",
    "Flatten",
    "Identity",
    "Linear",
    "MaxPool2d",
    "MaxPoolResult",
    "ParameterCounts",
    "ReLU",
    "SaturationConfig",
    "SaturationResult",
    "Sequential",
    "Sigmoid",
    "avg_pool2d",
    "avg_pool2d_backward",
    "conv2d",
    "conv2d_backward",
    "conv_demo",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "conv_transpose_output_size",
    "cross_correlate",
    "digits_cnn",
    "dilate",
    "full_convolve",
    "linear",
    "linear_backward",
    "locally_connected2d",
    "locally_connected2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "pad2d",
    "parameter_counts",
    "plot_saturation",
    "pool_output_size",
    "relu",
    "relu_backward",
    "resolve_padding",
    "same_padding",
    "saturation_demo",
    "sigmoid",
    "sigmoid_backward",
    "softmax_cross_entropy",
    "tanh",
    "tanh_backward",
    "train_digits",
    "transpose_output_padding",
    "windows",
]
