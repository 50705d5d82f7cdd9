"""The class-imbalance demonstration: Fashion-MNIST made long-tailed (100:1), one small CNN trained with
cross-entropy, alpha-balanced cross-entropy, focal loss and class-balanced focal loss, scored on the balanced
test set (balanced accuracy, recall of the minority classes)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnlab import models
from cnnlab._io import atomic_write_csv, atomic_write_json
from cnnlab.data import ImageTensors
from cnnlab.experiments._data import machine, train_test
from cnnlab.losses import resolve
from cnnlab.train import TrainConfig, evaluate, fit

# (registry name, options) per row of the table
DEFAULT_LOSSES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ce", {}),
    ("balanced_ce", {}),
    ("focal", {"gamma": 2.0}),
    ("class_balanced_focal", {"gamma": 2.0, "beta": 0.9999}),
)


@dataclass
class ImbalanceResult:
    rows: list[dict[str, Any]]
    counts: list[int]
    settings: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def long_tailed_counts(num_classes: int, n_max: int, ratio: float) -> list[int]:
    """Samples per class falling exponentially from ``n_max`` (class 0) to ``n_max / ratio`` (last class),
    the long-tailed profile of Cui et al. 2019."""
    if num_classes < 2 or n_max < 1 or ratio < 1:
        raise ValueError(f"need num_classes >= 2, n_max >= 1, ratio >= 1; got {num_classes}, {n_max}, {ratio}")
    return [max(1, int(round(n_max * ratio ** (-k / (num_classes - 1))))) for k in range(num_classes)]


def make_imbalanced(data: ImageTensors, counts: Sequence[int], *, seed: int = 0) -> ImageTensors:
    """The first ``counts[k]`` samples of each class ``k`` after a seeded shuffle."""
    g = torch.Generator().manual_seed(seed)
    picked = []
    for k, n in enumerate(counts):
        ix = (data.labels == k).nonzero().flatten()
        if len(ix) < n:
            raise ValueError(f"class {k} has {len(ix)} samples, {n} asked")
        picked.append(ix[torch.randperm(len(ix), generator=g)[:n]])
    idx = torch.cat(picked)
    return data.subset(idx[torch.randperm(len(idx), generator=g)])


def imbalance_experiment(dataset: str = "fashion-mnist", *, ratio: float = 100.0, n_max: int = 6000,
                         losses: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_LOSSES, model: str = "lenet5",
                         model_options: dict[str, Any] | None = None, epochs: int = 5, batch_size: int = 128,
                         lr: float = 2e-3, seed: int = 0, device: str = "cpu", eval_size: int | None = None,
                         data_dir: str | os.PathLike | None = None,
                         out_dir: str | os.PathLike | None = None) -> ImbalanceResult:
    """Train one model per loss on a long-tailed version of ``dataset``; score on the balanced test set.

    Args:
        ratio: imbalance between the largest and the smallest class (100 means 100:1).
        n_max: training images of the largest class (class 0); class ``k`` keeps
            ``n_max * ratio^(-k / (K - 1))`` (:func:`long_tailed_counts`).
        losses: ``(name, options)`` pairs resolved with :func:`cnnlab.losses.resolve` (class counts given).
        model, model_options: the network (same seed and initial weights for every loss); LeNet-5 defaults
            to ReLU and max pooling here. Training is ``cnnlab.train.fit`` (AdamW, cosine schedule, no
            augmentation) with ``loss_fn`` the resolved loss.
        eval_size: score on a stratified subset of the test set (``None`` = all of it).
        out_dir: when given, writes ``imbalance.json`` and ``imbalance.csv``.

    Returns:
        :class:`ImbalanceResult`: one row per loss with accuracy, balanced accuracy (mean per-class recall),
        minority recall (mean recall of the classes with at most a tenth of ``n_max``), the rarest class's
        recall, the majority classes' recall, and per-class recall.
    """
    train_all, test = train_test(dataset, eval_size=eval_size, seed=seed, data_dir=data_dir)
    k = len(train_all.classes)
    counts = long_tailed_counts(k, n_max, ratio)
    train = make_imbalanced(train_all, counts, seed=seed)
    minority = [c for c in range(k) if counts[c] <= n_max / 10]
    majority = [c for c in range(k) if c not in minority]
    if model_options is None and model == "lenet5":
        model_options = {"activation": "relu", "pool": "max"}
    rows = []
    c, h, w = train.image_shape
    with torch.device("meta"):  # a model that cannot take the data: one line before any training
        probe = models.create(model, num_classes=k, in_channels=c, **(model_options or {}))
    models.check_input_size(probe, (c, h, w), what=f"{dataset} images")
    for name, options in losses:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = models.create(model, num_classes=k, in_channels=c, **(model_options or {})).to(device)
        fn = resolve(name, class_counts=counts, **options)
        t0 = time.perf_counter()
        config = TrainConfig(epochs=epochs, batch_size=min(batch_size, len(train)), optimizer="adamw", lr=lr,
                             weight_decay=1e-4, schedule="cosine", seed=seed, device=device, progress=False,
                             tensorboard=False)
        fit(net, train, None, config, loss_fn=fn)
        ev = evaluate(net, test, batch_size=256)
        rec = ev.per_class_accuracy.tolist()  # recall of each class (NaN where the test set has none)
        rows.append({"loss": name, "options": options, "accuracy": round(ev.accuracy, 4),
                     "balanced_accuracy": round(float(ev.per_class_accuracy.nanmean()), 4),
                     "minority_recall": round(sum(rec[i] for i in minority) / max(1, len(minority)), 4),
                     "rarest_recall": round(rec[k - 1], 4),
                     "majority_recall": round(sum(rec[i] for i in majority) / max(1, len(majority)), 4),
                     "per_class_recall": [round(r, 4) for r in rec],
                     "seconds": round(time.perf_counter() - t0, 1)})
    settings = {"dataset": dataset, "ratio": ratio, "n_max": n_max, "train_images": len(train),
                "minority_classes": minority, "model": model, "model_options": model_options, "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr, "seed": seed, "device": device, "test_images": len(test), "torch": torch.__version__,
                "machine": machine()}
    result = ImbalanceResult(rows=rows, counts=counts, settings=settings)
    if out_dir is not None:
        out = Path(out_dir)
        cols = ["loss", "accuracy", "balanced_accuracy", "minority_recall", "rarest_recall", "majority_recall",
                "seconds"]
        result.files = [atomic_write_json(out / "imbalance.json",
                                          {k: v for k, v in asdict(result).items() if k != "files"}),
                        atomic_write_csv(out / "imbalance.csv", rows, cols)]
    return result
