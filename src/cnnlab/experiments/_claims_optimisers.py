"""Claim 14: momentum, Nesterov momentum, RMSProp, Adagrad and Adam against plain SGD -- iterations to reach a
loss on an ill-conditioned quadratic and on a network -- each at its best learning rate from one grid. The
optimisers are torch's, built by ``cnnlab.train.build_optimizer``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import as_floats, build, split_pair
from cnnlab.experiments._claims_stats import Verdict, combine, part, t_interval
from cnnlab.train import TrainConfig, build_optimizer

# name -> TrainConfig fields
OPTIMISERS: dict[str, dict[str, Any]] = {
    "sgd": {"optimizer": "sgd", "momentum": 0.0},
    "momentum": {"optimizer": "sgd", "momentum": 0.9},
    "nesterov": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
    "rmsprop": {"optimizer": "rmsprop", "momentum": 0.0},
    "adagrad": {"optimizer": "adagrad"},
    "adam": {"optimizer": "adam"},
}


def _optimiser(params, name: str, lr: float):
    return build_optimizer(params, TrainConfig(lr=lr, weight_decay=0.0, **OPTIMISERS[name]))


@dataclass
class OptimiserSettings:
    """Attributes:
        kappa, angle: the quadratic ``f(x) = x^T A x / 2`` in 2-D, eigenvalues 1 and ``kappa``, eigenvectors
            rotated by ``angle`` degrees (axis-aligned valleys would favour the per-coordinate methods).
        starts: starting points evenly spaced on the unit half-circle (the quadratic's repeats).
        tol: the target ``f(x) <= tol * f(x0)``.
        lrs: the grid (each optimiser runs at the rate with the fewest median iterations; also on the network).
        max_iters: a run that never reaches the target counts as ``max_iters``.
        net_*: LeNet-5 (ReLU, max pooling) on Fashion-MNIST, batch 64; the target is the mean of the last 20
            minibatch losses; each optimiser's rate is chosen on the first seed from ``net_lrs``.
    """

    kappa: float = 50.0
    angle: float = 30.0
    starts: int = 12
    tol: float = 1e-6
    lrs: tuple[float, ...] = tuple(round(10 ** (k / 4), 6) for k in range(-12, 3))
    max_iters: int = 5000
    net_n_train: int = 10000
    net_lrs: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)
    net_target: float = 0.5
    net_max_steps: int = 1000
    seeds: tuple[int, ...] = (0, 1, 2, 3)


def _matrix(kappa: float, angle: float) -> torch.Tensor:
    t = math.radians(angle)
    r = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]], dtype=torch.float64)
    return r @ torch.diag(torch.tensor([1.0, kappa], dtype=torch.float64)) @ r.T


def quadratic_runs(s: OptimiserSettings, name: str) -> dict[str, Any]:
    """Every (learning rate, start) at once: one parameter group per rate holding all starts. These optimisers
    act element-wise (SGD, momentum, RMSProp, Adagrad, Adam), so this equals independent runs. The loop stops
    once the rate with the lowest median iterations is known and all its starts have arrived (a rate still
    short of half its starts then has a higher median)."""
    a = _matrix(s.kappa, s.angle)
    # x and -x take the same path on a quadratic: spread the starts over half the circle
    phi = torch.arange(s.starts, dtype=torch.float64) * (math.pi / s.starts) + 0.1
    x0 = torch.stack([phi.cos(), phi.sin()], 1)  # (starts, 2)
    f0 = 0.5 * ((x0 @ a) * x0).sum(1)
    xs = [x0.clone().requires_grad_() for _ in s.lrs]
    opt = _optimiser([{"params": [x], "lr": lr} for x, lr in zip(xs, s.lrs)], name, s.lrs[0])
    iters = torch.full((len(s.lrs), s.starts), math.inf, dtype=torch.float64)
    curve = []
    for it in range(s.max_iters + 1):
        f = torch.stack([0.5 * ((x @ a) * x).sum(1) for x in xs])  # (lrs, starts) after ``it`` updates
        with torch.no_grad():
            rel = torch.nan_to_num(f.detach() / f0, nan=math.inf)
            curve.append(rel[:, 0].clone())
            hit = (rel <= s.tol) & torch.isinf(iters)
            iters[hit] = it
            med = iters.median(1).values  # lower median; inf until half the starts have arrived
            best = int(med.argmin())
            if math.isfinite(float(med[best])) and bool(torch.isfinite(iters[best]).all()):
                break
        if it == s.max_iters:
            break
        opt.zero_grad()
        f.sum().backward()
        opt.step()
    iters = iters.clamp(max=s.max_iters)  # never arrived: the cap
    best = int(iters.median(1).values.argmin())
    x = x0[:1].clone().requires_grad_()  # the first start's trajectory at the chosen rate, replayed
    opt = _optimiser([x], name, s.lrs[best])
    path = [x0[0].tolist()]
    for _ in range(min(int(iters[best, 0]), 200)):
        opt.zero_grad()
        (0.5 * ((x @ a) * x).sum()).backward()
        opt.step()
        path.append(x.detach()[0].tolist())
    rel0 = torch.stack(curve)[:, best]
    return {"lr": s.lrs[best], "iterations": [int(v) for v in iters[best].tolist()], "path": path,
            "curve": [min(float(v), 1e3) for v in rel0[1: int(iters[best, 0]) + 1]]}


def network_steps(data, name: str, lr: float, seed: int, s: OptimiserSettings,
                  cap: int | None = None) -> tuple[int, list[float]]:
    """Optimiser steps until the mean of the last 20 minibatch losses is below ``net_target`` (``net_max_steps``
    when never; the search stops at ``cap``, a count another rate already beat), and the loss curve."""
    cap = s.net_max_steps if cap is None else min(cap, s.net_max_steps)
    x, y = as_floats(data), data.labels
    net = build("lenet5", seed, num_classes=10, in_channels=1, activation="relu", pool="max")
    opt = _optimiser(net, name, lr)
    g = torch.Generator().manual_seed(seed)
    n, b = len(y), 64
    losses: list[float] = []
    perm = torch.randperm(n, generator=g)
    with torch.random.fork_rng(devices=[]):
        for step in range(cap):
            i = (step * b) % (n - n % b)
            if i == 0 and step:
                perm = torch.randperm(n, generator=g)
            idx = perm[i:i + b]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            v = float(loss.detach())
            if not math.isfinite(v):
                return s.net_max_steps, losses
            losses.append(v)
            if len(losses) >= 20 and sum(losses[-20:]) / 20 < s.net_target:
                return step + 1, losses
    return (cap + 1 if cap < s.net_max_steps else s.net_max_steps), losses  # cap + 1: lost to a faster rate


def optimiser_verdict(numbers: dict[str, Any]) -> Verdict:
    parts = []
    for problem, unit in (("quadratic", "starts"), ("network", "seeds")):
        runs = numbers[problem]
        sgd = runs["sgd"]["iterations"]
        for name in runs:
            if name == "sgd":
                continue
            ratio = [math.log10(a / b) for a, b in zip(sgd, runs[name]["iterations"])]
            parts.append(part(f"{problem}: log10(SGD iterations / {name} iterations)", t_interval(ratio, unit=unit),
                              0))
    return combine(parts)


def plot_optimisers(result: ClaimResult):
    import numpy as np

    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    q, net = n["quadratic"], n["network"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    a = _matrix(n["kappa"], n["angle"]).numpy()
    g = np.linspace(-1.3, 1.3, 200)
    xx, yy = np.meshgrid(g, g)
    pts = np.stack([xx, yy], -1)
    ff = 0.5 * np.einsum("...i,ij,...j->...", pts, a, pts)
    ax = axes[0]
    ax.contour(xx, yy, ff, levels=np.geomspace(1e-3, ff.max(), 14), colors="#bbb", linewidths=0.6)
    for name, r in q.items():
        p = np.array(r["path"])
        ax.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=0.9, label=f"{name} (lr {r['lr']:g})")
    ax.set_aspect("equal")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_title(f"quadratic, condition number {n['kappa']:g}: first 200 steps", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    for name, r in q.items():
        ax.semilogy(range(1, len(r["curve"]) + 1), r["curve"], label=name)
    ax.axhline(n["tol"], color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("f(x) / f(x0)")
    ax.set_title("quadratic: loss against iterations (first start)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    ax = axes[2]
    for name, r in net.items():
        c = r["curve"]
        smooth = [sum(c[max(0, i - 19):i + 1]) / len(c[max(0, i - 19):i + 1]) for i in range(len(c))]
        ax.plot(range(1, len(c) + 1), smooth, label=f"{name} (lr {r['lr']:g})")
    ax.axhline(n["net_target"], color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("optimiser step (batch 64)")
    ax.set_ylabel("training loss (mean of 20 steps)")
    ax.set_title("LeNet-5 on Fashion-MNIST (seed 0), until the target", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@register_claim(
    "optimisers", number="14",
    title="Momentum, Nesterov, RMSProp, Adagrad and Adam need fewer iterations than SGD, on an ill-conditioned "
          "quadratic and on a network",
    quotes=(Quote("SG Dw momentum ... prevents escillation, may avershed ... Nesterovi i) step in gradient die",
                  "004_ecac44b367f9b94b.txt"),
            Quote("RMS Prop Seales gradents by invest of monty average ... ADAGEAL ... cumulative sun of ... Squared "
                  "gradients ... work well on sets w wide range of gradient ... ADAM; momentum + RMS Prop",
                  "004_ecac44b367f9b94b.txt")),
    tested="The notes describe the optimisers as improvements on plain gradient descent without saying by how "
           "much; the tested reading: each reaches a target loss in fewer iterations than SGD when every optimiser "
           "runs at its own best learning rate from the same log grid. Problem 1: f(x) = x^T A x / 2 in 2-D, "
           "eigenvalues 1 and 50, eigenvectors rotated 30 degrees, target f <= 1e-6 f(x0), 12 starting points on "
           "the unit half-circle. Problem 2: LeNet-5 (ReLU) on Fashion-MNIST, batch 64, target: mean of the last 20 "
           "minibatch losses below 0.5, rate chosen on the first seed. A run that never reaches the target counts "
           "as the iteration cap (which favours the slower method).",
    rule="For each optimiser and each problem, log10(SGD iterations / its iterations) must have its 95% interval "
         "above 0; supported only when all ten do.",
    uncertainty="t interval over starting points (quadratic) and over seeds (network)",
    settings=OptimiserSettings,
    quick={"starts": 6, "max_iters": 3000, "net_n_train": 5000, "net_lrs": (1e-3, 1e-2, 1e-1), "net_target": 0.7,
           "net_max_steps": 400, "seeds": (0, 1, 2)},
    verdict=optimiser_verdict, plot=plot_optimisers)
def optimisers_claim(s: OptimiserSettings, ctx: ClaimContext) -> dict[str, Any]:
    quad = {name: quadratic_runs(s, name) for name in OPTIMISERS}
    net: dict[str, dict[str, Any]] = {}
    for name in OPTIMISERS:
        data, _ = split_pair(ctx, s.net_n_train, 10, seed=s.seeds[0])
        trials: dict[float, tuple[int, list[float]]] = {}
        for v in s.net_lrs:  # a rate slower than the best so far is stopped where it loses
            trials[v] = network_steps(data, name, v, s.seeds[0], s,
                                      cap=min([t[0] for t in trials.values()], default=None))
        lr = min(s.net_lrs, key=lambda v: (trials[v][0], -v))
        steps = [trials[lr][0]]
        for seed in s.seeds[1:]:
            data, _ = split_pair(ctx, s.net_n_train, 10, seed=seed)
            steps.append(network_steps(data, name, lr, seed, s)[0])
        net[name] = {"lr": lr, "iterations": steps, "curve": trials[lr][1],
                     "grid": {f"{v:g}": trials[v][0] for v in s.net_lrs}}
    return {"kappa": s.kappa, "angle": s.angle, "tol": s.tol, "net_target": s.net_target, "quadratic": quad,
            "network": net}
