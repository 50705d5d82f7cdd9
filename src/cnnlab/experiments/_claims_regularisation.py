"""Claims about regularisation and training: inverted dropout keeps the expected activation and shrinks the
generalisation gap (12a); stop when the validation loss rises (12b); batch norm allows higher learning rates
(12c). (Xavier initialisation, 12d, is in ``_claims_activations``.)"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnnlab import models
from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import as_floats, build, config, correct, split_pair, trained
from cnnlab.experiments._claims_stats import Verdict, combine, paired_interval, part, t_interval
from cnnlab.train import TrainingDiverged, evaluate, fit

# --------------------------------------------------------------------------------------------- claim 12a


def mlp(p: float, hidden: int = 256, seed: int = 0) -> nn.Module:
    """Hinton et al. 2012's MNIST network, smaller: 784-h-h-10 ReLU with dropout ``p`` after each hidden layer."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, hidden),
                             nn.ReLU(), nn.Dropout(p), nn.Linear(hidden, 10))


@dataclass
class DropoutSettings:
    """Attributes:
        p: the drop probability.
        hidden: units per hidden layer of the MLP.
        n_train, epochs, test_images: a small training set trained long (the network overfits without dropout).
        draws: Monte-Carlo draws of the dropout mask for the expectation check.
        tolerance: relative difference of the means still called "equal".
    """

    p: float = 0.5
    hidden: int = 256
    n_train: int = 2000
    epochs: int = 40
    test_images: int = 5000
    draws: int = 200
    tolerance: float = 0.01
    seeds: tuple[int, ...] = (0, 1, 2, 3)


def dropout_verdict(numbers: dict[str, Any]) -> Verdict:
    tol = numbers["tolerance"]
    ratio = t_interval(numbers["mean_ratio_inverted"], unit="mask draws")
    gap = paired_interval(numbers["gap"]["0"], numbers["gap"][str(numbers["p"])])
    return combine([
        part("inverted dropout: train-mode / eval-mode mean activation (lower side)", ratio, 1 - tol, "above",
             unit="x"),
        part("inverted dropout: train-mode / eval-mode mean activation (upper side)", ratio, 1 + tol, "below",
             unit="x"),
        part(f"generalisation gap without dropout minus with p={numbers['p']:g}", gap, 0, unit="pp"),
    ])


