"""Claims measured by the experiments that were already here: transfer learning against data size and domain
distance (claim 6, :func:`cnnlab.experiments.data_size_experiment`) and losses for imbalanced data (claim 11,
:func:`cnnlab.experiments.imbalance_experiment`), each run once per seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_stats import Verdict, combine, paired_interval, part
from cnnlab.experiments._imbalance import DEFAULT_LOSSES, imbalance_experiment
from cnnlab.experiments._transfer_size import data_size_experiment

# ---------------------------------------------------------------------------------------------- claim 6


@dataclass
class TransferSettings:
    """:func:`cnnlab.experiments.data_size_experiment` once per seed (ImageNet EfficientNet-Lite0 as the source).

    Attributes:
        near, far: the target data sets (Fashion-MNIST: photographed objects; the 8x8 digits: further from
            ImageNet photos).
        sizes: labelled target images; "little data" is the smallest, "enough data" the largest.
        eval_size, resize, min_epochs, min_steps, max_epochs: as in ``data_size_experiment``.
    """

    near: str = "fashion-mnist"
    far: str = "digits"
    sizes: tuple[int, ...] = (50, 500)
    eval_size: int = 300
    resize: int = 32
    min_epochs: int = 2
    min_steps: int = 20
    max_epochs: int = 8
    seeds: tuple[int, ...] = (0, 1, 2)


def _acc(numbers: dict[str, Any], data: str, size: str, method: str, key: str = "test_acc") -> list[float]:
    return numbers["runs"][data][size][method][key]


def transfer_verdict(numbers: dict[str, Any]) -> Verdict:
    near, far = numbers["near"], numbers["far"]
    sizes = sorted(int(k) for k in numbers["runs"][near])
    small, large = str(sizes[0]), str(sizes[-1])

    def gain(data: str, size: str, method: str, key: str = "test_acc") -> list[float]:
        return [a - b for a, b in zip(_acc(numbers, data, size, method, key), _acc(numbers, data, size, "scratch",
                                                                                   key))]

    return combine([
        part(f"{near}, {small} images: linear probe minus scratch accuracy",
             paired_interval(_acc(numbers, near, small, "linear"), _acc(numbers, near, small, "scratch")), 0,
             unit="pp"),
        part(f"{small} images: linear-probe gain on {near} minus on {far}",
             paired_interval(gain(near, small, "linear"), gain(far, small, "linear")), 0, unit="pp"),
        part(f"{near}, {large} images: fine-tune minus scratch accuracy after epoch 1",
             paired_interval(_acc(numbers, near, large, "finetune", "first_epoch_acc"),
                             _acc(numbers, near, large, "scratch", "first_epoch_acc")), 0, unit="pp"),
        part(f"{near}: fine-tune gain with {small} minus with {large} images",
             paired_interval(gain(near, small, "finetune"), gain(near, large, "finetune")), 0, unit="pp"),
    ])


def plot_transfer(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    data = [n["near"], n["far"]]
    colors = {"scratch": "tab:blue", "linear": "tab:orange", "finetune": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.9))
    for ax, d in zip(axes[:2], data):
        sizes = sorted(int(k) for k in n["runs"][d])
        for m, c in colors.items():
            vals = [n["runs"][d][str(s)][m]["test_acc"] for s in sizes]
            ax.plot(sizes, [100 * sum(v) / len(v) for v in vals], "o-", color=c, label=m)
            for s, v in zip(sizes, vals):
                ax.scatter([s] * len(v), [100 * x for x in v], color=c, alpha=0.35, s=12)
        ax.set_xscale("log")
        ax.set_xlabel("labelled target images")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{d} ({'near' if d == n['near'] else 'far'} target); line: mean, dots: seeds", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[2]
    large = str(max(int(k) for k in n["runs"][n["near"]]))
    for m in ("scratch", "finetune"):
        curves = n["runs"][n["near"]][large][m]["curve"]
        length = min(len(c) for c in curves)
        mean = [100 * sum(c[i] for c in curves) / len(curves) for i in range(length)]
        ax.plot(range(1, length + 1), mean, "o-", color=colors[m], label=m)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{n['near']}, {large} images: convergence (mean over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@register_claim(
    "transfer", number="6",
    title="Transfer learning: strong with little target data, mainly faster convergence with enough data, weaker "
          "when source and target domains are far apart",
    quotes=(Quote("IF teh source dataset you train on is very different from the target dataset, transfer learning "
                  "is not as effective. If you have enough data for the target domain, it won\u2019t perform better, "
                  "it will just result in faster convergence", "000_27d70af722d9eeea.txt"),
            Quote("Performs very well on very small amount of training, if similar to the original data Does not "
                  "work very well if the target task's dataset is very different", "001_25408df1fda51281.txt"),
            Quote("small dataset retrain only classifier, i.e. last (end) softmax layer - medium dataset person the "
                  "tuning", "004_ecac44b367f9b94b.txt")),
    tested="cnnlab.experiments.data_size_experiment: the ImageNet EfficientNet-Lite0 as the source; training from "
           "scratch (same architecture, random weights), a linear probe on its frozen features (the notes' recipe "
           "for small sets) and fine-tuning (the recipe for larger sets) on stratified subsets of Fashion-MNIST "
           "(the near target) and the 8x8 digits (the far one: the notes give no measure of distance, this pair is "
           "the tested reading). Strong with little data: the probe beats scratch at the smallest size. Weaker when "
           "far: that gain is larger on Fashion-MNIST than on the digits. Faster convergence with enough data: "
           "fine-tuning's accuracy after the first epoch beats scratch's at the largest size. 'Won't perform "
           "better': fine-tuning's final-accuracy gain over scratch is smaller at the largest size than at the "
           "smallest.",
    rule="Supported when the four paired differences (probe - scratch with little data; near gain - far gain; "
         "fine-tune - scratch after one epoch with enough data; fine-tune gain with little minus with enough data) "
         "all have their 95% interval above 0.",
    uncertainty="paired t interval over seeds (subset, weights, order)",
    settings=TransferSettings,
    quick={"sizes": (50, 200), "eval_size": 200, "resize": 24, "min_epochs": 1, "min_steps": 8, "max_epochs": 2},
    verdict=transfer_verdict, plot=plot_transfer)
def transfer_claim(s: TransferSettings, ctx: ClaimContext) -> dict[str, Any]:
    runs: dict[str, dict[str, dict[str, dict[str, list[Any]]]]] = {}
    for seed in s.seeds:
        r = data_size_experiment((s.near, s.far), sizes=s.sizes, eval_size=s.eval_size, resize=s.resize,
                                 min_epochs=s.min_epochs, min_steps=s.min_steps, max_epochs=s.max_epochs,
                                 seed=seed, device=ctx.device, data_dir=ctx.data_dir)
        seen: dict[str, list[int]] = {}
        for row in r.rows:
            curve = r.curves[f"{row['dataset']}/{row['train_images']}/{row['method']}"]
            # rows come per data set in the order of ``sizes``; key them by the size asked for (a size above a
            # data set's training images is capped there)
            order = seen.setdefault(row["dataset"], [])
            if row["train_images"] not in order:
                order.append(row["train_images"])
            asked = str(s.sizes[order.index(row["train_images"])])
            cell = runs.setdefault(row["dataset"], {}).setdefault(asked, {}).setdefault(
                row["method"], {"test_acc": [], "first_epoch_acc": [], "curve": [], "train_images": []})
            cell["train_images"].append(row["train_images"])
            cell["test_acc"].append(row["test_acc"])
            cell["first_epoch_acc"].append(curve[0])
            cell["curve"].append(curve)
    return {"near": s.near, "far": s.far, "runs": runs}


# --------------------------------------------------------------------------------------------- claim 11


@dataclass
class ImbalanceSettings:
    """:func:`cnnlab.experiments.imbalance_experiment` once per seed: Fashion-MNIST made long-tailed, LeNet-5 (ReLU,
    max pooling) per loss, scored on the balanced test set.

    Attributes:
        ratio, n_max, epochs, eval_size: as in ``imbalance_experiment`` (``eval_size=None``: all 10,000).
    """

    ratio: float = 100.0
    n_max: int = 3000
    epochs: int = 5
    eval_size: int | None = 5000
    seeds: tuple[int, ...] = (0, 1, 2, 3)


def imbalance_verdict(numbers: dict[str, Any]) -> Verdict:
    ce = numbers["minority_recall"]["ce"]
    return combine([part(f"{name}: minority-class recall minus cross-entropy's",
                         paired_interval(numbers["minority_recall"][name], ce), 0, unit="pp")
                    for name in numbers["minority_recall"] if name != "ce"])


def plot_imbalance(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    names = list(n["minority_recall"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    for ax, key, title in ((axes[0], "minority_recall", "recall of the minority classes"),
                           (axes[1], "balanced_accuracy", "balanced accuracy (mean per-class recall)")):
        for i, name in enumerate(names):
            v = n[key][name]
            ax.bar(i, 100 * sum(v) / len(v), color="tab:grey" if name == "ce" else "tab:blue", alpha=0.7)
            ax.scatter([i] * len(v), [100 * x for x in v], color="black", s=12, zorder=3)
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_ylabel("%")
        ax.set_title(f"{title}\nbar: mean, dots: seeds", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"Fashion-MNIST made long-tailed ({n['ratio']:g}:1), class counts {n['counts']}", fontsize=9)
    fig.tight_layout()
    return fig


@register_claim(
    "imbalance-losses", number="11",
    title="Focal and class-balanced losses help the minority classes of an imbalanced set",
    quotes=(Quote("Focal Loss / -1 * (1- prediction of true class)^gamma * log(prediction of true class)",
                  "001_25408df1fda51281.txt"),
            Quote("Balanced Cross-Entropy Loss / -1 * alpha * log(prediction of true class)",
                  "001_25408df1fda51281.txt"),
            Quote("Class Balanced Focal Loss / -1 * alpha_t (1- prediction of true class)^gamma * log(prediction of "
                  "true class)", "001_25408df1fda51281.txt")),
    tested="The notes give the losses, not what they are for; the tested claim is the one they are made for (Lin "
           "et al. 2017, Cui et al. 2019): on Fashion-MNIST made long-tailed (100:1, class k keeps n_max * "
           "100^(-k/9) images), LeNet-5 trained with each loss (same seed, weights and schedule) reaches a higher "
           "mean recall on the minority classes (those with at most a tenth of n_max images) of the balanced test "
           "set than with plain cross-entropy.",
    rule="Supported when, for each of focal, alpha-balanced cross-entropy and class-balanced focal loss, the paired "
         "difference of minority recall against cross-entropy has its 95% interval above 0.",
    uncertainty="paired t interval over seeds",
    settings=ImbalanceSettings, quick={"n_max": 1000, "epochs": 4, "eval_size": 2000, "seeds": (0, 1, 2)},
    verdict=imbalance_verdict, plot=plot_imbalance)
def imbalance_claim(s: ImbalanceSettings, ctx: ClaimContext) -> dict[str, Any]:
    minority: dict[str, list[float]] = {}
    balanced: dict[str, list[float]] = {}
    counts = None
    for seed in s.seeds:
        r = imbalance_experiment("fashion-mnist", ratio=s.ratio, n_max=s.n_max, losses=DEFAULT_LOSSES,
                                 epochs=s.epochs, seed=seed, device=ctx.device, eval_size=s.eval_size,
                                 data_dir=ctx.data_dir)
        counts = r.counts
        for row in r.rows:
            minority.setdefault(row["loss"], []).append(row["minority_recall"])
            balanced.setdefault(row["loss"], []).append(row["balanced_accuracy"])
    return {"ratio": s.ratio, "counts": counts, "minority_recall": minority, "balanced_accuracy": balanced}
