"""The transfer-learning experiment of the course notes: how much does ImageNet pretraining help as the
amount of target data grows, and when source and target differ more?

Claims tested (notes 000, 001, 002, 004): transfer works with little target data; with plenty of target data
it mostly speeds up convergence; it helps less when source and target differ. For each dataset and subset
size: training from scratch (same architecture, random weights), a linear probe on the frozen ImageNet
features, fine-tuning everything from the ImageNet weights with a new classifier (the same optimiser, rates and
epochs as scratch: the two differ only in their initial weights), and LP-FT (Kumar et al. 2022: the probe's
classifier kept and the whole network fine-tuned as ``cnnlab transfer --from PROBE --mode finetune`` does it);
test accuracy after every epoch, epochs to a target accuracy.

Fine-tuning used to run at a tenth of scratch's backbone rate and half its classifier rate (1e-3 and 1e-4
against 2e-3); with the 3-15 epochs of these runs that left it below scratch in every row of ``--quick``. At
the same rates it is above scratch in every row (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnlab import models
from cnnlab._io import atomic_write_csv, atomic_write_json
from cnnlab._plot import pyplot, save_figure
from cnnlab.data import stratified_subset
from cnnlab.experiments._data import machine, train_test
from cnnlab.transfer import TransferConfig, transfer

METHODS = ("scratch", "linear", "finetune", "lpft")


@dataclass
class DataSizeResult:
    """Rows (one per dataset, size and method), per-epoch curves, where the files went, the settings."""

    rows: list[dict[str, Any]]
    curves: dict[str, list[float]]
    settings: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def epochs_for(n: int, *, batch_size: int, min_epochs: int, min_steps: int, max_epochs: int) -> int:
    """Enough epochs for ``min_steps`` optimizer steps on ``n`` images, within [min_epochs, max_epochs]."""
    return max(min_epochs, min(max_epochs, math.ceil(min_steps * batch_size / max(1, n))))


def data_size_experiment(datasets: Sequence[str] = ("fashion-mnist", "digits"), *,
                         sizes: Sequence[int] = (100, 1000), methods: Sequence[str] = METHODS,
                         source: str = "efficientnet_lite0", eval_size: int | None = 300, resize: int = 32,
                         batch_size: int = 32, lr: float = 2e-3, backbone_lr_mult: float = 1.0,
                         min_epochs: int = 3, min_steps: int = 30,
                         max_epochs: int = 15, target: float = 0.8, seed: int = 0, device: str = "cpu",
                         data_dir: str | os.PathLike | None = None,
                         out_dir: str | os.PathLike | None = None) -> DataSizeResult:
    """Scratch vs linear probe vs fine-tuning from ImageNet on subsets of each dataset.

    Args:
        datasets: ``cnnlab.data.load_dataset`` specs; Fashion-MNIST is the near target, scikit-learn's 8x8
            digits the far one.
        sizes: labelled training images per run (stratified subsets; capped at the training set's size).
        methods: any of ``"scratch"``, ``"linear"``, ``"finetune"``, ``"lpft"``.
        lr, backbone_lr_mult: AdamW's peak rate (cosine schedule) for scratch and fine-tuning, and the backbone's
            multiple of it in fine-tuning (1.0: scratch and fine-tuning differ only in their initial weights).
            LP-FT trains at :class:`cnnlab.transfer.TransferConfig`'s defaults for a kept classifier.
        eval_size: test images scored after every epoch (stratified subset; ``None`` = the whole test set).
        resize: side the network sees (the input adapter upsamples the 28x28 / 8x8 images).
        min_epochs, min_steps, max_epochs: epochs per run, see :func:`epochs_for` (small sets get more epochs).
        target: the accuracy for "epochs to target".
        out_dir: when given, writes ``transfer.json``, ``transfer.csv`` and ``transfer.png`` there.
    """
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {m!r}")
    if not sizes or any(int(s) < 10 for s in sizes):
        raise ValueError(f"sizes must be at least 10 images each, got {list(sizes)}")
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[float]] = {}
    for spec in datasets:
        train_all, test = train_test(spec, eval_size=eval_size, seed=seed, data_dir=data_dir)
        for n in sizes:
            train = stratified_subset(train_all, int(n), seed=seed)
            bs = min(batch_size, len(train))  # a subset smaller than a batch trains as one batch (recorded)
            epochs = epochs_for(len(train), batch_size=bs, min_epochs=min_epochs, min_steps=min_steps,
                                max_epochs=max_epochs)
            probe = None
            for method in methods:
                t0 = time.perf_counter()
                if method == "scratch":
                    with torch.random.fork_rng(devices=[]):
                        torch.manual_seed(seed)
                        src = models.create(source, num_classes=len(train.classes))
                    cfg = TransferConfig(mode="finetune", resize=resize, epochs=epochs, batch_size=bs,
                                         lr=lr, backbone_lr_mult=1.0, seed=seed, device=device)
                elif method == "lpft":  # the probe's classifier, kept (the probe's time counts)
                    if probe is None:
                        probe = transfer(source, train, config=TransferConfig(mode="linear", resize=resize,
                                                                              seed=seed, device=device)).model
                    src = probe
                    cfg = TransferConfig(mode="finetune", resize=resize, epochs=epochs, batch_size=bs,
                                         seed=seed, device=device, keep_head=True)
                else:
                    src = source
                    cfg = TransferConfig(mode=method, resize=resize, epochs=epochs, batch_size=bs, lr=lr,
                                         backbone_lr_mult=backbone_lr_mult, seed=seed, device=device)
                r = transfer(src, train, config=cfg, eval_data=test)
                if method == "linear":
                    probe = r.model
                accs = [h["eval_acc"] for h in r.history]
                reached = next((h["epoch"] for h in r.history if h["eval_acc"] >= target), None)
                rows.append({"dataset": spec, "train_images": len(train), "method": method, "batch_size": bs,
                             "epochs": len(r.history) if method != "linear" else 0,
                             "test_acc": round(accs[-1], 4), "best_acc": round(max(accs), 4),
                             "epochs_to_target": reached if method != "linear" else (1 if reached else None),
                             "trainable_params": r.trainable_params, "seconds": round(time.perf_counter() - t0, 1),
                             **({"start_acc": round(r.extra["start_accuracy"], 4)}
                                if r.extra.get("start_accuracy") is not None else {})})
                curves[f"{spec}/{len(train)}/{method}"] = [round(a, 4) for a in accs]
    settings = {"source": source, "datasets": list(datasets), "sizes": [int(n) for n in sizes],
                "methods": list(methods), "resize": resize, "batch_size": batch_size, "lr": lr,
                "backbone_lr_mult": backbone_lr_mult,
                "lpft": {k: v for k, v in dataclasses.asdict(TransferConfig()).items()
                         if k in ("lr", "backbone_lr_mult", "kept_head_lr_scale", "optimizer")},
                "min_epochs": min_epochs, "min_steps": min_steps,
                "max_epochs": max_epochs, "eval_size": eval_size, "target": target, "seed": seed,
                "device": device, "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": machine()}
    result = DataSizeResult(rows=rows, curves=curves, settings=settings)
    if out_dir is not None:
        result.files = _write(result, Path(out_dir))
    return result


def _write(result: DataSizeResult, out: Path) -> list[Path]:
    plt = pyplot()
    files = [out / "transfer.json", out / "transfer.csv", out / "transfer.png"]
    atomic_write_json(files[0], {k: v for k, v in asdict(result).items() if k != "files"})
    atomic_write_csv(files[1], result.rows)
    specs = list(dict.fromkeys(r["dataset"] for r in result.rows))
    colors = {"scratch": "tab:blue", "linear": "tab:orange", "finetune": "tab:green", "lpft": "tab:purple"}
    fig, axes = plt.subplots(2, len(specs), figsize=(5.5 * len(specs), 7.5), squeeze=False)
    for j, spec in enumerate(specs):
        ax = axes[0][j]
        for method in METHODS:
            pts = [(r["train_images"], r["test_acc"]) for r in result.rows if r["dataset"] == spec
                   and r["method"] == method]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=method, color=colors[method])
        ax.set_xscale("log")
        ax.set_xlabel("labelled training images")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{spec}: accuracy vs data")
        ax.grid(alpha=0.3)
        ax.legend()
        ax = axes[1][j]
        sizes = sorted({int(k.rsplit("/", 2)[1]) for k in result.curves if k.rsplit("/", 2)[0] == spec})
        for key, accs in result.curves.items():
            d, n, method = key.rsplit("/", 2)
            if d == spec and method != "linear":
                ax.plot(range(1, len(accs) + 1), accs, marker=".", label=f"{method}, n={n}", color=colors[method],
                        ls=("-", "--", ":", "-.")[sizes.index(int(n)) % 4])
        ax.axhline(result.settings["target"], color="grey", ls="--", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{spec}: convergence")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, files[2])
    return files
