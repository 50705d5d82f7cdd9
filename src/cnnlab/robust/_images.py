"""Attacking users' photos: each image, its adversarial twin, the perturbation, and both predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab._device import model_device
from cnnlab.robust._attacks import ATTACKS, resolve_target


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


def to_8bit(images: Tensor) -> Tensor:
    """Pixels rounded to the 8-bit grid ``k / 255``: exactly what a PNG of them holds when read back."""
    return (images.clamp(0, 1) * 255).round() / 255


def _into_ball(adv: Tensor, x: Tensor, eps: float | None) -> Tensor:
    """``adv`` on the 8-bit grid and, with an L-inf ``eps``, inside the ball around the grid image ``x``: rounding
    can step past ``eps`` by half a level, so the grid values nearest the ball's edges bound it."""
    q = to_8bit(adv)
    if eps is None:
        return q
    lo = torch.ceil(((x - eps) * 255).clamp(min=0) - 1e-4) / 255
    hi = torch.floor(((x + eps) * 255).clamp(max=255) + 1e-4) / 255
    return torch.minimum(torch.maximum(q, lo), hi)


def attack_images(model: nn.Module, images: Sequence[Tensor], method: str = "pgd", *,
                  target: int | None = None, **options) -> list[ImageAttack]:
    """Attack photos of any size: each is prepared as the model's card says (:func:`cnnlab.models.prepare`),
    the label is the model's own prediction, and the attack pushes away from it (or towards ``target``).

    The images are on the 8-bit grid, the attack and its measurements at the resolution the network sees: the
    prepared original is rounded to ``k / 255`` before the attack and the adversarial image after it (kept inside
    the L-inf ball), and both predictions are of those rounded images. So PNGs of ``original`` and
    ``adversarial`` give, read back and classified again (:func:`cnnlab.models.predict` takes an image at the
    input size as prepared), exactly the classes and probabilities reported here.

    Example:
        >>> from cnnlab import data, models
        >>> net = models.create("efficientnet_lite0", weights="imagenet")
        >>> r = attack_images(net, [data.sample_image("coffee")], "fgsm", eps=1 / 255)  # doctest: +SKIP
    """
    from cnnlab.models import frozen, prepare

    ATTACKS.lookup(method)
    if not len(images):
        raise ValueError("no images to attack")
    classes = getattr(getattr(model, "cnnlab", None), "classes", None)
    dev = model_device(model)
    x = to_8bit(prepare(model, images).to(dev))
    with frozen(model), torch.no_grad():
        probs = model(x).float().softmax(1)
    clean_prob, labels = probs.max(1)
    tgt = resolve_target(target, labels, model)
    adv = ATTACKS.lookup(method)(model, x, labels, target=target, **options)
    eps = options.get("eps", _default_eps(method)) if ATTACKS.info(method).get("norm") != "l0" else None
    norm = options.get("norm", "linf")
    adv = _into_ball(adv, x, eps if norm == "linf" else None)
    with frozen(model), torch.no_grad():
        adv_probs = model(adv).float().softmax(1)
    adv_prob, adv_pred = adv_probs.max(1)
    success = adv_pred != labels if tgt is None else adv_pred == tgt

    def name(i: int) -> str:
        return classes[i] if classes else str(i)

    return [ImageAttack(x[i].cpu(), adv[i].cpu(), name(int(labels[i])), float(clean_prob[i]),
                        name(int(adv_pred[i])), float(adv_prob[i]), bool(success[i]))
            for i in range(len(labels))]


def _default_eps(method: str) -> float | None:
    import inspect

    p = inspect.signature(ATTACKS.lookup(method)).parameters.get("eps")
    return p.default if p is not None and isinstance(p.default, (int, float)) else None
