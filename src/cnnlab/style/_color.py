"""Colour spaces for colour-preserving style transfer (Gatys, Bethge, Hertzmann & Shechtman, "Preserving color
in neural artistic style transfer", 2016): YIQ splits an RGB image into luminance Y and chroma I, Q."""

from __future__ import annotations

import torch
from torch import Tensor

# NTSC (FCC) RGB -> YIQ; Y is ITU-R 601 luma, the weights cnnlab.data.to_channels uses
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _matrix(t: Tensor, inverse: bool = False) -> Tensor:
    m = torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)
    m = torch.linalg.inv(m) if inverse else m
    return m.to(t.device, t.dtype)


def _check_rgb(name: str, img: Tensor) -> None:
    if not isinstance(img, Tensor) or img.dim() < 3 or img.shape[-3] != 3:
        raise ValueError(f"{name} must be RGB Tensor[..., 3, H, W], got {getattr(img, 'shape', type(img).__name__)}")


def rgb_to_yiq(img: Tensor) -> Tensor:
    """``Tensor[..., 3, H, W]`` RGB -> YIQ (Y in [0, 1]; I, Q roughly in [-0.6, 0.6]; grey pixels have I = Q = 0)."""
    _check_rgb("img", img)
    return torch.einsum("ij,...jhw->...ihw", _matrix(img), img)


def yiq_to_rgb(img: Tensor) -> Tensor:
    """The inverse of :func:`rgb_to_yiq` (not clamped)."""
    _check_rgb("img", img)
    return torch.einsum("ij,...jhw->...ihw", _matrix(img, inverse=True), img)


def luminance(img: Tensor) -> Tensor:
    """``Tensor[..., 3, H, W]`` -> ``Tensor[..., 1, H, W]``, the Y of YIQ."""
    return rgb_to_yiq(img)[..., :1, :, :]


def match_luminance(source: Tensor, reference: Tensor) -> Tensor:
    """Shift and scale the luminance ``source`` to the mean and standard deviation of ``reference`` (the
    luminance matching of Gatys et al. 2016, so a dark style does not darken the photo), clamped to [0, 1]."""
    s_mu, s_sd = source.mean(), source.std().clamp_min(1e-6)
    r_mu, r_sd = reference.mean(), reference.std()
    return ((source - s_mu) * (r_sd / s_sd) + r_mu).clamp(0, 1)


def combine_luminance(luma: Tensor, chroma_from: Tensor) -> Tensor:
    """RGB with the luminance ``luma`` (``Tensor[..., 1, H, W]``) and the chroma (I, Q) of the RGB image
    ``chroma_from``, clamped to [0, 1]: neural-style's ``-original_colors``."""
    yiq = rgb_to_yiq(chroma_from)
    return yiq_to_rgb(torch.cat([luma, yiq[..., 1:, :, :]], dim=-3)).clamp(0, 1)
