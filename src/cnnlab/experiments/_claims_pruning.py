"""Claim 15: over-parameterised networks can be pruned -- accuracy against sparsity for magnitude (unstructured)
and structured (whole channels) pruning with ``torch.nn.utils.prune``, and the size and speed actually saved:
zeros in a dense tensor save nothing until stored sparse, removed channels save both."""

from __future__ import annotations

import copy
import io
import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_common import as_floats, config, correct, split_pair, trained
from cnnlab.experiments._claims_stats import Verdict, combine, from_summary, part, summary, t_interval

MODEL = "fastnet_small"


@dataclass
class PruningSettings:
    """A wide FastNet (conv-BN-ReLU x3 at ``widths``, global max pool, linear) trained on Fashion-MNIST, then pruned
    one-shot (no fine-tuning).

    Attributes:
        widths: the three conv widths (FastNet's default is 16-32-64: 32-64-128 has ~4x its conv parameters).
        sparsities: fractions of all conv and linear weights removed by global magnitude (L1) pruning.
        channel_fractions: fractions of each conv layer's output channels removed by L2-norm structured pruning.
        verdict_sparsity, verdict_channels: the points the verdict reads; ``tolerance``: the accuracy drop still
            called "keeps its accuracy".
        timing_batch, timing_repeats: the speed measurement (median-free: every repeat is a sample).
    """

    widths: tuple[int, int, int] = (32, 64, 128)
    n_train: int | None = 20000
    epochs: int = 3
    test_images: int | None = None
    sparsities: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    channel_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 0.75)
    verdict_sparsity: float = 0.5
    verdict_channels: float = 0.25
    tolerance: float = 0.01
    timing_batch: int = 256
    timing_repeats: int = 20
    seeds: tuple[int, ...] = (0,)


def _weights(net: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def magnitude_pruned(net: nn.Module, sparsity: float) -> nn.Module:
    """A copy with the ``sparsity`` fraction of smallest-magnitude conv / linear weights zeroed (global L1,
    ``prune.global_unstructured``), the masks made permanent."""
    m = copy.deepcopy(net)
    params = _weights(m)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=sparsity)
    for mod, name in params:
        prune.remove(mod, name)
    return m


def channel_pruned(net: nn.Module, fraction: float) -> tuple[nn.Module, nn.Module]:
    """FastNet with the ``fraction`` of lowest-L2-norm output channels of every conv removed
    (``prune.ln_structured``): ``(masked, slim)``. ``masked`` keeps the shapes with the channels zeroed (their
    batch-norm scale and shift too, so they output exactly 0); ``slim`` is the physically smaller network."""
    masked = copy.deepcopy(net).eval()
    convs = [blk[0] for blk in masked.features if isinstance(blk, nn.Sequential)]
    bns = [blk[1] for blk in masked.features if isinstance(blk, nn.Sequential)]
    keep = []
    for conv, bn in zip(convs, bns):
        prune.ln_structured(conv, "weight", amount=fraction, n=2, dim=0)
        alive = conv.weight_mask.flatten(1).amax(1) > 0  # (out_channels,)
        prune.remove(conv, "weight")
        prune.custom_from_mask(bn, "weight", alive.float())
        prune.custom_from_mask(bn, "bias", alive.float())
        prune.remove(bn, "weight")
        prune.remove(bn, "bias")
        keep.append(alive.nonzero().flatten())
    slim = copy.deepcopy(masked)
    prev = None
    for blk, idx in zip([b for b in slim.features if isinstance(b, nn.Sequential)], keep):
        conv, bn = blk[0], blk[1]
        w = conv.weight.data[idx]
        if prev is not None:
            w = w[:, prev]
        new = nn.Conv2d(w.shape[1], w.shape[0], conv.kernel_size, conv.stride, conv.padding, bias=False)
        new.weight.data.copy_(w)
        nb = nn.BatchNorm2d(len(idx), eps=bn.eps, momentum=bn.momentum)
        for attr in ("weight", "bias", "running_mean", "running_var"):
            getattr(nb, attr).data.copy_(getattr(bn, attr).data[idx])
        blk[0], blk[1] = new, nb
        prev = idx
    fc = nn.Linear(len(prev), slim.fc.out_features)
    fc.weight.data.copy_(slim.fc.weight.data[:, prev])
    fc.bias.data.copy_(slim.fc.bias.data)
    slim.fc = fc
    return masked, slim.eval()


def _bytes(state: dict[str, torch.Tensor]) -> int:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getbuffer().nbytes


