"""Turning maps into pictures: colour maps, overlays and image grids (tensors in, ``Tensor[3, H, W]`` out)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cnnlab.explain._core import normalize_maps, upsample


def heatmap(map2d: Tensor, *, cmap: str = "jet", percentile: float | None = None) -> Tensor:
    """One map ``Tensor[1, H, W]`` / ``[H, W]`` / ``[C, H, W]`` (channels: max of ``|map|``) -> an RGB image
    ``Tensor[3, H, W]`` in [0, 1] through the matplotlib colour map ``cmap``, after min-max scaling (or
    scaling by a ``percentile`` of ``|map|``)."""
    from matplotlib import colormaps

    m = map2d.detach().float().cpu()
    if m.dim() == 3:
        m = m[0] if m.shape[0] == 1 else m.abs().amax(0)
    if m.dim() != 2:
        raise ValueError(f"expected a map (H, W) or (C, H, W), got shape {tuple(map2d.shape)}")
    m = normalize_maps(m[None, None], percentile=percentile)[0, 0]
    rgb = colormaps[cmap](m.numpy())[..., :3]
    return torch.from_numpy(rgb).permute(2, 0, 1).float()


def overlay(image: Tensor, map2d: Tensor, *, alpha: float = 0.5, cmap: str = "jet",
            percentile: float | None = None) -> Tensor:
    """``image`` ``Tensor[C, H, W]`` in [0, 1] blended with the colour-mapped ``map2d`` (resized to the
    image): ``Tensor[3, H, W]`` in [0, 1]."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = image.detach().float().cpu()
    if img.dim() != 3:
        raise ValueError(f"image must be Tensor[C, H, W], got shape {tuple(image.shape)}")
    img = img.expand(3, -1, -1) if img.shape[0] == 1 else img[:3]
    m = map2d.detach().float().cpu()
    m = m[None] if m.dim() == 2 else m
    m = upsample(m[None], img.shape[-2:])[0]
    return ((1 - alpha) * img + alpha * heatmap(m, cmap=cmap, percentile=percentile)).clamp(0, 1)


def image_grid(images: Tensor | Sequence[Tensor], *, ncol: int | None = None, pad: int = 2,
               normalize: bool = True, pad_value: float = 1.0) -> Tensor:
    """Tile ``Tensor[K, C, H, W]`` (or ``[K, H, W]``: one grey image each) into one ``Tensor[C, H', W']``;
    with ``normalize`` each tile is min-max scaled to [0, 1] on its own."""
    t = torch.stack(list(images)) if not isinstance(images, Tensor) else images
    t = t.detach().float().cpu()
    if t.dim() == 3:
        t = t[:, None]
    if t.dim() != 4 or t.shape[0] == 0:
        raise ValueError(f"expected images (K, C, H, W) or (K, H, W), got shape {tuple(t.shape)}")
    if normalize:
        t = normalize_maps(t)
    k, c, h, w = t.shape
    ncol = ncol or math.ceil(math.sqrt(k))
    nrow = math.ceil(k / ncol)
    out = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), float(pad_value))
    for i in range(k):
        r, q = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        out[:, y:y + h, x:x + w] = t[i]
    return out
