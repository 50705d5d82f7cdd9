"""Evaluating attacks over a dataset: robust accuracy, success rate, perturbation norms, per-class breakdown,
and robust accuracy as a function of epsilon (CSV and plot)."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab.robust._attacks import ATTACKS, run_attack


@dataclass
class AttackReport:
    """An attack measured over a dataset.

    Attributes:
        method: attack name; options: its settings (``eps``, ``steps``, ...).
        n: images attacked.
        clean_accuracy, robust_accuracy: accuracy before and after the attack.
        success_rate: untargeted: the fraction of correctly classified images the attack fools; targeted:
            the fraction of images (not already of the target class) classified as the target.
        mean_linf, mean_l2, mean_l0: mean perturbation norms over all attacked images.
        per_class: one dict per class: ``class``, ``n``, ``clean_accuracy``, ``robust_accuracy``.
    """

    method: str
    options: dict[str, Any]
    n: int
    clean_accuracy: float
    robust_accuracy: float
    success_rate: float
    mean_linf: float
    mean_l2: float
    mean_l0: float
    per_class: list[dict[str, Any]] = field(default_factory=list)

    @property
    def eps(self) -> float | None:
        return self.options.get("eps")

    def row(self) -> dict[str, Any]:
        """The headline figures as one flat dict (CSV row)."""
        return {"method": self.method, "eps": self.eps, "n": self.n, "clean_accuracy": self.clean_accuracy,
                "robust_accuracy": self.robust_accuracy, "success_rate": self.success_rate,
                "mean_linf": self.mean_linf, "mean_l2": self.mean_l2, "mean_l0": self.mean_l0}


def _as_tensors(data: Any) -> tuple[Tensor, Tensor, list[str] | None]:
    from cnnlab.data import ImageTensors

    if isinstance(data, ImageTensors):
        return data.floats() if data.images.dtype == torch.uint8 else data.images, data.labels, data.classes
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        return data[0], data[1], None
    raise TypeError(f"data must be an ImageTensors or an (images, labels) pair, got {type(data).__name__}")


def evaluate_attack(model: nn.Module, data: Any, method: str | Callable[..., Tensor] = "pgd", *,
                    limit: int | None = None, batch_size: int = 256, target: int | None = None,
                    **options) -> AttackReport:
    """Attack a dataset batch by batch and summarise.

    Args:
        model: the classifier (any mode; attacks run it in eval mode and restore it).
        data: an :class:`cnnlab.data.ImageTensors` or an ``(images, labels)`` pair.
        method: a registered attack name or an attack function.
        limit: attack only the first ``limit`` images.
        batch_size: images per attack call.
        target: a target class (targeted attack) or ``None``.
        **options: the attack's settings.

    Example:
        >>> from cnnlab import models
        >>> r = evaluate_attack(models.create("lenet5"), (torch.rand(8, 1, 28, 28), torch.zeros(8).long()),
        ...                     "fgsm", eps=0.1)
        >>> 0 <= r.robust_accuracy <= 1
        True
    """
    images, labels, classes = _as_tensors(data)
    if limit is not None:
        check_int("limit", limit)
        images, labels = images[:limit], labels[:limit]
    check_int("batch_size", batch_size)
    if len(labels) == 0:
        raise ValueError("data has no images")
    name = method if isinstance(method, str) else getattr(method, "__name__", "attack")
    if isinstance(method, str):
        ATTACKS.lookup(method)
    dev = model_device(model)
    clean, robust, ok, linf, l2, l0 = [], [], [], [], [], []
    for s in range(0, len(labels), batch_size):
        x, y = images[s: s + batch_size].to(dev).float(), labels[s: s + batch_size].to(dev)
        r = run_attack(method, model, x, y, target=target, **options)
        clean.append(r.clean_pred == y)
        robust.append(r.adv_pred == y)
        ok.append(r.success)
        linf.append(r.linf)
        l2.append(r.l2)
        l0.append(r.l0.float())
    clean_t, robust_t, ok_t = torch.cat(clean).cpu(), torch.cat(robust).cpu(), torch.cat(ok).cpu()
    y_all = labels.cpu()
    if target is None:
        eligible = clean_t  # an untargeted attack "succeeds" only on images that were right
    else:
        eligible = y_all != target
    success_rate = float(ok_t[eligible].float().mean()) if eligible.any() else 0.0
    k = int(y_all.max()) + 1
    if classes is not None:
        k = max(k, len(classes))
    per_class = []
    for c in range(k):
        m = y_all == c
        if m.any():
            per_class.append({"class": classes[c] if classes else str(c), "n": int(m.sum()),
                              "clean_accuracy": float(clean_t[m].float().mean()),
                              "robust_accuracy": float(robust_t[m].float().mean())})
    return AttackReport(
        method=name, options=dict(options, **({"target": target} if target is not None else {})),
        n=len(y_all), clean_accuracy=float(clean_t.float().mean()), robust_accuracy=float(robust_t.float().mean()),
        success_rate=success_rate, mean_linf=float(torch.cat(linf).mean()), mean_l2=float(torch.cat(l2).mean()),
        mean_l0=float(torch.cat(l0).mean()), per_class=per_class)


def robustness_curve(model: nn.Module, data: Any, epsilons: Sequence[float] = (0, 0.02, 0.05, 0.1, 0.15, 0.2), *,
                     method: str = "pgd", **options) -> list[AttackReport]:
    """Robust accuracy against ``method`` at each ``eps`` (one :class:`AttackReport` per value)."""
    if not len(epsilons):
        raise ValueError("epsilons must not be empty")
    return [evaluate_attack(model, data, method, eps=float(e), **options) for e in epsilons]


def save_curve_csv(reports: Sequence[AttackReport], path: str | os.PathLike) -> Path:
    """Write one CSV row per report (method, eps, n, accuracies, success rate, mean norms)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [r.row() for r in reports]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def plot_curve(reports: Sequence[AttackReport], *, label: str | None = None, ax=None):
    """Robust accuracy vs epsilon as a matplotlib figure (success rate dashed)."""
    from cnnlab._plot import pyplot

    plt = pyplot()

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
    eps = [r.eps for r in reports]
    name = label or reports[0].method
    ax.plot(eps, [r.robust_accuracy for r in reports], "o-", label=f"{name} robust accuracy")
    ax.plot(eps, [r.success_rate for r in reports], "s--", alpha=0.6, label=f"{name} success rate")
    ax.set_xlabel("epsilon (pixel scale [0, 1])")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig if fig is not None else ax.figure
