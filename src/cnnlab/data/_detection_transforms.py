"""Augmentation of detection samples that moves the boxes and masks with the image: horizontal flip, resize (scale
jitter) and crop. Images are ``Tensor[3, H, W]``, targets torchvision's dicts (``boxes`` continuous x1y1x2y2, and any
other per-object tensors: ``labels``, ``masks [K, H, W]``, ``difficult``, ``iscrowd``); nothing is changed in place.
A target may also carry ``proposals`` (``Tensor[P, 4]``, region proposals of the image, not objects: R-CNN and
Fast R-CNN train on them); they move with the image like the boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab._checks import check_number

Target = dict[str, Tensor]


def _per_object(target: Target, keep: Tensor) -> Target:
    """Index every per-object tensor of ``target`` (first dimension = the number of boxes) by ``keep``."""
    k = len(target["boxes"])
    return {key: (v[keep] if key not in IMAGE_KEYS and isinstance(v, Tensor) and v.dim() >= 1 and v.shape[0] == k
                  else v) for key, v in target.items()}


IMAGE_KEYS = ("proposals",)  # per-image boxes, not per-object fields


def _flip_x(boxes: Tensor, w: int) -> Tensor:
    b = boxes.clone()
    b[:, 0], b[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return b


def hflip_detection(image: Tensor, target: Target) -> tuple[Tensor, Target]:
    """Mirror left-right: ``x1, x2 -> W - x2, W - x1``, masks flipped."""
    w = image.shape[-1]
    out = dict(target)
    out["boxes"] = _flip_x(target["boxes"], w)
    if "proposals" in target:
        out["proposals"] = _flip_x(target["proposals"], w)
    if "masks" in target:
        out["masks"] = target["masks"].flip(-1)
    return image.flip(-1), out


def resize_detection(image: Tensor, target: Target, size: Sequence[int]) -> tuple[Tensor, Target]:
    """Resize to ``size = (h, w)`` (bilinear, antialiased when shrinking); boxes scaled per axis, masks by nearest
    neighbour."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {tuple(size)}")
    H, W = image.shape[-2:]
    img = F.interpolate(image[None], size=(h, w), mode="bilinear", align_corners=False,
                        antialias=h < H or w < W)[0].clamp(0, 1)
    out = dict(target)
    factor = torch.tensor([w / W, h / H, w / W, h / H], dtype=target["boxes"].dtype)
    out["boxes"] = target["boxes"] * factor
    if "proposals" in target:
        out["proposals"] = target["proposals"] * factor
    if "masks" in target:
        m = target["masks"]
        out["masks"] = (F.interpolate(m[None].float(), size=(h, w), mode="nearest")[0] > 0.5) if len(m) else \
            torch.zeros(0, h, w, dtype=m.dtype)
    return img, out


def crop_detection(image: Tensor, target: Target, top: int, left: int, height: int, width: int, *,
                   min_visible: float = 0.3) -> tuple[Tensor, Target]:
    """Cut the window ``[top, top + height) x [left, left + width)``; boxes shifted and clipped to it, and an
    object kept only when at least ``min_visible`` of its box area is inside (all its per-object fields go with it).
    """
    check_number("min_visible", min_visible, minimum=0, maximum=1)
    H, W = image.shape[-2:]
    top, left = max(0, int(top)), max(0, int(left))
    height, width = min(int(height), H - top), min(int(width), W - left)
    if height < 1 or width < 1:
        raise ValueError(f"crop window ({top}, {left}, {height}, {width}) is outside the {H}x{W} image")
    b = target["boxes"]
    nb = _shift_clip(b, top, left, height, width)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inside = (nb[:, 2] - nb[:, 0]) * (nb[:, 3] - nb[:, 1])
    keep = (inside > 0) & (inside >= min_visible * area)
    out = dict(target)
    out["boxes"] = nb
    if "proposals" in target:
        p = _shift_clip(target["proposals"], top, left, height, width)
        out["proposals"] = p[((p[:, 2] - p[:, 0]) >= 1) & ((p[:, 3] - p[:, 1]) >= 1)]
    if "masks" in target:
        out["masks"] = target["masks"][:, top:top + height, left:left + width]
    return image[:, top:top + height, left:left + width], _per_object(out, keep)


def _shift_clip(b: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    nb = b - torch.tensor([left, top, left, top], dtype=b.dtype)
    nb[:, 0::2] = nb[:, 0::2].clamp(0, width)
    nb[:, 1::2] = nb[:, 1::2].clamp(0, height)
    return nb


def augment_detection(image: Tensor, target: Target, *, generator: torch.Generator, hflip: bool = True,
                      scale: tuple[float, float] = (1.0, 1.0), crop: float = 0.0, crop_min: float = 0.6,
                      min_visible: float = 0.3) -> tuple[Tensor, Target]:
    """One random augmentation drawn from ``generator``: flip (p = 0.5), scale jitter by a factor uniform in
    ``scale``, and with probability ``crop`` a crop whose sides are ``crop_min..1`` of the image's.

    Example:
        >>> from cnnlab.data import generate_scenes
        >>> s = generate_scenes(1, size=64)
        >>> img, t = augment_detection(s.images[0], s.targets[0], generator=torch.Generator().manual_seed(0))
    """
    def u() -> float:
        return float(torch.rand((), generator=generator))

    if hflip and u() < 0.5:
        image, target = hflip_detection(image, target)
    lo, hi = scale
    if (lo, hi) != (1.0, 1.0):
        s = lo + (hi - lo) * u()
        H, W = image.shape[-2:]
        image, target = resize_detection(image, target, (max(1, round(H * s)), max(1, round(W * s))))
    if crop > 0 and u() < crop:
        H, W = image.shape[-2:]
        h = max(1, round(H * (crop_min + (1 - crop_min) * u())))
        w = max(1, round(W * (crop_min + (1 - crop_min) * u())))
        top, left = int(u() * (H - h + 1)), int(u() * (W - w + 1))
        image, target = crop_detection(image, target, top, left, h, w, min_visible=min_visible)
    return image, target
