"""Segments and boxes from a classifier's gradients (weak supervision: no pixel labels, no training).

"Computer vision segmentation algorithms can be applied directly to gradients to get image segments": Simonyan,
Vedaldi & Zisserman (2014, Sec. 3.1) took the saliency map of the predicted class, seeded OpenCV's GrabCut with
its most salient pixels (the 95% quantile) as foreground and its least salient (below the 30% quantile) as
background, and boxed the largest connected component of the result. :func:`from_attribution` does this for any
``cnnlab.explain`` method (Grad-CAM, saliency, guided backprop, ...), or simply thresholds the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._checks import check_choice, check_int, check_number

REFINES = ("grabcut", "threshold")
# pixel-space gradient maps are heavy-tailed and speckled: scaled by a high percentile and smoothed before use
_PIXEL_METHODS = {"saliency", "deconvnet", "guided", "guided-gradcam"}


@dataclass
class AttributionSegment:
    """One image's segment from an explanation map, at the image's own size.

    Attributes:
        image: ``Tensor[3, H, W]`` in [0, 1].
        heat: ``Tensor[H, W]`` in [0, 1], the explanation map (scaled, smoothed for pixel-space methods).
        mask: ``Tensor[H, W]`` bool, the segment (GrabCut's foreground or the thresholded map).
        box: ``Tensor[4]`` float ``x1 y1 x2 y2`` pixels (far edge), around the mask's largest connected component
            (the whole image when the mask is empty, ``found=False``).
        found: whether the mask had a foreground component.
        index, label, prob: the explained class and the model's probability for it.
        method, refine: how it was made.
    """

    image: Tensor
    heat: Tensor
    mask: Tensor
    box: Tensor
    found: bool
    index: int
    label: str
    prob: float
    method: str
    refine: str


def largest_component_box(mask: Tensor) -> Tensor | None:
    """``Tensor[4]`` ``x1 y1 x2 y2`` (far edge) of the largest 8-connected component of a bool mask ``[H, W]``, or
    ``None`` when it is empty (OpenCV's ``connectedComponentsWithStats``)."""
    import cv2

    m = mask.cpu().numpy().astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(stats[i, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                              cv2.CC_STAT_HEIGHT))
    return torch.tensor([x, y, x + w, y + h], dtype=torch.float32)


def grabcut_mask(image: Tensor, heat: Tensor, *, threshold: float = 0.3, fg_quantile: float = 0.95,
                 bg_quantile: float = 0.3, iterations: int = 3, max_side: int = 240) -> Tensor:
    """GrabCut (Rother et al. 2004, ``cv2.grabCut``) seeded by an explanation map, as Simonyan et al. did.

    Pixels above the map's ``fg_quantile`` are sure foreground, below its ``bg_quantile`` sure background, the
    rest probably foreground where the map exceeds ``threshold`` (of its maximum 1), else probably background.
    GrabCut runs at most at ``max_side`` pixels on the longer side; the mask is brought back to the image's size.

    Args:
        image: ``Tensor[3, H, W]`` in [0, 1].
        heat: ``Tensor[H, W]`` in [0, 1].

    Returns:
        ``Tensor[H, W]`` bool foreground.
    """
    import cv2

    h, w = heat.shape
    scale = min(1.0, max_side / max(h, w))
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    img = F.interpolate(image[None].float(), size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)[0]
    hm = F.interpolate(heat[None, None].float(), size=(sh, sw), mode="bilinear", align_corners=False)[0, 0]
    bgr = np.ascontiguousarray((img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[..., ::-1])
    flat = hm.flatten()
    hi = float(torch.quantile(flat, fg_quantile))
    lo = float(torch.quantile(flat, bg_quantile))
    hmn = hm.numpy()
    mask = np.where(hmn >= threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    mask[hmn <= lo] = cv2.GC_BGD
    mask[(hmn >= hi) & (hmn > lo)] = cv2.GC_FGD
    fg_seed = mask == cv2.GC_FGD
    if not fg_seed.any() or not (mask == cv2.GC_BGD).any():  # a flat map: nothing to seed a colour model with
        fg = hmn >= threshold
    else:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
            fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
        except cv2.error:  # too few pixels of one kind for the colour models
            fg = hmn >= threshold
    out = torch.from_numpy(fg.astype(np.float32))[None, None]
    return F.interpolate(out, size=(h, w), mode="nearest")[0, 0] > 0.5


def _heat(maps: Tensor, method: str, size: tuple[int, int]) -> Tensor:
    """Map ``Tensor[1, C, h, w]`` -> ``Tensor[H, W]`` in [0, 1] at the image's size."""
    from cnnlab.explain import normalize_maps

    m = maps.detach().float().abs().amax(1, keepdim=True)
    if method in _PIXEL_METHODS:
        m = normalize_maps(m, percentile=99.0)
        # speckled gradients -> blobs: a Gaussian blur of ~2% of the image side
        sigma = max(1.0, 0.02 * max(m.shape[-2:]))
        k = int(2 * round(3 * sigma) + 1)
        x = torch.arange(k, dtype=torch.float32) - k // 2
        g = torch.exp(-x ** 2 / (2 * sigma ** 2))
        g = g / g.sum()
        m = F.conv2d(F.pad(m, (k // 2,) * 4, mode="replicate"), g.view(1, 1, 1, k))
        m = F.conv2d(m, g.view(1, 1, k, 1))
    m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    return normalize_maps(m)[0, 0]


@dataclass
class Heatmap:
    """An explanation map of one image at the image's size (:func:`attribution_heatmaps`)."""

    image: Tensor
    heat: Tensor
    index: int
    label: str
    prob: float
    method: str


def classifier_input_size(model: nn.Module, image_size: Sequence[int], size: int) -> tuple[int, int]:
    """``(H, W)`` the classifier sees for an image of ``image_size`` = ``(H, W)``: its shorter side resized to
    ``size``, the aspect ratio kept; a ``ValueError`` naming the size when a cnnlab model cannot take that shape (a
    network of fixed input size, a size too small for its depth), so callers can check before any work starts."""
    check_int("size", size, 16)
    h, w = (int(v) for v in image_size[-2:])
    s = size / min(h, w)
    hw = (max(1, round(h * s)), max(1, round(w * s)))
    card = getattr(model, "cnnlab", None)
    if card is not None:
        from cnnlab.models import check_input_size

        check_input_size(model, (card.input_size[0], *hw), what=f"an image resized to {hw[0]}x{hw[1]} (--size {size})")
    return hw


def attribution_heatmaps(model: nn.Module, images: Sequence[Tensor] | Tensor, *, method: str = "gradcam",
                         target: int | Sequence[int] | None = None, size: int = 224, **options) -> list[Heatmap]:
    """The explanation map of the predicted class (or ``target``) of each image, scaled to [0, 1] at the image's
    size (see :func:`from_attribution` for the arguments)."""
    from cnnlab.data import to_channels
    from cnnlab.explain import METHODS
    from cnnlab.models import frozen

    fn = METHODS.lookup(method)
    check_int("size", size, 16)
    if isinstance(images, Tensor) and images.dim() == 4:
        images = list(images)
    if not len(images):
        raise ValueError("no images to segment")
    targets = [target] * len(images) if target is None or isinstance(target, int) else list(target)
    if len(targets) != len(images):
        raise ValueError(f"{len(targets)} targets for {len(images)} images")
    card = getattr(model, "cnnlab", None)
    classes = getattr(card, "classes", None)
    channels = card.input_size[0] if card is not None else 3
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    out = []
    for img, tgt in zip(images, targets):
        if not isinstance(img, Tensor) or img.dim() != 3:
            raise ValueError(f"each image must be a Tensor[C, H, W], got {getattr(img, 'shape', type(img))}")
        rgb = to_channels(img.float().clamp(0, 1), 3)
        h, w = rgb.shape[-2:]
        hw = classifier_input_size(model, (h, w), size)
        x = F.interpolate(to_channels(rgb, channels)[None], size=hw, mode="bilinear", align_corners=False,
                          antialias=True).clamp(0, 1).to(dev)
        with frozen(model), torch.no_grad():
            probs = model(x).float().softmax(-1)[0]
        cls = int(probs.argmax()) if tgt is None else int(tgt)
        if not 0 <= cls < probs.shape[0]:
            raise ValueError(f"target must be in [0, {probs.shape[0] - 1}], got {cls}")
        maps = fn(model, x, cls, **options)
        out.append(Heatmap(image=rgb.cpu(), heat=_heat(maps, method, (h, w)).cpu(), index=cls,
                           label=classes[cls] if classes and cls < len(classes) else str(cls),
                           prob=float(probs[cls]), method=method))
    return out


def segment_heatmap(heatmap: Heatmap, *, refine: str = "grabcut", threshold: float = 0.3) -> AttributionSegment:
    """The segment and box of one :class:`Heatmap`: GrabCut seeded by it, or its pixels above ``threshold``."""
    check_choice("refine", refine, REFINES)
    threshold = check_number("threshold", threshold, minimum=0, maximum=1)
    rgb, heat = heatmap.image, heatmap.heat
    mask = grabcut_mask(rgb, heat, threshold=threshold) if refine == "grabcut" else heat >= threshold
    box = largest_component_box(mask)
    found = box is not None
    if box is None:
        box = torch.tensor([0.0, 0.0, float(heat.shape[1]), float(heat.shape[0])])
    return AttributionSegment(image=rgb, heat=heat, mask=mask, box=box, found=found, index=heatmap.index,
                              label=heatmap.label, prob=heatmap.prob, method=heatmap.method, refine=refine)


def from_attribution(model: nn.Module, images: Sequence[Tensor] | Tensor, *, method: str = "gradcam",
                     refine: str = "grabcut", threshold: float = 0.3, target: int | Sequence[int] | None = None,
                     size: int = 224, **options) -> list[AttributionSegment]:
    """Segments and boxes of the explained class in each image, from an explanation map.

    Each image is resized (its shorter side to ``size``, keeping the aspect ratio, so nothing is cropped away) for
    the classifier; the map of ``method`` (any ``cnnlab.explain`` method) for the predicted class (or ``target``) is
    scaled to [0, 1] at the image's size; ``refine="grabcut"`` runs :func:`grabcut_mask` seeded by it,
    ``"threshold"`` keeps the pixels above ``threshold``; the box surrounds the largest connected component.

    Args:
        model: a classifier taking ``Tensor[N, 3, H, W]`` in [0, 1] at any size (e.g. the ImageNet
            EfficientNet-Lite0); left as found (modes, ``requires_grad``, hooks).
        images: ``Tensor[C, H, W]`` in [0, 1] of any size, or a batch.
        method: an explanation method name (``cnnlab.explain.names()``).
        refine: ``"grabcut"`` or ``"threshold"``.
        threshold: in [0, 1] of the map's maximum: the mask (``threshold``) or GrabCut's probable foreground.
        target: the class to explain in every image, or one per image (default: the predicted class).
        size: the shorter side the classifier sees.
        **options: passed to the method (e.g. ``layer=``).

    Example:
        >>> net = cnnlab.models.load("efficientnet_lite0")
        >>> seg = from_attribution(net, [cnnlab.data.sample_image("chelsea")])[0]    # doctest: +SKIP
        >>> seg.label, seg.box
        ('Egyptian cat', tensor([ 46.,   0., 401., 267.]))
    """
    check_choice("refine", refine, REFINES)
    check_number("threshold", threshold, minimum=0, maximum=1)
    maps = attribution_heatmaps(model, images, method=method, target=target, size=size, **options)
    return [segment_heatmap(m, refine=refine, threshold=threshold) for m in maps]


def segment_figure(segments: Sequence[AttributionSegment], *, titles: Sequence[str] | None = None,
                   truth: Sequence[Tensor] | None = None):
    """Rows of image with box | explanation map | segment (mask over the image); true boxes in green."""
    from matplotlib.patches import Rectangle

    from cnnlab._plot import pyplot

    plt = pyplot()
    n = len(segments)
    fig, axes = plt.subplots(n, 3, figsize=(9.0, 2.6 * n), squeeze=False)
    for i, s in enumerate(segments):
        img = s.image.permute(1, 2, 0).numpy()
        masked = (s.image * (0.25 + 0.75 * s.mask.float())).permute(1, 2, 0).numpy()
        for ax, pic, name in ((axes[i, 0], img, "box"), (axes[i, 1], s.heat.numpy(), s.method),
                              (axes[i, 2], masked, f"segment ({s.refine})")):
            ax.imshow(pic, cmap="inferno" if pic.ndim == 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name if i else f"{name}", fontsize=8)
        x1, y1, x2, y2 = s.box.tolist()
        axes[i, 0].add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="#ff3b30", lw=2))
        if truth is not None:
            for b in truth[i].tolist():
                axes[i, 0].add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, color="#34c759",
                                               lw=1.5, ls="--"))
        label = titles[i] if titles is not None else f"{s.label} ({s.prob:.0%})"
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig
