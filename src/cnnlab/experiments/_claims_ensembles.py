"""Claim 13: ensembles of independently trained networks beat their members (AlexNet averaged seven), and
snapshot ensembles (Huang et al. 2017) and parameter averaging (Izmailov et al. 2018) give part of that for the
cost of one run. Built on ``cnnlab.train.fit_ensemble`` / ``ensemble_evaluate``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import build, config, correct, split_pair
from cnnlab.experiments._claims_stats import Verdict, combine, paired_interval, part
from cnnlab.train import ensemble_evaluate, fit, fit_ensemble, recalibrate_bn


@dataclass
class EnsembleSettings:
    """FastNet on Fashion-MNIST.

    Attributes:
        members: independently trained networks (seeds ``seed .. seed + members - 1``); AlexNet used seven.
        epochs: each member's training (Adam 2e-3, cosine); the single run is member 0.
        cycles: the snapshot run: ``cycles`` cosine cycles of ``epochs / cycles`` epochs each (warm restarts,
            Loshchilov & Hutter 2017), one snapshot at the end of each, so its cost is one member's.
    """

    n_train: int = 10000
    test_images: int | None = None
    epochs: int = 4
    members: int = 7
    cycles: int = 4
    seeds: tuple[int, ...] = (0,)


def ensemble_verdict(numbers: dict[str, Any]) -> Verdict:
    c = numbers["correct"]
    best = max(range(len(c["members"])), key=lambda i: sum(c["members"][i]))
    return combine([
        part(f"ensemble of {len(c['members'])} minus its best member's accuracy",
             paired_interval(c["ensemble"], c["members"][best], unit="images"), 0, unit="pp"),
        part(f"snapshot ensemble ({numbers['cycles']} snapshots, one run) minus the single run",
             paired_interval(c["snapshot"], c["members"][0], unit="images"), 0, unit="pp"),
        part("parameter average of the snapshots minus the single run",
             paired_interval(c["average"], c["members"][0], unit="images"), 0, unit="pp"),
    ])


def plot_ensembles(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    acc = n["accuracy"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.9))
    ax = axes[0]
    k = range(1, len(n["ensemble_of_first_k"]) + 1)
    ax.plot(k, [100 * v for v in n["ensemble_of_first_k"]], "o-", label="ensemble of the first k members")
    ax.plot(k, [100 * v for v in acc["members"]], "s", color="grey", label="member k alone")
    ax.set_xlabel("k (training runs)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("independent ensembles (cost: k runs)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    names = ["single run", "snapshot\nensemble", "parameter\naverage", f"ensemble of\n{len(acc['members'])}"]
    vals = [acc["members"][0], acc["snapshot"], acc["average"], acc["ensemble"]]
    colors = ["tab:grey", "tab:orange", "tab:green", "tab:blue"]
    ax.bar(range(4), [100 * v for v in vals], color=colors)
    for i, v in enumerate(vals):
        ax.text(i, 100 * v + 0.1, f"{100 * v:.2f}%", ha="center", fontsize=8)
    lo = 100 * min(vals) - 2
    ax.set_ylim(lo, 100 * max(vals) + 1)
    ax.set_xticks(range(4), names, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"cost: 1, 1, 1 and {len(acc['members'])} runs of {n['epochs']} epochs", fontsize=9)
    fig.tight_layout()
    return fig


def _average(snapshots: list[torch.nn.Module]) -> torch.nn.Module:
    avg = copy.deepcopy(snapshots[0])
    sd = avg.state_dict()
    for k, v in sd.items():
        if v.is_floating_point():
            sd[k] = sum(s.state_dict()[k] for s in snapshots) / len(snapshots)
    avg.load_state_dict(sd)
    return avg


@register_claim(
    "ensembles", number="13",
    title="Ensembles of independently trained networks beat their members; snapshot ensembles and parameter "
          "averaging give part of that for the cost of one run",
    quotes=(Quote("ReLU, specialized normalization layers, PCA-based data augmentation, Dropout, Ensembling (used 7 "
                  "NN with different random weights)", "001_25408df1fda51281.txt"),
            Quote("Time Ersemble: independent models ... prediction any! any prediction probs ... paran avg: avg "
                  "parans ... Model Snopshot! train one mode! ... take sugashets of params",
                  "004_ecac44b367f9b94b.txt")),
    tested="FastNet on Fashion-MNIST. Independent ensemble: members trained from different seeds "
           "(cnnlab.train.fit_ensemble), softmax probabilities averaged (cnnlab.train.ensemble_evaluate), compared "
           "with its best member. For the cost of one run: a snapshot ensemble (the same epochs split into cosine "
           "cycles with warm restarts, one snapshot per cycle, probabilities averaged; Huang et al. 2017) and the "
           "average of those snapshots' weights with batch-norm statistics recomputed (Izmailov et al. 2018), "
           "each compared with the single run (member 0, same epochs). ('Part of that' is reported, not decided: "
           "the gains are shown side by side.)",
    rule="Supported when the ensemble beats its best member, the snapshot ensemble beats the single run and the "
         "parameter average beats the single run (each paired accuracy difference's 95% interval above 0).",
    uncertainty="paired t interval over test images (one set of trained networks)",
    settings=EnsembleSettings, quick={"n_train": 5000, "test_images": 2000, "epochs": 3, "members": 4, "cycles": 3},
    verdict=ensemble_verdict, plot=plot_ensembles)
def ensembles_claim(s: EnsembleSettings, ctx: ClaimContext) -> dict[str, Any]:
    if s.epochs % s.cycles:
        raise ValueError(f"epochs ({s.epochs}) must be a multiple of cycles ({s.cycles})")
    seed = s.seeds[0]
    train, test = split_pair(ctx, s.n_train, s.test_images, seed=seed)
    cfg = config(epochs=s.epochs, seed=seed, ctx=ctx)
    kw = {"num_classes": 10, "in_channels": 1}
    with torch.random.fork_rng(devices=[]):
        ens = fit_ensemble(lambda i: build("fastnet_small", seed + i, **kw), train, None, cfg, n=s.members)
    members = ens.models
    # snapshot run: cycles of epochs / cycles each, restarting the cosine schedule; data order differs per cycle
    net = build("fastnet_small", seed, **kw)
    snapshots = []
    for c in range(s.cycles):
        with torch.random.fork_rng(devices=[]):
            fit(net, train, None, config(epochs=s.epochs // s.cycles, seed=seed + 1000 * (c + 1), ctx=ctx))
        snapshots.append(copy.deepcopy(net).eval())
    avg = _average(snapshots)
    recalibrate_bn(avg, train.images[:5000])
    avg.eval()

    def probs_correct(nets) -> list[float]:
        r = ensemble_evaluate(nets, test)
        return (r.probs.argmax(1) == test.labels).int().tolist()

    correct_members = [correct(m, test).int().tolist() for m in members]
    numbers = {
        "epochs": s.epochs, "cycles": s.cycles,
        "correct": {"members": correct_members, "ensemble": probs_correct(members),
                    "snapshot": probs_correct(snapshots), "average": correct(avg, test).int().tolist()},
        "ensemble_of_first_k": [ensemble_evaluate(members[:k], test).accuracy for k in range(1, len(members) + 1)],
    }
    c = numbers["correct"]
    numbers["accuracy"] = {"members": [sum(v) / len(v) for v in c["members"]],
                           **{k: sum(c[k]) / len(c[k]) for k in ("ensemble", "snapshot", "average")}}
    return numbers
