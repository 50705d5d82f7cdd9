"""Pictures of detection: boxes and masks drawn on images, the anchor grid at one location, the RPN's top proposals,
selective search's regions, YOLO's grid. The functions return data (tensors, boxes); the figure helpers draw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4",
           "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075"]


def class_colour(label: int) -> str:
    return PALETTE[(int(label) - 1) % len(PALETTE)]


def draw_detections(image: Tensor, detections: dict[str, Tensor], classes: Sequence[str] | None = None, *,
                    score: float = 0.0, width: int = 2, font_size: int = 12) -> Tensor:
    """``image`` (``Tensor[3, H, W]`` in [0, 1]) with the detections of score >= ``score`` drawn: a box and
    ``"name 0.93"`` per detection in its class colour, masks (when present) blended in. Returns
    ``Tensor[3, H, W]`` uint8 (torchvision's ``draw_bounding_boxes`` / ``draw_segmentation_masks``). A target
    (no ``scores``) is drawn as well."""
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    img = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1).contiguous()
    scores = detections.get("scores")
    keep = scores >= score if scores is not None else torch.ones(len(detections["boxes"]), dtype=torch.bool)
    boxes = detections["boxes"][keep].detach().cpu().float()
    labels = detections["labels"][keep].detach().cpu().tolist()
    colours = [class_colour(k) for k in labels]
    if "masks" in detections and keep.any():
        img = draw_segmentation_masks(img, detections["masks"][keep].detach().cpu().bool(), alpha=0.4, colors=colours)
    if len(boxes) == 0:
        return img
    names = [classes[k - 1] if classes is not None and 0 < k <= len(classes) else str(k) for k in labels]
    if scores is not None:
        names = [f"{n} {s:.2f}" for n, s in zip(names, scores[keep].tolist())]
    return draw_bounding_boxes(img, boxes, labels=names, colors=colours, width=width, font=_font(),
                               font_size=font_size)


def _font() -> str | None:
    """A TrueType font for box labels (matplotlib's DejaVu Sans), else ``None`` (Pillow's small bitmap font)."""
    try:
        from matplotlib import font_manager

        return font_manager.findfont("DejaVu Sans", fallback_to_default=True)
    except Exception:  # noqa: BLE001 - any font trouble: draw without one
        return None


def save_png(image: Tensor, path) -> None:
    """A uint8 ``Tensor[3, H, W]`` written as PNG, atomically."""
    import io

    from PIL import Image

    from cnnlab._io import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------------------------- anchors


@dataclass
class AnchorView:
    """What :func:`anchors_at` found: the anchors (default boxes, grid cells) centred nearest ``point``, one entry
    per feature map, and the region proposals of the method, all in the input image's pixels.

    Attributes:
        kind: ``"anchors"`` (Faster / Mask R-CNN, RetinaNet), ``"default boxes"`` (SSD), ``"grid"`` (YOLO) or
            ``"selective search"`` (R-CNN, Fast R-CNN).
        point: ``(x, y)`` the anchors are centred nearest to.
        levels: ``(stride, Tensor[A, 4])`` per feature map.
        proposals: the top region proposals (RPN or selective search), best first; empty for one-stage methods.
        total: anchors over the whole image (all maps).
    """

    kind: str
    point: tuple[float, float]
    levels: list[tuple[int, Tensor]]
    proposals: Tensor
    total: int


def _scale(boxes: Tensor, src: Sequence[int], dst: Sequence[int]) -> Tensor:
    (h0, w0), (h1, w1) = src, dst
    return boxes * torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0], dtype=boxes.dtype, device=boxes.device)


@torch.no_grad()
def anchors_at(model: nn.Module, image: Tensor, *, point: Sequence[float] | None = None, proposals: int = 20
               ) -> AnchorView:
    """The anchors of a detector's feature maps at one location of ``image`` (default: its centre), and its top
    ``proposals`` region proposals; the model is left as found (modes, requires_grad).

    Faster / Mask R-CNN, RetinaNet: the anchors of each pyramid level at the grid location nearest ``point``
    (every size and aspect ratio), plus the RPN's best proposals (R-CNNs). SSD: the default boxes. YOLO: the cell
    holding ``point`` (one square per grid). R-CNN, Fast R-CNN: the first selective-search proposals.
    """
    from torchvision.models.detection.ssd import SSD

    from cnnlab.detect._api import Detector, check_detection_images
    from cnnlab.detect._rcnn import _RegionDetector
    from cnnlab.detect._yolo import YOLOv1
    from cnnlab.models import frozen

    image = check_detection_images([image])[0]
    net = model.net if isinstance(model, Detector) else model
    dev = next(model.parameters()).device
    h0, w0 = image.shape[-2:]
    px, py = (w0 / 2, h0 / 2) if point is None else (float(point[0]), float(point[1]))
    with frozen(model), torch.no_grad():  # every module's mode and requires_grad come back as they were
        if isinstance(net, _RegionDetector):
            props = net.proposals(image)[:proposals]
            return AnchorView("selective search", (px, py), [], props.cpu(), len(net.proposals(image)))
        batch, _ = net.transform([image.to(dev)])
        size = tuple(batch.image_sizes[0])
        if isinstance(net, YOLOv1):
            s = net.grid
            cell = net.size / s
            j, i = min(int(px / w0 * s), s - 1), min(int(py / h0 * s), s - 1)
            box = torch.tensor([[j * cell, i * cell, (j + 1) * cell, (i + 1) * cell]])
            return AnchorView("grid", (px, py), [(net.backbone.strides[-1], _scale(box, size, (h0, w0)))],
                              torch.zeros(0, 4), s * s * net.boxes_per_cell)
        feats = net.backbone(batch.tensors)
        maps = list(feats.values())
        gen = net.rpn.anchor_generator if hasattr(net, "rpn") else net.anchor_generator
        anchors = gen(batch, maps)[0]
        per_loc = gen.num_anchors_per_location()
        kind = "default boxes" if isinstance(net, SSD) else "anchors"
        q = torch.tensor([px * size[1] / w0, py * size[0] / h0], device=anchors.device)
        levels, start = [], 0
        for fmap, k in zip(maps, per_loc):
            n = fmap.shape[-2] * fmap.shape[-1] * k
            lv = anchors[start:start + n]
            start += n
            centres = (lv[:, :2] + lv[:, 2:]) / 2
            d = ((centres - q) ** 2).sum(1)
            nearest = centres[d.argmin()]
            at = lv[(centres - nearest).abs().sum(1) < 1e-3]
            stride = round(batch.tensors.shape[-2] / fmap.shape[-2])  # of the padded batch the maps come from
            levels.append((stride, _scale(at, size, (h0, w0)).cpu()))
        props = torch.zeros(0, 4)
        if hasattr(net, "rpn"):
            rpn_boxes, _ = net.rpn(batch, feats)
            props = _scale(rpn_boxes[0][:proposals], size, (h0, w0)).cpu()
        return AnchorView(kind, (px, py), levels, props, len(anchors))


def _draw_proposals(ax, img, view: AnchorView, plt) -> None:
    from matplotlib.patches import Rectangle

    ax.imshow(img)
    cmap = plt.get_cmap("viridis")
    n = len(view.proposals)
    for j, b in enumerate(view.proposals.tolist()):
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=1.4, ec=cmap(j / max(1, n - 1))))
    if view.kind == "selective search":
        ax.set_title(f"first {n} of {view.total:,} selective-search regions (yellow: later)", fontsize=10)
    else:
        ax.set_title(f"top {n} RPN proposals (yellow: lower rank)", fontsize=10)
    ax.axis("off")


def anchors_figure(view: AnchorView, image: Tensor, *, title: str = ""):
    """Two panels: the anchors at one location (a colour per feature map) and the top proposals."""
    from matplotlib.patches import Rectangle

    from cnnlab._plot import pyplot

    plt = pyplot()
    panels = 2 if len(view.proposals) and view.levels else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.4), squeeze=False)  # text stays legible when
    # the figure is shown at half a page's width
    img = image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    ax = axes[0, 0]
    if not view.levels:  # selective search: the proposals are the picture
        _draw_proposals(ax, img, view, plt)
        if title:
            ax.set_title(f"{title}\n{ax.get_title()}", fontsize=10)
        fig.tight_layout()
        return fig
    ax.imshow(img)
    if view.levels:
        for i, (stride, boxes) in enumerate(view.levels):
            colour = PALETTE[i % len(PALETTE)]
            for j, b in enumerate(boxes.tolist()):
                ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, lw=1.6, ec=colour,
                                       label=f"stride {stride}: {len(boxes)} {view.kind}" if j == 0 else None))
        ax.plot(*view.point, "w+", ms=14, mew=2)
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
        ax.set_title(f"{view.kind} at one location ({view.total:,} over the image)", fontsize=10)
    else:
        ax.set_title("input", fontsize=10)
    h, w = img.shape[:2]
    ax.set_xlim(-0.05 * w, 1.05 * w)
    ax.set_ylim(1.05 * h, -0.05 * h)
    ax.axis("off")
    if panels == 2:
        _draw_proposals(axes[0, 1], img, view, plt)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
