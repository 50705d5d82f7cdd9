"""Pictures of segmentations: colour-coded label maps, overlays on the image, per-class IoU bars, example grids."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from cnnlab.segment._metrics import SegmentationMetrics

Palette = Sequence[tuple[int, int, int]]


def colorize(labels: Tensor, palette: Palette, *, ignore_index: int | None = None) -> Tensor:
    """Class map ``Tensor[H, W]`` -> colours ``Tensor[3, H, W]`` in [0, 1] (class ``c`` gets ``palette[c]``; void
    and any value outside the palette are black)."""
    if labels.dim() != 2:
        raise ValueError(f"labels must be (H, W), got shape {tuple(labels.shape)}")
    table = torch.tensor(list(palette) + [(0, 0, 0)], dtype=torch.float32) / 255  # last row: void
    idx = labels.long().cpu()
    idx = torch.where((idx < 0) | (idx >= len(palette)), torch.full_like(idx, len(palette)), idx)
    if ignore_index is not None:
        idx = torch.where(labels.cpu() == ignore_index, torch.full_like(idx, len(palette)), idx)
    return table[idx].permute(2, 0, 1).contiguous()


def overlay(image: Tensor, labels: Tensor, palette: Palette, *, alpha: float = 0.5,
            ignore_index: int | None = None) -> Tensor:
    """The colour-coded ``labels`` blended onto ``image`` (``Tensor[C, H, W]`` in [0, 1], grey repeated to RGB):
    ``(1 - alpha) * image + alpha * colours``; void pixels keep the image."""
    from cnnlab._checks import check_number

    alpha = check_number("alpha", alpha, minimum=0, maximum=1)
    img = image.detach().float().cpu()
    img = img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]
    if img.shape[-2:] != labels.shape[-2:]:
        raise ValueError(f"labels {tuple(labels.shape)} do not fit the image {tuple(image.shape)}")
    colors = colorize(labels, palette, ignore_index=ignore_index)
    out = (1 - alpha) * img + alpha * colors
    if ignore_index is not None:
        void = labels.cpu() == ignore_index
        out[:, void] = img[:, void]
    return out.clamp(0, 1)


def draw_box(image: Tensor, box: Sequence[float] | Tensor, *, color: tuple[int, int, int] = (255, 214, 10),
             width: int = 3) -> Tensor:
    """A copy of ``image`` (``Tensor[3, H, W]`` in [0, 1]) with the outline of ``box`` (``x1 y1 x2 y2`` pixels, far
    edge) drawn ``width`` pixels wide inside it."""
    out = image.detach().float().clone()
    h, w = out.shape[-2:]
    x1, y1, x2, y2 = (int(round(float(v))) for v in (box.tolist() if isinstance(box, Tensor) else box))
    x1, x2 = max(0, min(x1, w)), max(0, min(x2, w))
    y1, y2 = max(0, min(y1, h)), max(0, min(y2, h))
    c = torch.tensor(color, dtype=out.dtype)[:, None, None] / 255
    out[:, y1:y2, x1:min(x1 + width, x2)] = c
    out[:, y1:y2, max(x1, x2 - width):x2] = c
    out[:, y1:min(y1 + width, y2), x1:x2] = c
    out[:, max(y1, y2 - width):y2, x1:x2] = c
    return out


def iou_figure(results: dict[str, SegmentationMetrics] | SegmentationMetrics, *, title: str = ""):
    """Horizontal bars of per-class IoU (one colour per model when ``results`` maps names to metrics); the mIoU of
    each model in the legend."""
    from cnnlab._plot import pyplot

    plt = pyplot()
    if isinstance(results, SegmentationMetrics):
        results = {"model": results}
    first = next(iter(results.values()))
    classes = first.classes
    k, m = len(classes), len(results)
    fig_h = 0.32 * k * max(1, m) ** 0.5 + 1.8
    fig, ax = plt.subplots(figsize=(6.4, fig_h))
    height = 0.8 / m
    for j, (name, r) in enumerate(results.items()):
        vals = [0.0 if v != v else 100 * v for v in r.iou.tolist()]
        ys = [i + (j - (m - 1) / 2) * height for i in range(k)]
        ax.barh(ys, vals, height=height * 0.95, label=f"{name} (mIoU {100 * r.miou:.1f}%)")
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%)")
    ax.grid(axis="x", alpha=0.3)
    ncol = min(3, m)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=ncol, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    legend_h = 0.12 + 0.2 * -(-m // ncol)  # inches the legend rows take below the x-axis label
    fig.tight_layout(rect=(0, legend_h / fig_h, 1, 1))
    return fig


def examples_figure(images: Tensor, truth: Tensor | None, predictions: Tensor, palette: Palette, classes: Sequence[str],
                    *, ignore_index: int | None = None, max_rows: int = 4):
    """Rows of image | ground truth | prediction (colour-coded), with a legend of the classes' colours."""
    from matplotlib.patches import Patch

    from cnnlab._plot import pyplot

    plt = pyplot()
    n = min(len(predictions), max_rows)
    cols = 3 if truth is not None else 2
    fig, axes = plt.subplots(n, cols, figsize=(3.0 * cols, 2.3 * n + 0.7), squeeze=False)
    for i in range(n):
        img = images[i].float() / (255 if images.dtype == torch.uint8 else 1)
        panels = [("image", img)]
        if truth is not None:
            panels.append(("ground truth", colorize(truth[i], palette, ignore_index=ignore_index)))
        panels.append(("prediction", colorize(predictions[i], palette)))
        for ax, (name, pic) in zip(axes[i], panels):
            ax.imshow(pic.permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
    handles = [Patch(color=tuple(c / 255 for c in palette[j]), label=name) for j, name in enumerate(classes)]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(classes)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08 if len(classes) > 6 else 0.05, 1, 1))
    return fig
