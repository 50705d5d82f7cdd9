"""Attacking users' photos: each image, its adversarial twin, the perturbation, and both predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab._device import model_device
from cnnlab.robust._attacks import ATTACKS, attack_mode, run_attack


@dataclass
class ImageAttack:
    """One photo attacked: ``original`` / ``adversarial`` ``Tensor[C, H, W]`` at the model's input size,
    their top-1 class and probability, and whether the attack succeeded."""

    original: Tensor
    adversarial: Tensor
    clean_class: str
    clean_prob: float
    adv_class: str
    adv_prob: float
    success: bool

    @property
    def perturbation(self) -> Tensor:
        """``adversarial - original``, ``Tensor[C, H, W]``."""
        return self.adversarial - self.original


def perturbation_image(delta: Tensor) -> Tensor:
    """A perturbation made visible: ``0.5 + 0.5 * delta / max|delta|`` (grey = unchanged)."""
    m = delta.abs().max().clamp_min(1e-12)
    return (0.5 + 0.5 * delta / m).clamp(0, 1)


def attack_images(model: nn.Module, images: Sequence[Tensor], method: str = "pgd", *,
                  target: int | None = None, **options) -> list[ImageAttack]:
    """Attack photos of any size: each is prepared as the model's card says, the label is the model's own
    prediction, and the attack pushes away from it (or towards ``target``).

    Example:
        >>> from cnnlab import data, models
        >>> net = models.create("efficientnet_lite0", weights="imagenet")
        >>> r = attack_images(net, [data.sample_image("coffee")], "fgsm", eps=1 / 255)  # doctest: +SKIP
    """
    from cnnlab.models import preprocess

    ATTACKS.lookup(method)
    if not len(images):
        raise ValueError("no images to attack")
    classes = getattr(getattr(model, "cnnlab", None), "classes", None)
    dev = model_device(model)
    x = torch.stack([preprocess(model, img) for img in images]).to(dev)
    with attack_mode(model), torch.no_grad():
        probs = model(x).float().softmax(1)
    clean_prob, labels = probs.max(1)
    r = run_attack(method, model, x, labels, target=target, clean_pred=labels, **options)

    def name(i: int) -> str:
        return classes[i] if classes else str(i)

    return [ImageAttack(x[i].cpu(), r.adversarial[i].cpu(), name(int(labels[i])), float(clean_prob[i]),
                        name(int(r.adv_pred[i])), float(r.adv_prob[i]), bool(r.success[i]))
            for i in range(len(labels))]
