"""Sanity checks for saliency maps (Adebayo et al. 2018): cascading randomisation of the layers from the top.

A map that barely changes when the weights it is supposed to explain are replaced by random ones explains
the input (edges), not the model. For each step the top layers of a copy of the model are re-initialised,
cumulatively, and the Spearman rank correlation between each method's original and randomised maps is
reported per step.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._progress import track
from cnnlab.explain._core import METHODS, Target, check_inputs, model_state, resolve_target


def rank(x: Tensor) -> Tensor:
    """Ranks along the last dimension, starting at 1, ties given their average rank (as ``scipy``'s
    ``rankdata``)."""
    flat = x.detach().reshape(-1, x.shape[-1]).double()
    out = torch.empty_like(flat)
    for i, row in enumerate(flat):
        _, inverse, counts = torch.unique(row, sorted=True, return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()
        avg = ends - (counts.double() - 1) / 2  # mean of the ranks end - count + 1 .. end
        out[i] = avg[inverse]
    return out.reshape(x.shape)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of ``a[i]`` and ``b[i]`` for each sample: ``Tensor[N]`` (maps flattened)."""
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra, rb = rank(a.flatten(1)), rank(b.flatten(1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    den = (ra.norm(dim=1) * rb.norm(dim=1)).clamp_min(1e-300)
    return ((ra * rb).sum(1) / den).float()


@dataclass
class SanityResult:
    """Rank correlations of each method's maps before and after cascading randomisation.

    Attributes:
        methods: method names (columns).
        steps: ``"none"``, then the deepest layer randomised at each step (rows, top of the network first).
        correlations: ``Tensor[len(steps), len(methods)]``, mean over samples of the Spearman correlation
            with the original map (1 on the first row).
        maps: ``{method: Tensor[len(steps), N, 1, H, W]}`` the compared maps (``|map|``, channel max).
    """

    methods: list[str]
    steps: list[str]
    correlations: Tensor
    maps: dict[str, Tensor] = field(default_factory=dict)

    def rows(self) -> list[list[Any]]:
        """Table rows: step, then one correlation per method."""
        return [[s, *(round(float(v), 3) for v in self.correlations[i])] for i, s in enumerate(self.steps)]

    def plot(self):
        """Correlation against randomisation depth, one line per method (a matplotlib figure)."""
        from cnnlab._plot import pyplot

        plt = pyplot()

        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(self.steps)), 3.6))
        for j, m in enumerate(self.methods):
            ax.plot(range(len(self.steps)), self.correlations[:, j].numpy(), marker="o", label=m)
        ax.set_xticks(range(len(self.steps)), self.steps, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("Spearman rank correlation")
        ax.set_xlabel("randomised down to (cascading from the top)")
        finite = self.correlations[torch.isfinite(self.correlations)]
        low = float(finite.min()) if finite.numel() else 0.0
        ax.set_ylim(min(-0.2, low - 0.05), 1.05)  # Spearman's rho is in [-1, 1]: every point stays in view
        ax.axhline(0, color="#999", lw=0.5)
        ax.legend(fontsize=8)
        return fig


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules holding parameters of their own, output side first (the randomisation order)."""
    return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))][::-1]


def cascading_randomization(model: nn.Module, inputs: Tensor, target: Target = None, *,
                            methods: Sequence[str] = ("saliency", "guided", "gradcam"),
                            layers: Sequence[str] | None = None, max_steps: int = 6, seed: int = 0,
                            options: dict[str, dict[str, Any]] | None = None) -> SanityResult:
    """Cascading randomisation (Adebayo et al. 2018): re-initialise the layers of a copy of ``model`` from
    the top, cumulatively, and compare each method's map with the original one.

    Args:
        methods: registered method names (:func:`cnnlab.explain.names`).
        layers: names of the layers to randomise, output side first (default :func:`parameter_layers`);
            when there are more than ``max_steps``, the cascade stops at ``max_steps`` evenly spaced depths
            (each step still randomises every layer above it).
        seed: seed of the re-initialisation.
        options: per-method keyword options, e.g. ``{"gradcam": {"layer": "layer3"}}``.

    Returns:
        A :class:`SanityResult`; the model itself is not changed (its copy is).
    """
    check_inputs(model, inputs)
    for m in methods:
        METHODS.lookup(m)
    options = options or {}
    order = list(layers) if layers is not None else parameter_layers(model)
    if not order:
        raise ValueError("model has no layers with parameters to randomise")
    known = dict(model.named_modules())
    for name in order:
        if name not in known:
            raise ValueError(f"model has no layer {name!r}")
    check_int("max_steps", max_steps)
    k = min(max_steps, len(order))
    cuts = sorted({round((i + 1) * len(order) / k) for i in range(k)})  # layers randomised after each step
    with model_state(model), torch.no_grad():
        out = model(inputs.detach())
    cls = target if callable(target) and not isinstance(target, Tensor) else resolve_target(out, target)

    def maps_of(net: nn.Module) -> dict[str, Tensor]:
        res = {}
        for m in methods:
            a = METHODS.lookup(m)(net, inputs, cls, **options.get(m, {}))
            res[m] = a.detach().abs().amax(1, keepdim=True).float()
        return res

    original = maps_of(model)
    copy_ = copy.deepcopy(model)
    steps, corr = ["none"], [[1.0] * len(methods)]
    stacks = {m: [original[m]] for m in methods}
    done = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for cut in track(cuts, desc="cascading randomisation", unit="step"):
            for name in order[done:cut]:
                _reinit(copy_.get_submodule(name))
            done = cut
            now = maps_of(copy_)
            steps.append(order[cut - 1])
            corr.append([float(spearman(original[m], now[m]).mean()) for m in methods])
            for m in methods:
                stacks[m].append(now[m])
    return SanityResult(list(methods), steps, torch.tensor(corr), {m: torch.stack(v) for m, v in stacks.items()})


def _reinit(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
    else:
        with torch.no_grad():
            for p in module.parameters(recurse=False):
                p.normal_(0, 0.05)
