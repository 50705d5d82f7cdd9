"""Judging a stylised image: how close its Gram matrices are to the style's under a network (ideally one it was not
optimised with), and how much of the photo's structure its luminance keeps (SSIM)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlab import models
from cnnlab.style._color import luminance
from cnnlab.style._features import check_layers, feature_taps
from cnnlab.style._losses import gram_matrix
from cnnlab.style._transfer import _fit, _resize, as_rgb, default_layers, resolve_model


@torch.no_grad()
def style_distance(image: Tensor, style: Tensor, *, model: nn.Module | str, layers: Sequence[str] | None = None,
                   style_size: int | None = None) -> float:
    """The relative Gram-matrix distance ``mean_l ||G_l(image) - G_l(style)||_F / ||G_l(style)||_F`` over the
    layers (0: the same texture statistics; about 1 or more: unrelated).

    Args:
        image, style: ``Tensor[C, H, W]`` in [0, 1].
        model: the judging network (registry name, checkpoint or module; left as it was).
        layers: its layers (default: its style layers, :func:`default_layers`).
        style_size: resize the style's longer side to this (default: the image's longer side, as style transfer
            with ``style_scale=1`` sees it).
    """
    net = resolve_model(model)
    names = check_layers(net, layers if layers is not None else default_layers(net)[1], "layers")
    img, sty = as_rgb(image, "image"), as_rgb(style, "style")
    sty = _fit(sty, style_size or max(img.shape[-2:]))
    dev = next((p.device for p in net.parameters()), torch.device("cpu"))
    out = []
    with models.frozen(net), feature_taps(net, names) as run:
        fi, fs = run(img[None].to(dev)), run(sty[None].to(dev))
        for n in names:
            for a, b in zip(fi[n], fs[n]):
                ga, gb = gram_matrix(a.double())[0], gram_matrix(b.double())[0]
                out.append(float(torch.linalg.norm(ga - gb) / torch.linalg.norm(gb).clamp_min(1e-30)))
    return sum(out) / len(out)


def content_ssim(image: Tensor, content: Tensor) -> float:
    """SSIM (Wang et al. 2004, scikit-image's ``structural_similarity``, data range 1) between the luminance of
    ``image`` and of ``content`` resized to the image's size: 1 means the photo's structure is fully kept."""
    from skimage.metrics import structural_similarity

    img, ref = as_rgb(image, "image"), as_rgb(content, "content")
    ref = _resize(ref, tuple(img.shape[-2:]))
    a = luminance(img)[0].double().cpu().numpy()
    b = luminance(ref)[0].double().cpu().numpy()
    return float(structural_similarity(a, b, data_range=1.0))
