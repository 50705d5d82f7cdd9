"""Invariance and equivariance probes.

* Translation equivariance per conv layer: ``||f(T x) - T' f(x)|| / ||f(x)||`` where ``T`` rolls the image by
  ``shift`` pixels and ``T'`` rolls the layer's feature map by ``shift / downsampling``. With circular padding
  (and a shift divisible by the strides) a stack of convolutions is exactly equivariant to circular shifts;
  zero padding and "valid" convolutions break it at the borders.
* Output invariance curves: accuracy and agreement with the unmodified prediction as the images are
  translated, rotated or scaled.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab.robust._attacks import attack_mode


@dataclass
class EquivarianceRow:
    """One conv layer: its downsampling factor, the shift applied to its output and the relative error for
    each padding mode (``nan`` when the shift is not a multiple of the downsampling)."""

    layer: str
    downsampling: int
    feature_shift: int | None
    errors: dict[str, float]


def _conv_outputs(model: nn.Module, x: Tensor) -> dict[str, tuple[Tensor, int]]:
    # name -> (output, input height) of every Conv2d; hooks live only inside this function
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    out: dict[str, tuple[Tensor, int]] = {}
    handles = []
    try:
        for n, m in convs:
            handles.append(m.register_forward_hook(
                lambda mod, inp, o, n=n: out.__setitem__(n, (o.detach(), inp[0].shape[-2]))))
        model(x)
    finally:
        for h in handles:
            h.remove()
        handles.clear()
    return out


@torch.no_grad()
def translation_equivariance(model: nn.Module, images: Tensor, *, shift: int = 4,
                             paddings: Sequence[str] = ("zeros", "circular")) -> list[EquivarianceRow]:
    """Per conv layer: how far features of a shifted input are from the shifted features.

    The input is rolled (circular shift) by ``shift`` pixels down and right. Each padding mode runs on a copy
    of ``model`` whose every ``nn.Conv2d`` uses it (the model itself is not modified), in eval mode.

    Args:
        model: a CNN taking ``Tensor[N, C, H, W]``.
        images: ``Tensor[N, C, H, W]`` in [0, 1].
        shift: pixels (positive integer).
        paddings: ``nn.Conv2d`` padding modes to compare (``zeros``, ``circular``, ``reflect``, ``replicate``).

    Returns:
        One :class:`EquivarianceRow` per conv layer, in forward order.
    """
    check_int("shift", shift)
    for p in paddings:
        if p not in ("zeros", "circular", "reflect", "replicate"):
            raise ValueError(f"padding must be zeros, circular, reflect or replicate, got {p!r}")
    from cnnlab.models import check_batch

    check_batch(model, images)  # robust's batch check: finite [0, 1] pixels the model can take
    h_img = images.shape[-2]
    rows: dict[str, EquivarianceRow] = {}
    shifted = images.roll((shift, shift), dims=(-2, -1))
    for pad in paddings:
        m = copy.deepcopy(model)
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                mod.padding_mode = pad
        with attack_mode(m):
            base, moved = _conv_outputs(m, images), _conv_outputs(m, shifted)
        for name, (f, h_in) in base.items():
            conv = dict(m.named_modules())[name]
            down = max(1, round(h_img / h_in)) * conv.stride[0]
            s = shift // down if shift % down == 0 else None
            if s is None:
                err = float("nan")
            else:
                ref = f.roll((s, s), dims=(-2, -1))
                err = float((moved[name][0] - ref).norm() / ref.norm().clamp_min(1e-12))
            row = rows.setdefault(name, EquivarianceRow(name, down, s, {}))
            row.errors[pad] = err
    return list(rows.values())


DEFAULT_VALUES: dict[str, tuple[float, ...]] = {
    "translate": (0, 1, 2, 3, 4, 6, 8),
    "rotate": (0, 5, 10, 15, 30, 45, 90, 180),
    "scale": (0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.5),
}


def transform_images(images: Tensor, kind: str, value: float) -> Tensor:
    """Translate (``value`` pixels right and down), rotate (degrees) or scale (factor) about the centre,
    filling with 0, bilinear."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if kind == "translate":
        args = {"angle": 0.0, "translate": [int(value), int(value)], "scale": 1.0}
    elif kind == "rotate":
        args = {"angle": float(value), "translate": [0, 0], "scale": 1.0}
    elif kind == "scale":
        if value <= 0:
            raise ValueError(f"scale must be positive, got {value}")
        args = {"angle": 0.0, "translate": [0, 0], "scale": float(value)}
    else:
        raise ValueError(f"kind must be translate, rotate or scale, got {kind!r}")
    return TF.affine(images, shear=[0.0, 0.0], interpolation=InterpolationMode.BILINEAR, fill=0.0, **args)


