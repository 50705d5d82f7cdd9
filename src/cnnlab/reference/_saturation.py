"""The saturation demo: gradient norms per layer through a deep convolution stack, sigmoid against ReLU.

The notes: sigmoid "saturates in the two extremes", where its gradient vanishes, so "you will not get
sufficient information" to update the early layers; ReLU circumvents this. Backpropagation multiplies by the
activation's derivative at every layer — at most 1/4 for sigmoid, exactly 0 or 1 for ReLU — so the same
upstream gradient reaches the first layers of a sigmoid stack many orders of magnitude smaller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab._checks import check_int, check_positive
from cnnlab.reference._net import Conv2d, ReLU, Sequential, Sigmoid

__all__ = ["SaturationConfig", "SaturationResult", "plot_saturation", "saturation_demo"]


@dataclass
class SaturationConfig:
    """A stack of ``depth`` conv 3x3 ('same') + activation layers on random ``[batch, channels, size, size]``
    inputs, He-normal weights (times ``weight_scale``; larger weights push sigmoid units into saturation)
    drawn once and shared by both activations; the upstream gradient at the top is the same random tensor for
    both."""

    depth: int = 12
    channels: int = 8
    size: int = 12
    batch: int = 4
    weight_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "channels", "size", "batch"):
            check_int(name, getattr(self, name))
        check_positive("weight_scale", self.weight_scale)  # NaN would give NaN gradients with exit 0


@dataclass
class SaturationResult:
    """``grad_norms[activation][l]``: Frobenius norm of ``dL/dW`` of conv layer ``l + 1`` (layer 1 is next to
    the input); ``mean_derivative[activation][l]``: the mean of that layer's activation derivative (the factor
    backpropagation multiplies by: ``y (1 - y) <= 1/4`` for sigmoid, 0 or 1 for ReLU); ``saturated[activation]
    [l]``: the fraction of units whose derivative is below 1 % of its maximum (sigmoid ``y (1 - y) < 0.0025``,
    ReLU inactive)."""

    config: SaturationConfig
    grad_norms: dict[str, list[float]]
    mean_derivative: dict[str, list[float]]
    saturated: dict[str, list[float]]

    def rows(self) -> list[tuple[int, float, float, float, float]]:
        """``(layer, sigmoid |dW|, relu |dW|, sigmoid mean derivative, relu mean derivative)`` per layer."""
        s, r = self.grad_norms["sigmoid"], self.grad_norms["relu"]
        ms, mr = self.mean_derivative["sigmoid"], self.mean_derivative["relu"]
        return [(i + 1, s[i], r[i], ms[i], mr[i]) for i in range(len(s))]

    def decay(self, activation: str) -> float:
        """``|dW| of layer 1 / |dW| of the last layer``: how much of the gradient reaches the bottom."""
        g = self.grad_norms[activation]
        return g[0] / g[-1]


def saturation_demo(config: SaturationConfig | None = None) -> SaturationResult:
    """Backpropagate one random upstream gradient through the same deep conv stack with sigmoid and with ReLU,
    and record ``|dL/dW|`` per layer.

    Example:
        >>> r = saturation_demo(SaturationConfig(depth=8))
        >>> r.decay("sigmoid") < 1e-3 < r.decay("relu")
        True
    """
    cfg = config or SaturationConfig()
    cfg.__post_init__()  # a config changed after it was made is checked again
    rng = np.random.default_rng(cfg.seed)
    x = rng.standard_normal((cfg.batch, cfg.channels, cfg.size, cfg.size))
    dy = rng.standard_normal(x.shape)
    weights = [Conv2d(cfg.channels, cfg.channels, 3, padding="same", rng=rng, dtype=np.float64).params
               for _ in range(cfg.depth)]
    norms, derivs, saturated = {}, {}, {}
    for name, act in (("sigmoid", Sigmoid), ("relu", ReLU)):
        layers = []
        for params in weights:
            conv = Conv2d(cfg.channels, cfg.channels, 3, padding="same", dtype=np.float64)
            conv.params = {"w": params["w"] * cfg.weight_scale, "b": params["b"].copy()}
            layers += [conv, act()]
        net = Sequential(*layers)
        net.forward(x)
        net.backward(dy)
        convs, acts = layers[0::2], layers[1::2]
        norms[name] = [float(np.linalg.norm(c.grads["w"])) for c in convs]
        # the activation's derivative at every unit, layer by layer
        d = [a._y * (1 - a._y) if name == "sigmoid" else (a._x > 0).astype(float) for a in acts]
        derivs[name] = [float(v.mean()) for v in d]
        saturated[name] = [float((v < (0.0025 if name == "sigmoid" else 0.01)).mean()) for v in d]
    return SaturationResult(cfg, norms, derivs, saturated)


def plot_saturation(result: SaturationResult):
    """A matplotlib figure: ``|dL/dW|`` per layer on a log scale, sigmoid against ReLU."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    layers = np.arange(1, result.config.depth + 1)
    for name, style in (("sigmoid", "o-"), ("relu", "s-")):
        ax.semilogy(layers, result.grad_norms[name], style, label=name)
    ax.set_xlabel("conv layer (1 = next to the input)")
    ax.set_ylabel("|dL/dW|")
    ax.set_title("Gradient norm per layer")
    ax.legend()
    fig.tight_layout()
    return fig