def plot_dropout(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.hist(n["mean_ratio_inverted"], bins=25, alpha=0.7, label="inverted (scaled by 1/(1-p) in training)")
    ax.hist(n["mean_ratio_plain"], bins=25, alpha=0.7, label="not scaled")
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xlabel("train-mode mean activation / eval-mode mean")
    ax.set_ylabel("mask draws")
    ax.set_title(f"dropout p={n['p']:g} on a trained MLP's hidden units", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    for j, key in enumerate(("train_error", "test_error")):
        for k, p in enumerate(("0", str(n["p"]))):
            v = n[key][p]
            ax.bar(2 * j + k, 100 * sum(v) / len(v), color=("tab:red", "tab:blue")[k], alpha=0.7,
                   label=(f"dropout p={p}" if j == 0 else None))
            ax.scatter([2 * j + k] * len(v), [100 * x for x in v], color="black", s=10, zorder=3)
    ax.set_xticks([0.5, 2.5], ["training error", "test error"])
    ax.set_ylabel("error (%)")
    ax.set_title(f"{n['n_train']} training images, {n['epochs']} epochs (bars: mean, dots: seeds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register_claim(
    "dropout", number="12a",
    title="Inverted dropout keeps the expected activation equal between training and test, and shrinks the "
          "generalisation gap",
    quotes=(Quote("randowly set some neurons ... to zero in forward pass ... forces now to have redundant",
                  "004_ecac44b367f9b94b.txt"),
            Quote("modropout during test time -must scale activations so that for each ... output at test time = "
                  "expected ochart at training time", "004_ecac44b367f9b94b.txt"),
            Quote("Inverted Droport -\u00b7 divide droport mosts by pat", "004_ecac44b367f9b94b.txt")),
    tested="torch.nn.Dropout (inverted dropout: kept units are scaled by 1/(1-p) during training, nothing at test "
           "time) on the hidden activations of a trained 784-256-256-10 MLP: the mean activation over a batch in "
           "training mode, one mask draw at a time, against the eval-mode mean (the unscaled mask is shown beside "
           "it). The gap: the same MLP trained with and without dropout p = 0.5 on a small Fashion-MNIST subset "
           "for many epochs (Adam, cosine), test minus training error. ('divide by p' in the notes is p = keep "
           "probability.)",
    rule="Supported when the train/eval mean ratio's 95% interval lies within 1 +- 1% and the gap without dropout "
         "minus the gap with it has its 95% interval above 0.",
    uncertainty="t interval over mask draws (expectation); paired t interval over seeds (gap)",
    settings=DropoutSettings, quick={"n_train": 1000, "epochs": 20, "test_images": 2000, "draws": 100,
                                     "seeds": (0, 1, 2)},
    verdict=dropout_verdict, plot=plot_dropout)
def dropout_claim(s: DropoutSettings, ctx: ClaimContext) -> dict[str, Any]:
    train_err: dict[str, list[float]] = {"0": [], str(s.p): []}
    test_err: dict[str, list[float]] = {"0": [], str(s.p): []}
    nets = {}
    for seed in s.seeds:
        train, test = split_pair(ctx, s.n_train, s.test_images, seed=seed)
        for p in (0.0, s.p):
            net = mlp(p, s.hidden, seed)
            with torch.random.fork_rng(devices=[]):
                fit(net, train, None, config(epochs=s.epochs, seed=seed, ctx=ctx, channels_last=False))
            key = "0" if p == 0 else str(s.p)
            train_err[key].append(1 - float(correct(net, train).float().mean()))
            test_err[key].append(1 - float(correct(net, test).float().mean()))
            nets[(seed, key)] = net
    # the expectation: hidden activations (input of the first dropout) of the trained dropout network
    net = nets[(s.seeds[0], str(s.p))].eval()
    _, test = split_pair(ctx, s.n_train, s.test_images, seed=s.seeds[0])
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        h = net[:3](as_floats(test)[:1000])  # (1000, hidden) ReLU outputs
        drop = nn.Dropout(s.p).train()
        eval_mean = float(h.mean())
        g = torch.Generator().manual_seed(s.seeds[0])
        inverted, plain = [], []
        for _ in range(s.draws):
            torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g)))
            out = drop(h)
            inverted.append(float(out.mean()) / eval_mean)
            plain.append(float((out * (1 - s.p)).mean()) / eval_mean)  # the mask without the 1/(1-p) scaling
    gap = {k: [te - tr for te, tr in zip(test_err[k], train_err[k])] for k in train_err}
    return {"p": s.p, "tolerance": s.tolerance, "n_train": s.n_train, "epochs": s.epochs,
            "mean_ratio_inverted": inverted, "mean_ratio_plain": plain, "train_error": train_err,
            "test_error": test_err, "gap": gap}


# --------------------------------------------------------------------------------------------- claim 12b


@dataclass
class EarlyStoppingSettings:
    """LeNet-5 (ReLU, max pooling) on a small Fashion-MNIST subset, trained long with a held-out validation set.

    Attributes:
        n_train, n_val: training and validation images (both from the training split, disjoint).
        epochs, lr: Adam at a constant rate (no schedule: a decaying rate hides overfitting).
    """

    n_train: int = 2000
    n_val: int = 2000
    test_images: int = 5000
    epochs: int = 40
    lr: float = 2e-3
    seeds: tuple[int, ...] = (0, 1, 2, 3)


def early_stopping_verdict(numbers: dict[str, Any]) -> Verdict:
    r = numbers["runs"]
    return combine([
        part("validation loss at the end minus its minimum", t_interval([a - b for a, b in
                                                                          zip(r["val_loss_last"],
                                                                              r["val_loss_min"])]), 0),
        part("test loss at the end minus at the validation minimum",
             paired_interval(r["test_loss_last"], r["test_loss_best"]), 0),
    ])


