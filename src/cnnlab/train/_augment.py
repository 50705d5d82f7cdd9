"""Batch augmentation, vectorised on the device: random crop with padding, horizontal flip, AlexNet PCA noise.

Each transform is a pure function of the images and explicit random parameters (``crop_at``, ``flip_where``,
``pca_lighting``); ``augment_batch`` draws the parameters for a whole (global) batch from a generator, so a
DDP rank can draw for the global batch and keep its own slice, and a resumed run draws the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def crop_at(images: Tensor, padding: int, offsets: Tensor) -> Tensor:
    """Zero-pad by ``padding`` and cut the original size at per-image offsets.

    Args:
        images: ``Tensor[N, C, H, W]``.
        padding: pixels of zero padding on every side.
        offsets: ``Tensor[N, 2]`` integer (top, left) offsets in ``[0, 2 * padding]``.

    Returns:
        ``Tensor[N, C, H, W]``; offset ``(padding, padding)`` gives the image back.
    """
    if padding == 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = offsets.to(images.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # (N, W)
    # (N, C, H+2p, W+2p) -> (N, C, H, W): gather rows then columns
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def flip_where(images: Tensor, mask: Tensor) -> Tensor:
    """Mirror left-right the images where ``mask`` (``Tensor[N]`` bool) is true."""
    return torch.where(mask.to(images.device)[:, None, None, None], images.flip(3), images)


def pca_lighting(images: Tensor, eigval: Tensor, eigvec: Tensor, alpha: Tensor) -> Tensor:
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, sec. 4.1): add ``eigvec @ (alpha * eigval)`` to
    every pixel, where ``eigval``/``eigvec`` are the eigenvalues/vectors (columns) of the training set's 3x3 RGB
    covariance and ``alpha ~ N(0, sigma)`` is drawn once per image.

    Args:
        images: ``Tensor[N, 3, H, W]`` in [0, 1].
        eigval: ``Tensor[3]``; eigvec: ``Tensor[3, 3]``; alpha: ``Tensor[N, 3]``.

    Returns:
        The shifted images, clamped to [0, 1].
    """
    shift = (alpha.to(images) * eigval.to(images)) @ eigvec.to(images).T  # (N, 3): sum_j v_j * a_j * l_j
    return (images + shift[:, :, None, None]).clamp_(0, 1)


def rgb_pca(images: Tensor, max_images: int = 10000) -> tuple[Tensor, Tensor]:
    """Eigenvalues and eigenvectors (columns) of the RGB covariance of ``images`` (``[N, 3, H, W]`` in [0, 1])."""
    if images.shape[1] != 3:
        raise ValueError(f"PCA colour noise needs 3-channel images, got {images.shape[1]} channel(s)")
    x = images[:max_images].float()
    if x.max() > 1:  # uint8 -> [0, 1]
        x = x / 255
    pixels = x.permute(1, 0, 2, 3).reshape(3, -1).double()
    cov = torch.cov(pixels)
    eigval, eigvec = torch.linalg.eigh(cov)
    return eigval.float().clamp_min(0), eigvec.float()


@dataclass
class AugmentParams:
    """Random parameters for one global batch."""

    offsets: Tensor | None = None  # (B, 2)
    flip: Tensor | None = None  # (B,)
    alpha: Tensor | None = None  # (B, 3)

    def slice(self, sl: slice) -> AugmentParams:
        return AugmentParams(*(None if t is None else t[sl] for t in (self.offsets, self.flip, self.alpha)))


def draw_params(n: int, *, crop_padding: int, hflip: bool, pca_noise: float,
                generator: torch.Generator) -> AugmentParams:
    """Draw the augmentation parameters of ``n`` images from ``generator`` (in a fixed order)."""
    dev = generator.device
    p = AugmentParams()
    if crop_padding:
        p.offsets = torch.randint(0, 2 * crop_padding + 1, (n, 2), generator=generator, device=dev)
    if hflip:
        p.flip = torch.rand(n, generator=generator, device=dev) < 0.5
    if pca_noise:
        p.alpha = torch.randn(n, 3, generator=generator, device=dev) * pca_noise
    return p


def apply_params(images: Tensor, params: AugmentParams, *, crop_padding: int,
                 pca: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Apply drawn parameters to ``images`` (float in [0, 1])."""
    if params.offsets is not None:
        images = crop_at(images, crop_padding, params.offsets)
    if params.flip is not None:
        images = flip_where(images, params.flip)
    if params.alpha is not None:
        if pca is None:
            raise ValueError("pca_lighting needs the eigenvalues and eigenvectors (rgb_pca)")
        images = pca_lighting(images, pca[0], pca[1], params.alpha)
    return images
