"""Element-wise activations, the fully connected layer and the softmax cross-entropy loss, with gradients.

Sigmoid saturates at both ends (its derivative ``y (1 - y)`` is at most 1/4 and vanishes for large ``|x|``);
ReLU's derivative is exactly 1 wherever the unit is active, which is why gradients survive deep ReLU stacks
(``cnnlab.reference.saturation_demo``).
"""

from __future__ import annotations

import numpy as np

from cnnlab.reference._core import as_float_array

__all__ = [
    "linear",
    "linear_backward",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax_cross_entropy",
    "tanh",
    "tanh_backward",
]


def relu(x) -> np.ndarray:
    """``max(x, 0)``."""
    x = as_float_array("x", x)
    return np.maximum(x, 0)


def relu_backward(dy, x) -> np.ndarray:
    """``dy * [x > 0]`` (the subgradient 0 at ``x == 0``, as torch)."""
    x, dy = as_float_array("x", x), as_float_array("dy", dy)
    return dy * (x > 0)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    x = as_float_array("x", x)
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(dy, y) -> np.ndarray:
    """``dy * y * (1 - y)`` with ``y = sigmoid(x)`` (the forward output, not its input)."""
    y, dy = as_float_array("y", y), as_float_array("dy", dy)
    return dy * y * (1 - y)


def tanh(x) -> np.ndarray:
    """``tanh(x)``."""
    return np.tanh(as_float_array("x", x))


def tanh_backward(dy, y) -> np.ndarray:
    """``dy * (1 - y^2)`` with ``y = tanh(x)``."""
    y, dy = as_float_array("y", y), as_float_array("dy", dy)
    return dy * (1 - y * y)


def linear(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b``: ``x: [N, in]``, ``w: [out, in]`` (``torch.nn.Linear``'s layout)."""
    x, w = as_float_array("x", x, 2), as_float_array("w", w, 2)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but w expects {w.shape[1]}")
    y = x @ w.T
    return y if b is None else y + as_float_array("b", b, 1)


def linear_backward(dy, x, w, *, bias: bool = True):
    """``(dx, dw, db) = (dy @ w, dy.T @ x, dy.sum(0))``."""
    dy, x, w = as_float_array("dy", dy, 2), as_float_array("x", x, 2), as_float_array("w", w, 2)
    return dy @ w, dy.T @ x, (dy.sum(axis=0) if bias else None)


def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits: [N, K]`` against integer ``labels: [N]`` and its gradient
    ``(softmax - onehot) / N`` (log-sum-exp shifted by the row maximum: no overflow)."""
    logits = as_float_array("logits", logits, 2)
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {logits.shape[0]} integers, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}]")
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1
    return float(loss), grad / n
