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


def _sym_power(c: Tensor, power: float) -> Tensor:
    """``c ** power`` of a symmetric positive-definite matrix, by its eigen-decomposition."""
    e, v = torch.linalg.eigh(c)
    return (v * e.clamp_min(1e-10).pow(power)) @ v.T


def match_colors(source: Tensor, reference: Tensor, *, eps: float = 1e-5) -> Tensor:
    """``source`` (RGB ``Tensor[3, H, W]``) with its pixels' mean and covariance moved to ``reference``'s by the
    affine map ``x -> C_r^(1/2) C_s^(-1/2) (x - mu_s) + mu_r`` (linear colour transfer; Gatys et al. 2017 use it to
    bring a style to a photo's colours, ``init="recolored"`` the other way round), clamped to [0, 1]. ``eps`` is
    added to both covariances' diagonals (a flat image has none to match)."""
    _check_rgb("source", source)
    _check_rgb("reference", reference)
    x = source.reshape(3, -1).double()
    r = reference.reshape(3, -1).double()
    eye = eps * torch.eye(3, dtype=torch.float64, device=x.device)
    mu_s, mu_r = x.mean(1, keepdim=True), r.mean(1, keepdim=True)
    a = _sym_power(torch.cov(r) + eye, 0.5) @ _sym_power(torch.cov(x) + eye, -0.5)
    return (a @ (x - mu_s) + mu_r).reshape(source.shape).to(source.dtype).clamp(0, 1)
