"""Thin layer objects over the reference functions, a sequential network, SGD with momentum, and a small CNN
trained on scikit-learn's 8x8 digits — the proof that the engine's gradients learn.

Each layer stores its hyperparameters and parameters, caches what its backward needs, and delegates in one
line to the functions of ``cnnlab.reference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnlab._checks import check_choice, check_int, check_number, check_positive
from cnnlab.reference._activations import (
    linear,
    linear_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax_cross_entropy,
)
from cnnlab.reference._conv import conv2d, conv2d_backward
from cnnlab.reference._pool import max_pool2d, max_pool2d_backward

__all__ = [
    "Conv2d",
    "DigitsConfig",
    "DigitsResult",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "digits_cnn",
    "train_digits",
]


class Layer:
    """A layer: ``forward(x)`` caches, ``backward(dy)`` returns ``dx`` and fills ``grads`` (same keys as
    ``params``)."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]

    def __init__(self) -> None:
        self.params, self.grads = {}, {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Conv2d(Layer):
    """``conv2d`` with He-normal weights and a zero bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride=1, padding="same",
                 dilation=1, rng: np.random.Generator | None = None, dtype=np.float32) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in = in_channels * kernel_size * kernel_size
        self.params["w"] = (rng.standard_normal((out_channels, in_channels, kernel_size, kernel_size))
                            * np.sqrt(2 / fan_in)).astype(dtype)
        self.params["b"] = np.zeros(out_channels, dtype=dtype)
        self.options = {"stride": stride, "padding": padding, "dilation": dilation}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return conv2d(x, self.params["w"], self.params["b"], **self.options)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, self.grads["w"], self.grads["b"] = conv2d_backward(dy, self._x, self.params["w"], **self.options)
        return dx

    def __repr__(self) -> str:
        o, c, k, _ = self.params["w"].shape
        opts = ", ".join(f"{k_}={v!r}" for k_, v in self.options.items())
        return f"Conv2d({c}, {o}, {k}, {opts})"


class Linear(Layer):
    """``linear`` with He-normal weights and a zero bias."""

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator | None = None,
                 dtype=np.float32) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["w"] = (rng.standard_normal((out_features, in_features)) * np.sqrt(2 / in_features)).astype(dtype)
        self.params["b"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return linear(x, self.params["w"], self.params["b"])

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dx, self.grads["w"], self.grads["b"] = linear_backward(dy, self._x, self.params["w"])
        return dx

    def __repr__(self) -> str:
        return f"Linear({self.params['w'].shape[1]}, {self.params['w'].shape[0]})"


class ReLU(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return relu(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return relu_backward(dy, self._x)


class Sigmoid(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = sigmoid(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return sigmoid_backward(dy, self._y)


class MaxPool2d(Layer):
    """``max_pool2d``; the backward routes through the switches."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        y, self._switches = max_pool2d(x, self.kernel_size, self.stride)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return max_pool2d_backward(dy, self._switches, self._shape)

    def __repr__(self) -> str:
        return f"MaxPool2d({self.kernel_size}, stride={self.stride})"


class Flatten(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._shape)


class Sequential(Layer):
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(param, grad)`` pairs after a backward pass."""
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def __repr__(self) -> str:
        return "Sequential(\n" + "".join(f"  {layer!r},\n" for layer in self.layers) + ")"


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, as ``torch.optim.SGD``:
    ``v = momentum * v + (g + weight_decay * p)``, ``p -= lr * v``."""

    def __init__(self, lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        check_positive("lr", lr)  # NaN compares false with every bound: refused here
        check_number("momentum", momentum, minimum=0, maximum=1, open_max=True)
        check_number("weight_decay", weight_decay, minimum=0)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self._velocity: dict[int, np.ndarray] = {}

    def step(self, model: Sequential) -> None:
        for p, g in model.parameters():
            g = g + self.weight_decay * p if self.weight_decay else g
            v = self._velocity.get(id(p))
            v = g.copy() if v is None else self.momentum * v + g
            self._velocity[id(p)] = v
            p -= self.lr * v  # in place: the layer sees the update

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay})"


def digits_cnn(*, seed: int = 0, dtype=np.float32) -> Sequential:
    """The small CNN for 8x8 digits: conv 3x3 1->16, ReLU, max-pool 2, conv 3x3 16->32, ReLU, max-pool 2,
    linear 128->10 (6,090 parameters)."""
    rng = np.random.default_rng(seed)
    return Sequential(
        Conv2d(1, 16, 3, padding="same", rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),     # [N, 16, 4, 4]
        Conv2d(16, 32, 3, padding="same", rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),    # [N, 32, 2, 2]
        Flatten(), Linear(128, 10, rng=rng, dtype=dtype),
    )


@dataclass
class DigitsConfig:
    """Settings of ``train_digits``."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    test_fraction: float = 0.25
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_positive("lr", self.lr)  # NaN would train to NaN weights with exit 0
        check_number("momentum", self.momentum, minimum=0, maximum=1, open_max=True)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_number("test_fraction", self.test_fraction, minimum=0, maximum=1, open_min=True, open_max=True)
        check_choice("dtype", self.dtype, ("float32", "float64"))


@dataclass
class DigitsResult:
    """What ``train_digits`` returns: the trained network, per-epoch ``(epoch, loss, train acc, test acc)``."""

    model: Sequential
    history: list[tuple[int, float, float, float]] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.history[-1][3]


def _accuracy(model: Sequential, x: np.ndarray, y: np.ndarray, batch: int = 512) -> float:
    pred = np.concatenate([model.forward(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return float((pred == y).mean())


def train_digits(config: DigitsConfig | None = None) -> DigitsResult:
    """Train ``digits_cnn`` with SGD + momentum on scikit-learn's 1,797 digits (pixels scaled to [0, 1]; a
    seeded 75 / 25 split) using only the reference layers.

    Example:
        >>> result = train_digits(DigitsConfig(epochs=12))
        >>> result.test_accuracy > 0.95
        True
    """
    from sklearn.datasets import load_digits

    cfg = config or DigitsConfig()
    cfg.__post_init__()  # a config changed after it was made is checked again
    dtype = np.dtype(cfg.dtype)
    d = load_digits()
    x = (d.images / 16.0).astype(dtype)[:, None]                       # [1797, 1, 8, 8]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(len(y))
    n_test = int(round(len(y) * cfg.test_fraction))
    test, train = perm[:n_test], perm[n_test:]
    model = digits_cnn(seed=cfg.seed, dtype=dtype)
    opt = SGD(cfg.lr, cfg.momentum, cfg.weight_decay)
    result = DigitsResult(model)
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(train)
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss, dlogits = softmax_cross_entropy(model.forward(x[idx]), y[idx])
            model.backward(dlogits.astype(dtype, copy=False))
            opt.step(model)
            losses.append(loss)
        result.history.append((epoch, float(np.mean(losses)), _accuracy(model, x[train], y[train]),
                               _accuracy(model, x[test], y[test])))
    return result
