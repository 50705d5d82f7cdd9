"""Claims about activations and initialisation: sigmoid's gradient vanishes with depth and ReLU's does not
(claim 8, the NumPy reference engine's saturation demo), and Xavier initialisation keeps the activations' spread
across layers where too small weights make it vanish and too large ones saturate (claim 12d)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from cnnlab import reference
from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_stats import Verdict, combine, part, t_interval

# ---------------------------------------------------------------------------------------------- claim 8


@dataclass
class SaturationSettings:
    """``cnnlab.reference.saturation_demo`` (conv 3x3 'same' + activation, He-normal weights shared by both
    activations, one random upstream gradient) at each depth, one weight draw per seed.

    Attributes:
        depths: stack depths; the verdict reads the deepest.
        channels, size, batch: the stack and its random input.
    """

    depths: tuple[int, ...] = (2, 4, 8, 12, 16, 24)
    channels: int = 8
    size: int = 12
    batch: int = 4
    seeds: tuple[int, ...] = tuple(range(10))


def saturation_verdict(numbers: dict[str, Any]) -> Verdict:
    deep = str(max(int(d) for d in numbers["decay"]))
    sig = t_interval(numbers["decay"][deep]["sigmoid"])
    relu = t_interval(numbers["decay"][deep]["relu"])
    return combine([
        part(f"sigmoid, depth {deep}: log10(|dW| first layer / last layer)", sig, -2, "below"),
        part(f"ReLU, depth {deep}: log10(|dW| first layer / last layer)", relu, -2, "above"),
    ])


def plot_saturation_claim(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    depths = sorted(int(d) for d in n["decay"])
    for act, style in (("sigmoid", "o-"), ("relu", "s-")):
        vals = [n["decay"][str(d)][act] for d in depths]
        mean = [sum(v) / len(v) for v in vals]
        axes[0].plot(depths, mean, style, label=act)
        axes[0].fill_between(depths, [min(v) for v in vals], [max(v) for v in vals], alpha=0.2)
    axes[0].axhline(-2, color="grey", ls="--", lw=0.8, label="1% of the last layer's")
    axes[0].set_xlabel("depth (conv layers)")
    axes[0].set_ylabel("log10(|dW| layer 1 / |dW| last layer)")
    axes[0].set_title("how much gradient reaches the first layer\n(mean, band: min-max over seeds)")
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    deep = str(depths[-1])
    for act, style in (("sigmoid", "o-"), ("relu", "s-")):
        g = n["grad_norms"][deep][act]
        axes[1].semilogy(range(1, len(g) + 1), g, style, label=act)
    axes[1].set_xlabel("conv layer (1 = next to the input)")
    axes[1].set_ylabel("|dL/dW|")
    axes[1].set_title(f"gradient norm per layer, depth {deep}, seed {result.seeds[0]}")
    axes[1].legend(fontsize=8)
    axes[1].grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


@register_claim(
    "saturation", number="8",
    title="Sigmoid saturates and its gradient vanishes with depth; ReLU does not",
    quotes=(Quote("Sigmoid tended to saturate in the two extremes which had as side-effect that in those regions the "
                  "gradient tended to vanish (become 0)", "003_dbe7e23f1359843d.txt"),
            Quote("A gradient of 0 means that when you start to navigate the parameter space to update your model, "
                  "you will not get sufficient information to do that.", "003_dbe7e23f1359843d.txt")),
    tested="One random upstream gradient backpropagated through the same stack of 3x3 convolutions (He-normal "
           "weights, drawn once per seed and shared) with sigmoid and with ReLU after every conv "
           "(cnnlab.reference.saturation_demo, NumPy float64): the weight gradient's norm at the first layer "
           "relative to the last, at depths 2 to 24. 'Vanishes' is read as: less than 1% of the last layer's "
           "gradient reaches the first layer.",
    rule="At the deepest stack: supported when the mean log10 ratio is below -2 for sigmoid and above -2 for ReLU, "
         "each with its whole 95% interval on that side.",
    uncertainty="t interval over the weight draws (seeds)",
    settings=SaturationSettings, quick={"depths": (2, 4, 8, 12, 16), "seeds": tuple(range(5))},
    verdict=saturation_verdict, plot=plot_saturation_claim, demo=True)
def saturation_claim(s: SaturationSettings, ctx: ClaimContext) -> dict[str, Any]:
    decay: dict[str, dict[str, list[float]]] = {}
    norms: dict[str, dict[str, list[float]]] = {}
    for d in s.depths:
        decay[str(d)] = {"sigmoid": [], "relu": []}
        for seed in s.seeds:
            r = reference.saturation_demo(reference.SaturationConfig(depth=d, channels=s.channels, size=s.size,
                                                                     batch=s.batch, seed=seed))
            for act in ("sigmoid", "relu"):
                decay[str(d)][act].append(math.log10(r.decay(act)))
            if seed == s.seeds[0]:
                norms[str(d)] = r.grad_norms
    return {"decay": decay, "grad_norms": norms}


# --------------------------------------------------------------------------------------------- claim 12d


@dataclass
class InitSettings:
    """The classic demonstration (cs231n, after Glorot & Bengio 2010): a ``layers``-deep tanh MLP (float32) of ``width``
    units on ``samples`` N(0, 1) inputs, weights N(0, sigma^2), biases 0.

    Attributes:
        small, large: the too-small and too-large weight std (cs231n's 0.01 and 1.0); Xavier is
            ``sigma = 1 / sqrt(fan_in)``.
    """

    layers: int = 10
    width: int = 500
    samples: int = 1000
    small: float = 0.01
    large: float = 1.0
    seeds: tuple[int, ...] = tuple(range(10))


def _activation_stats(s: InitSettings, sigma_of: str, seed: int) -> dict[str, list[float]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(s.samples, s.width, generator=g)
    stds, saturated = [], []
    for _ in range(s.layers):
        sigma = {"small": s.small, "large": s.large, "xavier": 1 / math.sqrt(x.shape[1])}[sigma_of]
        w = torch.randn(x.shape[1], s.width, generator=g) * sigma
        x = torch.tanh(x @ w)
        stds.append(float(x.std()))
        saturated.append(float((x.abs() > 0.99).double().mean()))
    return {"std": stds, "saturated": saturated}


def init_verdict(numbers: dict[str, Any]) -> Verdict:
    def ratio(scheme: str) -> list[float]:
        return [math.log10(max(r["std"][-1], 1e-300) / r["std"][0]) for r in numbers["runs"][scheme]]

    def sat(scheme: str) -> list[float]:
        return [r["saturated"][-1] for r in numbers["runs"][scheme]]

    last = len(numbers["runs"]["xavier"][0]["std"])
    return combine([
        part(f"Xavier: log10(std layer {last} / std layer 1)", t_interval(ratio("xavier")), -1, "above"),
        part(f"Xavier: saturated units (|tanh| > 0.99) at layer {last}", t_interval(sat("xavier")), 0.05, "below",
             unit="%"),
        part(f"too small (std {numbers['small']:g}): log10(std layer {last} / std layer 1)",
             t_interval(ratio("small")), -2, "below"),
        part(f"too large (std {numbers['large']:g}): saturated units at layer {last}", t_interval(sat("large")), 0.5,
             "above", unit="%"),
    ])


def plot_init(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    runs = result.numbers["runs"]
    labels = {"small": f"N(0, {result.numbers['small']:g}²)", "xavier": "Xavier N(0, 1/fan_in)",
              "large": f"N(0, {result.numbers['large']:g}²)"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for scheme, style in (("small", "v-"), ("xavier", "o-"), ("large", "^-")):
        rs = runs[scheme]
        layers = range(1, len(rs[0]["std"]) + 1)
        std = [sum(r["std"][i] for r in rs) / len(rs) for i in range(len(rs[0]["std"]))]
        sat = [100 * sum(r["saturated"][i] for r in rs) / len(rs) for i in range(len(rs[0]["std"]))]
        axes[0].semilogy(layers, std, style, label=labels[scheme])
        axes[1].plot(layers, sat, style, label=labels[scheme])
    axes[0].set_ylabel("std of the tanh activations")
    axes[0].set_title("activation spread per layer")
    axes[1].set_ylabel("% of units saturated (|tanh| > 0.99)")
    axes[1].set_title("saturation per layer")
    for ax in axes:
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register_claim(
    "xavier-init", number="12d",
    title="Xavier initialisation keeps the activation variance across layers; too small weights make it vanish, "
          "too large ones saturate",
    quotes=(Quote("If initial weights are two small /large, activations will vanish", "004_ecac44b367f9b94b.txt"),
            Quote("Small! various & no non-linearty ... big : variance T : activations saturated, ... Xavier "
                  "Intialization Keeps variance ... N~(0, ta) ... n = # ihput reurons", "004_ecac44b367f9b94b.txt")),
    tested="A 10-layer tanh MLP of 500 units on 1000 N(0, 1) inputs (cs231n's demonstration of Glorot & Bengio "
           "2010), weights N(0, 0.01²) (too small), N(0, 1/fan_in) (Xavier) and N(0, 1) (too large). 'Keeps the "
           "variance' is read as: the activations' std at the last layer within one order of magnitude of the "
           "first layer's, with under 5% of units saturated (|tanh| > 0.99); 'vanishes' as: the std falls by more "
           "than 100x; 'saturates' as: over half the units saturated at the last layer.",
    rule="Supported when all four hold with the whole 95% interval on the stated side: Xavier log10 std ratio > -1 "
         "and saturated < 5%; too small: log10 std ratio < -2; too large: saturated > 50%.",
    uncertainty="t interval over independent weight and input draws (seeds)",
    settings=InitSettings, quick={"seeds": tuple(range(5))}, verdict=init_verdict, plot=plot_init, demo=True)
def xavier_init_claim(s: InitSettings, ctx: ClaimContext) -> dict[str, Any]:
    return {"small": s.small, "large": s.large,
            "runs": {k: [_activation_stats(s, k, seed) for seed in s.seeds] for k in ("small", "xavier", "large")}}
