"""Top-k classification of images with a cnnlab model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab.models._api import ModelCard


@dataclass(frozen=True)
class Prediction:
    """One of the top-k classes of one image."""

    index: int
    label: str
    prob: float


def preprocess(model: nn.Module, image: Tensor) -> Tensor:
    """Prepare one ``Tensor[C, H, W]`` in [0, 1] for ``model``: channel adapter, resize and centre crop as
    the model's card says (pretrained weights: resize the shorter side, then crop; otherwise a plain resize
    to the input size)."""
    from cnnlab.data import resize_and_crop

    card: ModelCard | None = getattr(model, "cnnlab", None)
    if card is None:
        raise ValueError("model has no cnnlab card; build it with cnnlab.models.create")
    c, h, w = card.input_size
    resize = card.resize_size if card.resize_size is not None else (h, w)
    return resize_and_crop(image, resize, (h, w), interpolation=card.interpolation, channels=c)


@torch.no_grad()
def predict(model: nn.Module, images: Sequence[Tensor] | Tensor, *, topk: int = 5,
            batch_size: int = 32) -> list[list[Prediction]]:
    """Top-``topk`` classes with softmax probabilities for each image.

    Args:
        model: a cnnlab model (see :func:`cnnlab.models.create` / :func:`cnnlab.models.load`).
        images: ``Tensor[C, H, W]`` images in [0, 1] of any size (preprocessed per the model's card), or an
            already prepared ``Tensor[N, C, H, W]``.
        topk: how many classes per image.

    Returns:
        One list of :class:`Prediction` per image, most probable first. The model's train/eval mode is
        restored afterwards.
    """
    card: ModelCard | None = getattr(model, "cnnlab", None)
    check_int("topk", topk)
    if isinstance(images, Tensor) and images.dim() == 4:
        batch = images
    else:
        batch = torch.stack([preprocess(model, img) for img in images]) if len(images) else None
    if batch is None:
        return []
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        probs = torch.cat([model(b.to(device)).float().softmax(1).cpu() for b in batch.split(batch_size)])
    finally:
        model.train(was_training)
    k = min(topk, probs.shape[1])
    top = probs.topk(k, dim=1)
    classes = card.classes if card is not None and card.classes else None
    return [
        [Prediction(int(i), classes[int(i)] if classes else str(int(i)), float(p)) for p, i in zip(ps, idx)]
        for ps, idx in zip(top.values, top.indices)
    ]