@torch.no_grad()
def invariance_curves(model: nn.Module, data: Any, *, kinds: Sequence[str] = ("translate", "rotate", "scale"),
                      values: dict[str, Sequence[float]] | None = None, limit: int | None = 1000,
                      batch_size: int = 256) -> list[dict[str, Any]]:
    """Accuracy and agreement with the untransformed prediction under translation, rotation and scale.

    Args:
        model: the classifier (run in eval mode, restored afterwards).
        data: an :class:`cnnlab.data.ImageTensors` or ``(images, labels)``.
        kinds: which transformations.
        values: per kind, the values to try (default :data:`DEFAULT_VALUES`).
        limit: images used (default 1000).

    Returns:
        One dict per (kind, value): ``kind``, ``value``, ``accuracy``, ``agreement``.
    """
    from cnnlab.models import check_batch
    from cnnlab.robust._evaluate import _as_tensors

    images, labels, _ = _as_tensors(data)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    check_batch(model, images.float())
    vals = dict(DEFAULT_VALUES, **(values or {}))
    dev = model_device(model)
    rows = []
    with attack_mode(model):
        base = torch.cat([model(images[s: s + batch_size].to(dev).float()).argmax(1)
                          for s in range(0, len(labels), batch_size)])
        y = labels.to(dev)
        for kind in kinds:
            if kind not in DEFAULT_VALUES:
                raise ValueError(f"kind must be translate, rotate or scale, got {kind!r}")
            for v in vals[kind]:
                pred = torch.cat([
                    model(transform_images(images[s: s + batch_size].to(dev).float(), kind, v)).argmax(1)
                    for s in range(0, len(labels), batch_size)])
                rows.append({"kind": kind, "value": v, "accuracy": float((pred == y).float().mean()),
                             "agreement": float((pred == base).float().mean())})
    return rows


def plot_invariance(rows: Sequence[dict[str, Any]]):
    """One panel per transformation: accuracy and agreement against the transformation's value."""
    from cnnlab._plot import pyplot

    plt = pyplot()

    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.2), squeeze=False)
    units = {"translate": "shift (pixels)", "rotate": "angle (degrees)", "scale": "scale factor"}
    for ax, kind in zip(axes[0], kinds):
        rs = [r for r in rows if r["kind"] == kind]
        ax.plot([r["value"] for r in rs], [r["accuracy"] for r in rs], "o-", label="accuracy")
        ax.plot([r["value"] for r in rs], [r["agreement"] for r in rs], "s--", label="agreement")
        ax.set_xlabel(units[kind])
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(kind)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_equivariance(rows: Sequence[EquivarianceRow]):
    """Bar chart of the per-layer equivariance error for each padding mode."""
    from cnnlab._plot import pyplot

    plt = pyplot()

    pads = list(rows[0].errors) if rows else []
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(rows) + 2), 3.2))
    w = 0.8 / max(len(pads), 1)
    for i, p in enumerate(pads):
        ax.bar([j + i * w for j in range(len(rows))], [r.errors[p] for r in rows], w, label=f"{p} padding")
    ax.set_xticks([j + w * (len(pads) - 1) / 2 for j in range(len(rows))])
    ax.set_xticklabels([r.layer for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("relative error")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@dataclass
class InvarianceReport:
    """:func:`invariance_report`'s result: the equivariance rows, the invariance curves, the files written."""

    equivariance: list[EquivarianceRow]
    curves: list[dict[str, Any]]
    files: list[Any]


def invariance_report(model: nn.Module, data: Any, *, limit: int | None = 1000, shift: int = 4,
                      equivariance_images: int = 64, out_dir: Any = None) -> InvarianceReport:
    """Both probes on a dataset; with ``out_dir``, CSVs and plots are written there.

    The equivariance probe uses the first ``equivariance_images`` images; the curves use ``limit``.
    """
    import csv
    from pathlib import Path

    from cnnlab.robust._evaluate import _as_tensors

    images, labels, _ = _as_tensors(data)
    x = images[:equivariance_images].to(model_device(model)).float()
    eq = translation_equivariance(model, x, shift=shift)
    curves = invariance_curves(model, (images, labels), limit=limit)
    files: list[Any] = []
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pads = list(eq[0].errors) if eq else []
        with open(out / "equivariance.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["layer", "downsampling", "feature_shift"] + [f"error_{p}" for p in pads])
            w.writerows([r.layer, r.downsampling, r.feature_shift] + [r.errors[p] for p in pads] for r in eq)
        with open(out / "invariance.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["kind", "value", "accuracy", "agreement"])
            w.writeheader()
            w.writerows(curves)
        from cnnlab._plot import save_figure

        for name, fig in (("equivariance.png", plot_equivariance(eq)), ("invariance.png", plot_invariance(curves))):
            save_figure(fig, out / name)
        files = [out / "equivariance.csv", out / "equivariance.png", out / "invariance.csv", out / "invariance.png"]
    return InvarianceReport(eq, curves, files)
