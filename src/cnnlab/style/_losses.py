"""The losses of neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) and activation smoothing (Wang, Li &
Vasconcelos, CVPR 2021), as pure functions on feature maps.

Normalisation (so that the weights ``alpha`` / ``beta`` mean the same at every image size and layer width):

- :func:`gram_matrix` divides the channel correlations by the number of elements ``C * H * W`` of the layer;
- :func:`style_loss` is then Gatys' per-layer style loss exactly: ``E_l = 1 / (4 N^2 M^2) sum (G - A)^2`` on the
  raw Gram matrices equals ``1/4 sum (G_hat - A_hat)^2`` on the normalised ones (``N`` channels, ``M = H * W``);
- :func:`content_loss` is the mean squared difference of the feature maps (Gatys use half the sum, which grows
  with the layer's size; neural-style and the PyTorch tutorial use the mean, as here);
- :func:`tv_loss` is the mean squared difference of neighbouring pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_maps(name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if t.dim() != 4:
        raise ValueError(f"{name} must be feature maps Tensor[N, C, H, W], got shape {tuple(t.shape)}")


def gram_matrix(features: Tensor) -> Tensor:
    """Feature correlations between every pair of channels, summed over positions: what a layer says about
    texture with the spatial layout discarded.

    Args:
        features: ``Tensor[N, C, H, W]``.

    Returns:
        ``Tensor[N, C, C]`` with ``G[n, i, j] = sum_k F[n, i, k] F[n, j, k] / (C H W)``.

    Example:
        >>> gram_matrix(torch.ones(1, 2, 3, 3))
        tensor([[[0.5000, 0.5000],
                 [0.5000, 0.5000]]])
    """
    _check_maps("features", features)
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_loss(gram: Tensor, target: Tensor) -> Tensor:
    """Gatys' style loss of one layer, ``1/4 sum_ij (G - A)^2`` on normalised Gram matrices, averaged over the
    batch.

    Args:
        gram: ``Tensor[N, C, C]`` from :func:`gram_matrix` of the image being optimised.
        target: ``Tensor[C, C]`` or ``Tensor[N, C, C]``, the style's Gram matrix.
    """
    if gram.dim() != 3:
        raise ValueError(f"gram must be Tensor[N, C, C], got shape {tuple(gram.shape)}")
    if target.shape[-2:] != gram.shape[-2:]:
        raise ValueError(f"target Gram matrix {tuple(target.shape)} does not match {tuple(gram.shape)}")
    return 0.25 * (gram - target).pow(2).sum((-2, -1)).mean()


def content_loss(features: Tensor, target: Tensor) -> Tensor:
    """Mean squared difference between the feature maps of the image and of the content photo.

    Args:
        features, target: ``Tensor[N, C, H, W]`` of the same shape (``target`` may have batch 1).
    """
    _check_maps("features", features)
    if target.shape[1:] != features.shape[1:]:
        raise ValueError(f"content target {tuple(target.shape)} does not match features {tuple(features.shape)}")
    return (features - target).pow(2).mean()


def tv_loss(images: Tensor) -> Tensor:
    """Total variation: the mean squared difference of vertically and horizontally neighbouring pixels (a
    smoothness prior against high-frequency noise; Mahendran & Vedaldi 2015).

    Args:
        images: ``Tensor[N, C, H, W]``.
    """
    _check_maps("images", images)
    dy = images[..., 1:, :] - images[..., :-1, :]
    dx = images[..., :, 1:] - images[..., :, :-1]
    zero = images.new_zeros(())
    return (dy.pow(2).mean() if dy.numel() else zero) + (dx.pow(2).mean() if dx.numel() else zero)


def smooth(features: Tensor, *, temperature: float = 1.0) -> Tensor:
    """Activation smoothing (Wang, Li & Vasconcelos, "Rethinking and improving the robustness of image style
    transfer", CVPR 2021): a softmax over all ``C * H * W`` activations of each image's layer, applied before the
    Gram and content losses. Residual networks' deep activations are peaky (low entropy), which plain Gram losses
    cannot match; the softmax flattens them.

    The result is multiplied by ``C * H * W`` so that it has mean 1 (the paper's softmax sums to 1, which shrinks
    the losses by the square of the layer's size and makes the loss weights size-dependent); the factor changes
    no optimum.

    Args:
        features: ``Tensor[N, C, H, W]``.
        temperature: ``softmax(F / temperature)``.
    """
    _check_maps("features", features)
    n = features.shape[0]
    flat = (features / temperature).reshape(n, -1)
    return (torch.softmax(flat, dim=1) * flat.shape[1]).reshape(features.shape)