def _sparse_bytes(net: nn.Module) -> int:
    """The state dict with every conv / linear weight stored as CSR (values + int64 indices), serialised."""
    sd = {}
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we only store with it
        warnings.simplefilter("ignore", UserWarning)
        for k, v in net.state_dict().items():
            sd[k] = v.flatten(1).to_sparse_csr() if k.endswith("weight") and v.dim() >= 2 else v
        return _bytes(sd)


def _time(net: nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    out = []
    with torch.no_grad():
        net(x)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            out.append(time.perf_counter() - t0)
    return out


def pruning_verdict(numbers: dict[str, Any]) -> Verdict:
    tol = numbers["tolerance"]
    mag = numbers["magnitude"][f"{numbers['verdict_sparsity']:g}"]
    ch = numbers["channels"][f"{numbers['verdict_channels']:g}"]
    return combine([
        part(f"accuracy drop, {100 * numbers['verdict_sparsity']:g}% of weights removed (magnitude)",
             from_summary(mag["drop"]), tol, "below", unit="pp"),
        part(f"accuracy drop, {100 * numbers['verdict_channels']:g}% of channels removed (structured)",
             from_summary(ch["drop"]), tol, "below", unit="pp"),
        part(f"forward time, dense / slim network ({100 * numbers['verdict_channels']:g}% of channels removed)",
             from_summary(ch["speedup"]), 1.0, "above", unit="x"),
    ])


def _interval(values: list[float], unit: str, paired: bool = False) -> dict[str, Any]:
    return summary(t_interval(values, unit=unit), paired=paired)


def plot_pruning(result: ClaimResult):
    from cnnlab._plot import pyplot

    plt = pyplot()
    n = result.numbers
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    ax = axes[0]
    mag = n["magnitude"]
    xs = [0.0] + [float(k) for k in mag]
    ax.plot([100 * v for v in xs], [100 * n["dense_accuracy"]] + [100 * r["accuracy"] for r in mag.values()], "o-",
            label="magnitude (weights, global L1)")
    ch = n["channels"]
    ax.plot([100 * (1 - r["parameters"] / n["dense_parameters"]) for r in ch.values()],
            [100 * r["accuracy"] for r in ch.values()], "s-", label="structured (channels, L2)")
    ax.axhline(100 * (n["dense_accuracy"] - n["tolerance"]), color="grey", ls="--", lw=0.8,
               label=f"dense - {100 * n['tolerance']:g} pp")
    ax.set_xlabel("% of parameters removed")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy against sparsity (one-shot, no fine-tuning)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax = axes[1]
    labels = ["dense"] + [f"{100 * float(k):g}% zeros\n(dense file)" for k in list(mag)[-2:]]
    sizes = [n["dense_bytes"]] + [mag[k]["dense_bytes"] for k in list(mag)[-2:]]
    labels += [f"{100 * float(k):g}% zeros\n(CSR)" for k in list(mag)[-2:]]
    sizes += [mag[k]["sparse_bytes"] for k in list(mag)[-2:]]
    labels += [f"{100 * float(k):g}% channels\nremoved" for k in list(ch)[-2:]]
    sizes += [ch[k]["bytes"] for k in list(ch)[-2:]]
    ax.barh(range(len(sizes)), [v / 1024 for v in sizes], color=["tab:grey"] + ["tab:blue"] * 4 + ["tab:orange"] * 2)
    ax.set_yticks(range(len(sizes)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("saved state dict (KiB)")
    ax.set_title("size actually saved", fontsize=9)
    ax = axes[2]
    keys = list(ch)
    ax.errorbar([100 * float(k) for k in keys], [ch[k]["speedup"]["mean"] for k in keys],
                yerr=[[ch[k]["speedup"]["mean"] - ch[k]["speedup"]["low"] for k in keys],
                      [ch[k]["speedup"]["high"] - ch[k]["speedup"]["mean"] for k in keys]], fmt="s-",
                label="channels removed (slim network)")
    zero = n["magnitude_speedup"]
    ax.errorbar([100 * n["verdict_sparsity"]], [zero["mean"]], yerr=[[zero["mean"] - zero["low"]],
                                                                    [zero["high"] - zero["mean"]]], fmt="o",
                label=f"{100 * n['verdict_sparsity']:g}% zero weights (dense kernels)")
    ax.axhline(1, color="grey", lw=0.8)
    ax.set_xlabel("% of channels removed (squares) or of weights zeroed (dot)")
    ax.set_ylabel("forward time dense / pruned (x)")
    ax.set_title(f"speed actually saved (CPU, batch {n['timing_batch']}, same run)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@register_claim(
    "pruning", number="15",
    title="Over-parameterised networks can be pruned (accuracy against sparsity, size and speed actually saved)",
    quotes=(Quote("Exploring the space of possible architecture (methods) - Evolutionary Learning and Reinforcement "
                  "Learning - Prune over-parameterized networks - Learning of repeated blocks is typical",
                  "002_920654089f751d73.txt"),),
    tested="A wide FastNet (32-64-128 channels, 4x FastNet's conv parameters) trained on Fashion-MNIST, then "
           "pruned once without fine-tuning by torch.nn.utils.prune: global magnitude pruning of conv and linear "
           "weights (Han et al. 2015) and per-layer L2 pruning of whole conv output channels (Li et al. 2017), "
           "the latter rebuilt as a physically smaller network (checked equal to the masked one). 'Can be pruned' "
           "is read as: removing half the weights, or a quarter of the channels, costs under 1 point of accuracy. "
           "Size: the saved state dict, dense and with the weights stored as CSR. Speed: forward time on the CPU, "
           "dense against pruned, in the same run (zeroed weights in dense kernels save no time; removed channels "
           "do).",
    rule="Supported when the accuracy drop at 50% magnitude sparsity and at 25% of channels removed are both below "
         "1 point, and the slim network's forward pass is faster than the dense one's (each 95% interval on that "
         "side).",
    uncertainty="paired t interval over test images (accuracy); t interval over timing repeats (speed)",
    settings=PruningSettings,
    quick={"n_train": 5000, "epochs": 2, "test_images": 1000, "sparsities": (0.5, 0.8, 0.9, 0.95),
           "channel_fractions": (0.25, 0.5), "timing_batch": 128, "timing_repeats": 6},
    verdict=pruning_verdict, plot=plot_pruning)
def pruning_claim(s: PruningSettings, ctx: ClaimContext) -> dict[str, Any]:
    seed = s.seeds[0]
    train, test = split_pair(ctx, s.n_train, s.test_images, seed=seed)
    kw = {"num_classes": 10, "in_channels": 1, "widths": s.widths}
    net, _ = trained(ctx, MODEL, kw, train, config(epochs=s.epochs, seed=seed, ctx=ctx),
                     data_key=("fmnist", s.n_train, seed))
    net = net.to(memory_format=torch.contiguous_format).eval()
    c0 = correct(net, test).float()
    dense_params = sum(p.numel() for p in net.parameters())
    x = as_floats(test)[:s.timing_batch]
    magnitude = {}
    for sp in s.sparsities:
        m = magnitude_pruned(net, sp)
        c = correct(m, test).float()
        zeros = sum(int((mod.weight == 0).sum()) for mod, _ in _weights(m))
        total = sum(mod.weight.numel() for mod, _ in _weights(m))
        magnitude[f"{sp:g}"] = {"accuracy": float(c.mean()), "drop": _interval((c0 - c).tolist(), "images", True),
                                "zero_fraction": zeros / total, "dense_bytes": _bytes(m.state_dict()),
                                "sparse_bytes": _sparse_bytes(m)}
    m = magnitude_pruned(net, s.verdict_sparsity)
    t_dense, t_zero = _time(net, x, s.timing_repeats), _time(m, x, s.timing_repeats)
    channels = {}
    for fr in s.channel_fractions:
        masked, slim = channel_pruned(net, fr)
        with torch.no_grad():
            diff = float((masked(x) - slim(x)).abs().max())
        if diff > 1e-3:
            raise AssertionError(f"the slim network differs from the masked one by {diff}")
        c = correct(slim, test).float()
        td, ts = [], []
        for _ in range(s.timing_repeats):  # interleaved: the load on a shared CPU hits both alike
            td += _time(net, x, 1)
            ts += _time(slim, x, 1)
        channels[f"{fr:g}"] = {"accuracy": float(c.mean()), "drop": _interval((c0 - c).tolist(), "images", True),
                               "parameters": sum(p.numel() for p in slim.parameters()),
                               "bytes": _bytes(slim.state_dict()), "max_diff_vs_masked": diff,
                               "speedup": _interval([a / b for a, b in zip(td, ts)], "timing repeats")}
    return {"tolerance": s.tolerance, "verdict_sparsity": s.verdict_sparsity, "verdict_channels": s.verdict_channels,
            "dense_accuracy": float(c0.mean()), "dense_parameters": dense_params,
            "dense_bytes": _bytes(net.state_dict()), "timing_batch": s.timing_batch,
            "magnitude_speedup": _interval([a / b for a, b in zip(t_dense, t_zero)], "timing repeats"),
            "magnitude": magnitude, "channels": channels}