def plot_early_stopping(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    r = result.numbers["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i in range(len(result.seeds)):
        c = f"C{i}"
        ep = range(1, len(r["train_loss_curve"][i]) + 1)
        axes[0].plot(ep, r["train_loss_curve"][i], "--", color=c, lw=1, label="training" if i == 0 else None)
        axes[0].plot(ep, r["val_loss_curve"][i], "-", color=c, lw=1.2, label="validation" if i == 0 else None)
        axes[0].axvline(r["best_epoch"][i], color=c, ls=":", lw=0.8)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy")
    axes[0].set_title("losses per seed (dotted: validation minimum = early stop)", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[0].set_yscale("log")
    axes[0].grid(alpha=0.3)
    ax = axes[1]
    for k, key in enumerate(("test_loss_best", "test_loss_last")):
        ax.bar(k, sum(r[key]) / len(r[key]), color=("tab:green", "tab:red")[k], alpha=0.7)
        ax.scatter([k] * len(r[key]), r[key], color="black", s=10, zorder=3)
    ax.set_xticks([0, 1], ["stopped at the validation\nminimum", "trained to the end"])
    ax.set_ylabel("test cross-entropy")
    acc_b, acc_l = (100 * sum(r[k]) / len(r[k]) for k in ("test_acc_best", "test_acc_last"))
    ax.set_title(f"test loss (accuracy {acc_b:.1f}% vs {acc_l:.1f}%)", fontsize=9)
    fig.tight_layout()
    return fig


@register_claim(
    "early-stopping", number="12b",
    title="Stop training when the validation loss starts rising (overfitting)",
    quotes=(Quote("How do we know when to stop training? / When we see that the loss of training is increasing again "
                  "= overfitting", "003_dbe7e23f1359843d.txt"),),
    tested="The card says 'the loss of training'; read literally it never fires (the training loss keeps falling, "
           "reported as the number of epochs where it rose). Tested is the intended rule, early stopping on the "
           "validation loss: LeNet-5 trained long at a constant Adam rate on a small subset, a disjoint validation "
           "subset scored after every epoch (cnnlab.train.fit keeps the best-validation checkpoint); the "
           "validation loss rises after its minimum, and the network at that minimum has a lower test loss than "
           "the network at the end.",
    rule="Supported when the validation loss at the end minus its minimum, and the test loss at the end minus the "
         "test loss at the validation minimum, both have their 95% interval above 0.",
    uncertainty="t / paired t interval over seeds",
    settings=EarlyStoppingSettings, quick={"n_train": 1000, "n_val": 1000, "test_images": 2000, "epochs": 25,
                                           "seeds": (0, 1, 2)},
    verdict=early_stopping_verdict, plot=plot_early_stopping)
def early_stopping_claim(s: EarlyStoppingSettings, ctx: ClaimContext) -> dict[str, Any]:
    runs: dict[str, list[Any]] = {}
    for seed in s.seeds:
        pool, test = split_pair(ctx, s.n_train + s.n_val, s.test_images, seed=seed)
        perm = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
        train, val = pool.subset(perm[:s.n_train]), pool.subset(perm[s.n_train:])
        net = build("lenet5", seed, num_classes=10, in_channels=1, activation="relu", pool="max")
        with tempfile.TemporaryDirectory(prefix="cnnlab-claim-") as tmp, torch.random.fork_rng(devices=[]):
            hist = fit(net, train, val, config(epochs=s.epochs, seed=seed, ctx=ctx, lr=s.lr, schedule="none",
                                               channels_last=False, out_dir=tmp))
            best = models.load(hist.best_dir)
        last_eval, best_eval = evaluate(net, test), evaluate(best, test)
        rows = hist.rows
        val_loss = [r.val_loss for r in rows]
        for k, v in (("train_loss_curve", [r.train_loss for r in rows]), ("val_loss_curve", val_loss),
                     ("best_epoch", hist.best_epoch), ("val_loss_min", min(val_loss)), ("val_loss_last", val_loss[-1]),
                     ("test_loss_best", best_eval.loss), ("test_loss_last", last_eval.loss),
                     ("test_acc_best", best_eval.accuracy), ("test_acc_last", last_eval.accuracy),
                     ("train_loss_rises", sum(b.train_loss > a.train_loss for a, b in zip(rows, rows[1:])))):
            runs.setdefault(k, []).append(v)
    return {"runs": runs, "epochs": s.epochs}


# --------------------------------------------------------------------------------------------- claim 12c


@dataclass
class BatchNormSettings:
    """He et al.'s plain network (cnnlab.models ``plainnet_small``) with and without batch norm, SGD (momentum
    0.9, cosine) at each learning rate of a log grid for the same short budget.

    Attributes:
        lrs: the learning-rate grid; the verdict compares the rate with the best training accuracy.
        diverged: a training accuracy at or below this counts as a failed run (chance is 10%), for the plot's
            "largest rate that still trains".
    """

    depth: int = 8
    width: int = 8
    size: int = 14
    n_train: int = 3000
    epochs: int = 3
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    diverged: float = 0.15
    seeds: tuple[int, ...] = (0, 1, 2)


def batchnorm_verdict(numbers: dict[str, Any]) -> Verdict:
    return combine([part("log10(best learning rate with BN / without)",
                         paired_interval(numbers["log10_best_lr"]["bn"], numbers["log10_best_lr"]["plain"]), 0)])


def plot_batchnorm(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for kind, color, label in (("bn", "tab:blue", "with batch norm"), ("plain", "tab:red", "without")):
        accs = n["train_accuracy"][kind]
        lrs = [float(k) for k in accs]
        mean = [100 * sum(accs[k]) / len(accs[k]) for k in accs]
        ax.plot(lrs, mean, "o-", color=color, label=label)
        for lr, k in zip(lrs, accs):
            ax.scatter([lr] * len(accs[k]), [100 * v for v in accs[k]], color=color, alpha=0.35, s=12)
        for v in n["log10_best_lr"][kind]:
            ax.axvline(10 ** v, color=color, ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (SGD, momentum 0.9)")
    ax.set_ylabel("training accuracy after the budget (%)")
    ax.set_title(f"plain-{n['depth']} network, {n['epochs']} epochs (line: mean, dots: seeds, dotted: best rate "
                 "per seed)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register_claim(
    "batchnorm-lr", number="12c",
    title="Batch norm allows higher learning rates",
    quotes=(Quote("Batch Non ... alows higher learning rates reduced reduces strong dependence or covariants "
                  "initialization for dropour shift reduces need for dropour", "004_ecac44b367f9b94b.txt"),),
    tested="The same plain network (cnnlab.models plainnet_small) with batch norm after every conv and without it "
           "(biased convs), trained with SGD (momentum 0.9, cosine) for the same few epochs at each learning rate "
           "of a log grid; the training accuracy (eval mode) at the end. The claim is read as: the rate that "
           "trains best is higher with batch norm (each variant's own optimum, so a network that learns slower "
           "overall is not counted as intolerant of high rates). A run that diverges scores 0.",
    rule="Supported when log10(best rate with BN / best rate without) has its 95% interval above 0.",
    uncertainty="paired t interval over seeds (rates on a grid of half-decade steps)",
    settings=BatchNormSettings,
    quick={"n_train": 2000, "epochs": 2, "lrs": (0.01, 0.1, 1.0)},
    verdict=batchnorm_verdict, plot=plot_batchnorm)
def batchnorm_claim(s: BatchNormSettings, ctx: ClaimContext) -> dict[str, Any]:
    accs: dict[str, dict[str, list[float]]] = {"bn": {}, "plain": {}}
    best_lr: dict[str, list[float]] = {"bn": [], "plain": []}
    largest: dict[str, list[float | None]] = {"bn": [], "plain": []}
    for seed in s.seeds:
        train, _ = split_pair(ctx, s.n_train, 10, seed=seed, size=s.size)
        for kind in ("bn", "plain"):
            got = {}
            for lr in s.lrs:
                kw = {"num_classes": 10, "in_channels": 1, "depth": s.depth, "width": s.width,
                      "batch_norm": kind == "bn"}
                cfg = config(epochs=s.epochs, seed=seed, ctx=ctx, optimizer="sgd", lr=lr, momentum=0.9,
                             weight_decay=0.0)
                try:
                    net, _ = trained(ctx, "plainnet_small", kw, train, cfg, data_key=("fmnist", s.n_train, seed,
                                                                                      s.size))
                    acc = float(correct(net, train).float().mean())
                except TrainingDiverged:
                    acc = 0.0
                got[lr] = acc if math.isfinite(acc) else 0.0
                accs[kind].setdefault(f"{lr:g}", []).append(got[lr])
            best_lr[kind].append(math.log10(max(s.lrs, key=lambda v: (got[v], -v))))
            ok = [v for v in s.lrs if got[v] > s.diverged]
            largest[kind].append(max(ok) if ok else None)
    return {"train_accuracy": accs, "log10_best_lr": best_lr, "largest_training_lr": largest,
            "depth": s.depth, "epochs": s.epochs}
