"""Detection data as tensors, and a generator of synthetic scenes with exact boxes and instance masks.

:class:`DetectionSet` follows torchvision's detection convention: images are ``Tensor[3, H, W]`` in [0, 1] of any
size; each target is a dict with ``boxes`` (``Tensor[K, 4]``, float ``x1 y1 x2 y2`` in pixels, ``x2``/``y2`` the
far pixel edge, so a box covering columns 3..5 is ``x1=3, x2=6``), ``labels`` (``Tensor[K]`` int64, ``1..C``;
0 is the background) and optionally ``masks`` (``Tensor[K, H, W]`` bool). An image without objects has
``boxes`` of shape ``(0, 4)``.

:func:`generate_scenes` pastes objects (scikit-learn's 8x8 digits, or Fashion-MNIST items) at random scales,
positions and colours onto crops of the offline textures and photos. Occlusion is resolved: later objects cover
earlier ones, boxes and masks are those of the visible pixels, and objects left mostly hidden are dropped. The
scenes are seeded, take a fraction of a second, and need no data beyond what ships offline, so the detection
and segmentation tests and the demo report can train on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab._checks import check_int, check_number

Target = dict[str, Tensor]


@dataclass
class DetectionSet:
    """Images and their detection targets (torchvision's convention, see the module docstring).

    Attributes:
        images: ``Tensor[3, H, W]`` float images in [0, 1] (sizes may differ).
        targets: one dict per image: ``boxes``, ``labels`` and optionally ``masks``, ``difficult``.
        classes: object class names without the background: label ``k`` is ``classes[k - 1]``.
        name: where the data came from.
        ids: one identifier per image (file name or index).
    """

    images: list[Tensor]
    targets: list[Target]
    classes: list[str]
    name: str = ""
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.images) != len(self.targets):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, Target]:
        return self.images[i], self.targets[i]

    @property
    def num_classes(self) -> int:
        """Object classes, without the background."""
        return len(self.classes)

    def subset(self, index: Sequence[int] | slice) -> DetectionSet:
        """The images at ``index`` (a slice or a sequence of positions), sharing tensors."""
        idx = range(len(self))[index] if isinstance(index, slice) else [int(i) for i in index]
        return dataclasses.replace(self, images=[self.images[i] for i in idx], targets=[self.targets[i] for i in idx],
                                   ids=[self.ids[i] for i in idx])


def semantic_labels(target: Target, size: tuple[int, int], *, background: int = 0) -> Tensor:
    """A per-pixel class map ``Tensor[H, W]`` (int64) from a target's instance ``masks``: pixel = the label of
    the last (topmost) instance covering it, else ``background``."""
    if "masks" not in target:
        raise ValueError("target has no instance masks")
    out = torch.full(size, background, dtype=torch.long)
    for mask, label in zip(target["masks"], target["labels"]):
        out[mask] = int(label)
    return out


def _objects(source: str) -> tuple[Tensor, Tensor, list[str]]:
    """(images [N, h, w] in [0, 1], labels [N], class names) of the pasted objects."""
    from cnnlab.data._datasets import digits, fashion_mnist

    if source == "digits":
        d = digits("train")
    elif source == "fashion-mnist":
        d = fashion_mnist("train")
    else:
        raise ValueError(f"objects must be 'digits' or 'fashion-mnist', got {source!r}")
    imgs = d.images[:, 0].float()
    if d.images.dtype == torch.uint8:
        imgs = imgs / 255
    return imgs, d.labels, list(d.classes)


def _backgrounds() -> list[Tensor]:
    from cnnlab.data._images import sample_image, to_channels

    return [to_channels(sample_image(n), 3) for n in ("brick", "grass", "gravel", "coffee", "chelsea", "rocket")]


def generate_scenes(n: int, *, size: int | tuple[int, int] = 128, objects: str = "digits",
                    classes: Sequence[int] | None = None, max_objects: int = 3, min_scale: int = 24,
                    max_scale: int = 48, min_visible: float = 0.6, seed: int = 0) -> DetectionSet:
    """``n`` synthetic scenes with exact boxes and instance masks.

    Args:
        n: number of images.
        size: image side (or ``(h, w)``).
        objects: ``"digits"`` (scikit-learn's 8x8 digits, always offline) or ``"fashion-mnist"``.
        classes: which of the source's classes to paste (default: all); they become labels ``1..len(classes)``.
        max_objects: objects per image, drawn uniformly from ``1..max_objects``.
        min_scale, max_scale: side in pixels of a pasted object (before its mask is cut to the strokes).
        min_visible: an object keeps at least this fraction of its pixels visible, else it is dropped.
        seed: the scenes are a function of the arguments.

    Returns:
        A :class:`DetectionSet` whose targets have ``boxes``, ``labels`` and ``masks``.

    Example:
        >>> s = generate_scenes(4, size=96, classes=[0, 1], seed=1)
        >>> s.images[0].shape, s.classes
        (torch.Size([3, 96, 96]), ['0', '1'])
    """
    check_int("n", n)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    check_int("size", min(h, w), 16)
    check_int("max_objects", max_objects)
    check_int("min_scale", min_scale, 4)
    check_int("max_scale", max_scale, min_scale, min(h, w))
    check_number("min_visible", min_visible, minimum=0, maximum=1)
    src, src_labels, names = _objects(objects)
    chosen = list(range(len(names))) if classes is None else [int(c) for c in classes]
    if not chosen or any(c not in range(len(names)) for c in chosen):
        raise ValueError(f"classes must be indices into {objects}'s {len(names)} classes, got {classes!r}")
    pools = [(src_labels == c).nonzero().flatten() for c in chosen]
    backgrounds = _backgrounds()
    g = torch.Generator().manual_seed(seed)

    def randint(lo: int, hi: int) -> int:  # inclusive
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    images, targets = [], []
    for _ in range(n):
        bg = backgrounds[randint(0, len(backgrounds) - 1)]
        scale = max(h / bg.shape[1], w / bg.shape[2], 1.0) * (1 + 0.5 * float(torch.rand(1, generator=g)))
        bg = F.interpolate(bg[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]
        y0, x0 = randint(0, bg.shape[1] - h), randint(0, bg.shape[2] - w)
        canvas = (bg[:, y0:y0 + h, x0:x0 + w] * (0.4 + 0.3 * torch.rand(1, generator=g))).clone()
        owner = torch.zeros(h, w, dtype=torch.long)  # 0: background, i: the i-th pasted object
        labels, full_area = [], []
        for i in range(1, randint(1, max_objects) + 1):
            k = randint(0, len(chosen) - 1)
            obj = src[pools[k][randint(0, len(pools[k]) - 1)]]
            side = randint(min_scale, max_scale)
            glyph = F.interpolate(obj[None, None], size=(side, side), mode="bilinear", align_corners=False)[0, 0]
            mask = glyph > 0.35
            if not mask.any():
                continue
            oy, ox = randint(0, h - side), randint(0, w - side)
            colour = 0.55 + 0.45 * torch.rand(3, 1, generator=g)  # bright objects on the darkened background
            region = canvas[:, oy:oy + side, ox:ox + side]
            region[:, mask] = colour * glyph[mask].clamp(0.6, 1)
            owner[oy:oy + side, ox:ox + side][mask] = i
            labels.append(k + 1)
            full_area.append(int(mask.sum()))
        boxes, keep_labels, masks = [], [], []
        for i, (label, area) in enumerate(zip(labels, full_area), start=1):
            m = owner == i
            if int(m.sum()) < max(1, min_visible * area):
                continue  # mostly hidden: not an object anyone could label
            ys, xs = m.nonzero(as_tuple=True)
            boxes.append([float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1])
            keep_labels.append(label)
            masks.append(m)
        target: dict[str, Any] = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(keep_labels, dtype=torch.int64),
            "masks": torch.stack(masks) if masks else torch.zeros(0, h, w, dtype=torch.bool),
        }
        images.append(canvas.clamp(0, 1))
        targets.append(target)
    return DetectionSet(images, targets, [names[c] for c in chosen], f"scenes:{objects}")
