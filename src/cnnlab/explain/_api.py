"""Explaining users' images end to end: preprocess, classify, run a method, make the overlay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._device import model_device
from cnnlab.explain._core import METHODS, Target, normalize_maps
from cnnlab.explain._plot import overlay

# gradient maps are heavy-tailed: scale them by a high percentile instead of the maximum
_PERCENTILE = {"saliency": 99.0, "deconvnet": 99.0, "guided": 99.0, "guided-gradcam": 99.0}


@dataclass
class ImageExplanation:
    """One explained image.

    Attributes:
        image: the prepared input ``Tensor[C, H, W]`` (resized and cropped as the model expects).
        attribution: the method's raw map for this image (``Tensor[C or 1, H, W]``).
        heat: ``Tensor[1, H, W]`` in [0, 1], ``|map|`` (max over channels) scaled for display.
        overlay: ``Tensor[3, H, W]``, the heat map blended onto the image.
        index, label, prob: the explained class and the model's probability for it.
    """

    image: Tensor
    attribution: Tensor
    heat: Tensor
    overlay: Tensor
    index: int
    label: str
    prob: float


def explain_images(model: nn.Module, images: Sequence[Tensor] | Tensor, method: str = "gradcam",
                   target: Target = None, *, alpha: float = 0.5, **options: Any) -> list[ImageExplanation]:
    """Explain ``images`` (``Tensor[C, H, W]`` in [0, 1] of any size, prepared as the model's card says, or a
    prepared ``Tensor[N, C, H, W]``; both checked by :func:`cnnlab.models.prepare`) with the registered
    ``method``, in one batch. The model runs inside :func:`cnnlab.models.frozen` and is left as found.

    ``target`` as for the methods (default: the predicted class); ``options`` go to the method (e.g.
    ``layer=``, ``window=``).

    Example:
        >>> net = cnnlab.models.load("efficientnet_lite0")
        >>> [e.label for e in explain_images(net, [cnnlab.data.sample_image("coffee")])]  # doctest: +SKIP
        ['espresso']
    """
    from cnnlab.models import frozen, prepare

    fn = METHODS.lookup(method)
    batch = prepare(model, images)
    dev = model_device(model)
    batch = batch.to(dev)
    with frozen(model), torch.no_grad():
        probs = model(batch).float().softmax(-1)
    if target is None:
        target = probs.argmax(-1)
    maps = fn(model, batch, target, **options)
    if callable(target) and not isinstance(target, Tensor):
        cls = probs.argmax(-1)
    else:
        from cnnlab.explain._core import resolve_target

        cls = resolve_target(probs, target)
    heat = normalize_maps(maps.abs().amax(1, keepdim=True), percentile=_PERCENTILE.get(method))
    classes = getattr(getattr(model, "cnnlab", None), "classes", None)
    out = []
    for i in range(len(batch)):
        c = int(cls[i])
        out.append(ImageExplanation(
            image=batch[i].cpu(), attribution=maps[i].detach().cpu(), heat=heat[i].cpu(),
            overlay=overlay(batch[i], heat[i], alpha=alpha), index=c,
            label=classes[c] if classes and c < len(classes) else str(c), prob=float(probs[i, c])))
    return out
