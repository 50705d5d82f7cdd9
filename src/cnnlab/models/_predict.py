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
    to the input size).

    An image already at the model's input size ``H x W`` is taken as prepared (only its channels are adapted):
    a PNG that cnnlab wrote at the network's resolution (an adversarial image, a visualisation) is classified
    exactly as it was when it was made, not resized and cropped a second time.
    """
    from cnnlab.data import resize_and_crop, to_channels

    card: ModelCard | None = getattr(model, "cnnlab", None)
    if not isinstance(card, ModelCard):
        raise ValueError(f"this {type(model).__name__} has no cnnlab card: build it with cnnlab.models.create, "
                         "or wrap your own module with cnnlab.models.wrap")
    c, h, w = card.input_size
    if isinstance(image, Tensor) and image.dim() == 3 and tuple(image.shape[-2:]) == (h, w):
        return to_channels(image, c)
    resize = card.resize_size if card.resize_size is not None else (h, w)
    return resize_and_crop(image, resize, (h, w), interpolation=card.interpolation, channels=c)


def predict(model: nn.Module, images: Sequence[Tensor] | Tensor, *, topk: int = 5,
            batch_size: int = 32) -> list[list[Prediction]]:
    """Top-``topk`` classes with softmax probabilities for each image.

    Args:
        model: a cnnlab model (see :func:`cnnlab.models.create` / :func:`cnnlab.models.load` /
            :func:`cnnlab.models.wrap`).
        images: ``Tensor[C, H, W]`` images in [0, 1] of any size (preprocessed per the model's card), or an
            already prepared ``Tensor[N, C, H, W]`` (checked by :func:`cnnlab.models.prepare`: 0..255 pixels,
            NaN, wrong channels and sizes the model cannot take are refused).
        topk: how many classes per image.

    Returns:
        One list of :class:`Prediction` per image, most probable first. The model runs in eval mode inside
        :func:`cnnlab.models.frozen`; every module's mode is restored afterwards.

    Raises:
        ValueError: bad images (see above), or outputs that are NaN or infinite (never ranked).
    """
    from cnnlab.models._inputs import prepare
    from cnnlab.models._state import frozen

    check_int("topk", topk)
    check_int("batch_size", batch_size)
    if isinstance(images, (list, tuple)) and not images:
        return []
    batch = prepare(model, images)
    card: ModelCard | None = getattr(model, "cnnlab", None)
    device = model_device(model)
    with frozen(model), torch.no_grad():
        logits = torch.cat([model(b.to(device)).float().cpu() for b in batch.split(batch_size)])
    bad = (~torch.isfinite(logits).all(1)).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"the model's outputs are NaN or infinite for image(s) {', '.join(map(str, bad[:5]))}; "
                         "nothing to rank")
    probs = logits.softmax(1)
    k = min(topk, probs.shape[1])
    top = probs.topk(k, dim=1)
    classes = card.classes if card is not None and card.classes else None
    return [
        [Prediction(int(i), classes[int(i)] if classes else str(int(i)), float(p)) for p, i in zip(ps, idx)]
        for ps, idx in zip(top.values, top.indices)
    ]
