"""Claims about the three errors of the notes' decomposition: deeper plain networks are harder to optimise and
residual connections fix it (claim 4); with little data and many parameters the estimation error grows while the
modelling error falls as capacity grows, k-fold cross-validation choosing the model (claim 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cnnlab.data import ImageTensors
from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import build, config, correct, split_pair, trained
from cnnlab.experiments._claims_stats import Verdict, combine, paired_interval, part

# ---------------------------------------------------------------------------------------------- claim 4


@dataclass
class DepthSettings:
    """He et al. 2016's CIFAR networks (cnnlab.models ``plainnet_small`` / ``resnet_depth_small``: 6n + 2 layers,
    batch norm after every conv, option-A shortcuts) on Fashion-MNIST.

    Attributes:
        depths: the verdict compares the shallowest and the deepest.
        width: channels of the first stage (the paper: 16).
        size: image side (28 native; 14 = 2x2 area-averaged, 4x cheaper).
        n_train, test_images, epochs: the data and the training length.
        lr: SGD with momentum 0.9, weight decay 1e-4, cosine schedule (the paper: 0.1, step schedule).
    """

    depths: tuple[int, ...] = (8, 20, 32)
    width: int = 8
    size: int = 14
    n_train: int = 3000
    test_images: int = 2000
    epochs: int = 4
    lr: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)


def _error(net, data: ImageTensors) -> float:
    return 1 - float(correct(net, data).float().mean())


def depth_verdict(numbers: dict[str, Any]) -> Verdict:
    lo, hi = str(min(int(d) for d in numbers["plain"])), str(max(int(d) for d in numbers["plain"]))
    p, r = numbers["plain"], numbers["residual"]
    return combine([
        part(f"plain-{hi} minus plain-{lo} training error", paired_interval(p[hi]["train_error"],
                                                                            p[lo]["train_error"]), 0, unit="pp"),
        part(f"plain-{hi} minus residual-{hi} training error", paired_interval(p[hi]["train_error"],
                                                                               r[hi]["train_error"]), 0, unit="pp"),
    ])


def plot_depth(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    depths = sorted(int(d) for d in n["plain"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    for kind, color in (("plain", "tab:red"), ("residual", "tab:blue")):
        for ax, key in ((axes[0], "train_error"), (axes[1], "test_error")):
            vals = [n[kind][str(d)][key] for d in depths]
            mean = [100 * sum(v) / len(v) for v in vals]
            ax.plot(depths, mean, "o-", color=color, label=kind)
            for d, v in zip(depths, vals):
                ax.scatter([d] * len(v), [100 * x for x in v], color=color, alpha=0.35, s=12)
        for d, ls in zip(depths, ("-", "--", ":", "-.")):
            curves = n[kind][str(d)]["train_loss_curve"]
            mean = [sum(c[i] for c in curves) / len(curves) for i in range(len(curves[0]))]
            axes[2].plot(range(1, len(mean) + 1), mean, ls, color=color, label=f"{kind}-{d}")
    for ax, title in ((axes[0], "training error (eval mode, end of training)"), (axes[1], "test error")):
        ax.set_xlabel("depth (weighted layers)")
        ax.set_ylabel("error (%)")
        ax.set_xticks(depths)
        ax.set_title(title + "\nline: mean, dots: seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("training loss (mean over seeds)")
    axes[2].set_title("training curves", fontsize=9)
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


@register_claim(
    "depth-residual", number="4",
    title="Increasing the depth of a plain network raises the error (optimisation); residual connections fix it",
    quotes=(Quote("Increasing the depth of a NN leads to ___ error (higher/lower) / higher - hard to optimize (but can "
                  "be mitigated with residual blocks/skip connections)", "002_920654089f751d73.txt"),
            Quote("When model complexity increases, modeling error reduces, but optimization error increases.",
                  "001_25408df1fda51281.txt")),
    tested="He et al. 2016's CIFAR networks on Fashion-MNIST: plain (no shortcuts) and residual (identity "
           "shortcuts, option A, same parameters) networks of 6n + 2 layers, batch norm after every conv, trained "
           "the same way (SGD momentum 0.9, lr 0.1, weight decay 1e-4, cosine, fixed epochs). 'Error' is read as "
           "the training error (the optimisation error He et al. show: a deeper plain network fits its own "
           "training set worse), measured in eval mode at the end of training; test error is reported too.",
    rule="Supported when the deepest plain network's training error exceeds the shallowest's and exceeds the "
         "residual network's of the same depth (both paired differences' 95% intervals above 0).",
    uncertainty="paired t interval over training seeds (weights, data subset and order)",
    settings=DepthSettings, quick={"depths": (8, 20), "n_train": 2000, "test_images": 1000, "epochs": 3},
    verdict=depth_verdict, plot=plot_depth)
def depth_claim(s: DepthSettings, ctx: ClaimContext) -> dict[str, Any]:
    out: dict[str, dict[str, dict[str, list[Any]]]] = {"plain": {}, "residual": {}}
    for seed in s.seeds:
        train, test = split_pair(ctx, s.n_train, s.test_images, seed=seed, size=s.size)
        for kind, name in (("plain", "plainnet_small"), ("residual", "resnet_depth_small")):
            for d in s.depths:
                kw = {"num_classes": 10, "in_channels": 1, "depth": d, "width": s.width}
                cfg = config(epochs=s.epochs, seed=seed, ctx=ctx, optimizer="sgd", lr=s.lr, momentum=0.9,
                             weight_decay=1e-4)
                net, hist = trained(ctx, name, kw, train, cfg, data_key=("fmnist", s.n_train, seed, s.size))
                row = out[kind].setdefault(str(d), {"train_error": [], "test_error": [], "train_loss_curve": []})
                row["train_error"].append(_error(net, train))
                row["test_error"].append(_error(net, test))
                row["train_loss_curve"].append([r.train_loss for r in hist.rows])
    params = {str(d): sum(p.numel() for p in build("plainnet_small", 0, depth=d, width=s.width).parameters())
              for d in s.depths}
    return {**out, "parameters": params}


# ---------------------------------------------------------------------------------------------- claim 5


@dataclass
class CapacitySettings:
    """FastNet (conv-BN-ReLU x3, widths ``w, 2w, 4w``, global max pool) at several widths, trained on a small and a
    large Fashion-MNIST subset for the same number of optimiser steps.

    Attributes:
        widths: first-stage widths ``w`` (capacity grows with them).
        sizes: training images: the verdict's "little data" is the smallest, "more data" the largest.
        steps: optimiser steps per run (batch 64; small sets see many epochs).
        folds: k of the k-fold cross-validation that chooses the width at each size (on the training images).
        test_images: the test subset.
        size: image side (14: Fashion-MNIST area-averaged 2x2, 4x cheaper than 28).
    """

    widths: tuple[int, ...] = (2, 4, 8, 16)
    sizes: tuple[int, ...] = (250, 4000)
    steps: int = 400
    folds: int = 4
    test_images: int = 2000
    size: int = 14
    seeds: tuple[int, ...] = (0, 1, 2, 3)


def capacity_verdict(numbers: dict[str, Any]) -> Verdict:
    w = sorted(int(x) for x in numbers["runs"][next(iter(numbers["runs"]))])
    sizes = sorted(int(k) for k in numbers["runs"])
    small, large = str(sizes[0]), str(sizes[-1])
    lo, hi = str(w[0]), str(w[-1])
    runs = numbers["runs"]

    def gap(size: str, width: str) -> list[float]:
        r = runs[size][width]
        return [te - tr for te, tr in zip(r["test_error"], r["train_error"])]

    return combine([
        part(f"n={small}: generalisation gap, width {hi} minus width {lo}", paired_interval(gap(small, hi),
                                                                                          gap(small, lo)), 0,
             unit="pp"),
        part(f"width {hi}: gap with n={small} minus gap with n={large}", paired_interval(gap(small, hi),
                                                                                       gap(large, hi)), 0,
             unit="pp"),
        part(f"n={large}: training error, width {lo} minus width {hi}",
             paired_interval(runs[large][lo]["train_error"], runs[large][hi]["train_error"]), 0, unit="pp"),
    ])


def plot_capacity(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    sizes = sorted(int(k) for k in n["runs"])
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        runs = n["runs"][str(size)]
        widths = sorted(int(w) for w in runs)
        params = [n["parameters"][str(w)] for w in widths]

        def mean(key: str, w: int, runs: dict = runs) -> float:
            v = runs[str(w)][key]
            return 100 * sum(v) / len(v)

        ax.plot(params, [mean("train_error", w) for w in widths], "o-", label="training error (modelling + "
                                                                             "optimisation)")
        ax.plot(params, [mean("test_error", w) for w in widths], "s-", label="test error")
        for w, x in zip(widths, params):
            ax.annotate(f"w={w}", (x, mean("test_error", w)), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)
        ax.fill_between(params, [mean("train_error", w) for w in widths], [mean("test_error", w) for w in widths],
                        alpha=0.15, label="gap (estimation error)")
        cv = n["cv"][str(size)]
        ax.plot(params, [100 * cv["error"][str(w)] for w in widths], "^--", color="grey",
                label=f"{n['folds']}-fold CV error")
        chosen = n["parameters"][str(cv["chosen"])]
        ax.axvline(chosen, color="green", ls=":", label=f"CV's choice: width {cv['chosen']}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters (FastNet widths w, 2w, 4w)")
        ax.set_ylabel("error (%)")
        ax.set_title(f"{size} training images (mean over {len(result.seeds)} seeds)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _kfold(data: ImageTensors, k: int, seed: int) -> list[tuple[ImageTensors, ImageTensors]]:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)
    folds = idx.chunk(k)
    return [(data.subset(torch.cat([f for j, f in enumerate(folds) if j != i])), data.subset(folds[i]))
            for i in range(k)]


@register_claim(
    "estimation-error", number="5",
    title="With little data and many parameters the estimation error grows; the modelling error falls as capacity "
          "grows (k-fold cross-validation chooses the model)",
    quotes=(Quote("T/F: For larger networks, estimation error can increase / True - With a small amount of data and a "
                  "large amount of parameters, we could overfit", "002_920654089f751d73.txt"),
            Quote("Given a particular NN architecture, the actual model that represents the real world may not be in "
                  "that space. When model complexity increases, modeling error reduces, but optimization error "
                  "increases.", "001_25408df1fda51281.txt"),
            Quote("k fold evers validation ... partition into K sett, ... use different set for testing",
                  "004_ecac44b367f9b94b.txt")),
    tested="FastNet at several widths (hundreds to tens of thousands of parameters) on a small and a larger subset "
           "of Fashion-MNIST (14x14), each trained for the same number of Adam steps. The decomposition is not "
           "observable directly; it is read through its usual proxies: estimation error as the generalisation gap "
           "(test minus training error); modelling error through the training error with the larger set (a "
           "network that cannot fit its own training data lacks capacity; this error also holds optimisation "
           "error). k-fold cross-validation on the training images picks a width at each size; its choice and that "
           "width's test error are reported (a method the notes name, not a claim with a verdict).",
    rule="Supported when, with the small set, the widest network's gap exceeds the narrowest's; the widest "
         "network's gap is larger with the small set than with the large one; and with the large set the "
         "narrowest network's training error exceeds the widest's (each paired difference's 95% interval above 0).",
    uncertainty="paired t interval over training seeds (weights, subset, order)",
    settings=CapacitySettings,
    quick={"widths": (2, 6, 18), "sizes": (200, 2000), "steps": 150, "folds": 3, "test_images": 1000,
           "seeds": (0, 1, 2)},
    verdict=capacity_verdict, plot=plot_capacity)
def capacity_claim(s: CapacitySettings, ctx: ClaimContext) -> dict[str, Any]:
    runs: dict[str, dict[str, dict[str, list[float]]]] = {}
    cv: dict[str, dict[str, Any]] = {}
    for n in s.sizes:
        epochs_of = max(1, round(s.steps * 64 / n))
        for seed in s.seeds:
            train, test = split_pair(ctx, n, s.test_images, seed=seed, size=s.size)
            for w in s.widths:
                kw = {"num_classes": 10, "in_channels": 1, "widths": (w, 2 * w, 4 * w)}
                cfg = config(epochs=epochs_of, seed=seed, ctx=ctx, batch_size=min(64, n), max_steps=s.steps)
                net, _ = trained(ctx, "fastnet_small", kw, train, cfg, data_key=("fmnist", n, seed, s.size))
                r = runs.setdefault(str(n), {}).setdefault(str(w), {"train_error": [], "test_error": []})
                r["train_error"].append(1 - float(correct(net, train).float().mean()))
                r["test_error"].append(1 - float(correct(net, test).float().mean()))
        # k-fold cross-validation on the first seed's training subset chooses the width
        train, test = split_pair(ctx, n, s.test_images, seed=s.seeds[0], size=s.size)
        errors = {}
        for w in s.widths:
            kw = {"num_classes": 10, "in_channels": 1, "widths": (w, 2 * w, 4 * w)}
            fold_err = []
            for i, (tr, va) in enumerate(_kfold(train, s.folds, s.seeds[0])):
                # batch 64, or the whole fold when it is smaller (fit refuses a batch larger than its data)
                cfg = config(epochs=max(1, round(s.steps * 64 / len(tr))), seed=s.seeds[0], ctx=ctx,
                             batch_size=min(64, len(tr)), max_steps=s.steps)
                net, _ = trained(ctx, "fastnet_small", kw, tr, cfg, data_key=("fold", n, s.seeds[0], i, s.size))
                fold_err.append(1 - float(correct(net, va).float().mean()))
            errors[str(w)] = sum(fold_err) / len(fold_err)
        chosen = min(s.widths, key=lambda w: (errors[str(w)], w))
        test_err = {str(w): sum(runs[str(n)][str(w)]["test_error"]) / len(s.seeds) for w in s.widths}
        cv[str(n)] = {"error": errors, "chosen": chosen, "chosen_test_error": test_err[str(chosen)],
                      "best_test_width": min(s.widths, key=lambda w: test_err[str(w)]),
                      "best_test_error": min(test_err.values())}
    params = {str(w): sum(p.numel() for p in build("fastnet_small", 0, widths=(w, 2 * w, 4 * w)).parameters())
              for w in s.widths}
    return {"runs": runs, "cv": cv, "folds": s.folds, "steps": s.steps, "parameters": params}
