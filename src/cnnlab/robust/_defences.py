"""Input defences (Gaussian noise, JPEG re-encoding, bit-depth reduction) and their honest evaluation.

A defence is a function ``defence(images, **options) -> images`` on ``Tensor[N, C, H, W]`` in [0, 1].
:class:`Defended` puts one in front of a model. Its backward pass is the identity through the defence
(BPDA, Athalye et al. 2018: JPEG and quantisation have no useful gradient) and, for random defences, it
averages the logits over ``eot`` draws (expectation over transformation). :func:`evaluate_defences` reports
each defence against the plain attack (crafted on the bare model) and against that adaptive attack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab._registry import Registry

DEFENCES: Registry[Callable[..., Tensor]] = Registry("defence")


@DEFENCES.register("none", random=False)
def identity(images: Tensor) -> Tensor:
    """No defence (the baseline row)."""
    return images


@DEFENCES.register("gaussian", random=True)
def gaussian_noise(images: Tensor, *, sigma: float = 0.1, generator: torch.Generator | None = None) -> Tensor:
    """Add ``N(0, sigma^2)`` noise to every pixel and clip to [0, 1] (randomised smoothing's input noise)."""
    if sigma < 0:
        raise ValueError(f"sigma must be non-negative, got {sigma}")
    noise = torch.empty_like(images).normal_(0, sigma, generator=generator) if sigma > 0 else 0
    return (images + noise).clamp(0, 1)


@DEFENCES.register("jpeg", random=False)
def jpeg(images: Tensor, *, quality: int = 75) -> Tensor:
    """Re-encode every image as JPEG at ``quality`` (1..100) with Pillow and decode it (Dziugaite et al.
    2016). Not differentiable: attack it through :class:`Defended` (BPDA)."""
    import io

    import numpy as np
    from PIL import Image

    check_int("quality", quality, 1, 100)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"jpeg needs 1- or 3-channel images, got {images.shape[1]} channels")
    u8 = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(u8)
    for i, a in enumerate(u8):  # JPEG is a per-image codec
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(buf, format="JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buf)).reshape(a.shape)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(images.device, images.dtype).div_(255)


@DEFENCES.register("bits", random=False)
def bit_depth(images: Tensor, *, bits: int = 3) -> Tensor:
    """Quantise every pixel to ``bits`` bits (feature squeezing, Xu et al. 2018)."""
    check_int("bits", bits, 1, 8)
    levels = 2**bits - 1
    return torch.round(images * levels) / levels


class Defended(nn.Module):
    """``model(defence(x))`` with a straight-through (BPDA) backward and optional EOT averaging.

    Args:
        model: the classifier.
        defence: a registered defence name or a function ``images -> images``.
        eot: draws averaged per forward (logits mean); use > 1 for random defences.
        **options: the defence's settings (``sigma``, ``quality``, ``bits``).
    """

    def __init__(self, model: nn.Module, defence: str | Callable[..., Tensor] = "none", *, eot: int = 1,
                 **options: Any) -> None:
        super().__init__()
        check_int("eot", eot)
        self.model = model
        self.defence_name = defence if isinstance(defence, str) else getattr(defence, "__name__", "defence")
        self.defence = DEFENCES.lookup(defence) if isinstance(defence, str) else defence
        self.eot = eot
        self.options = options

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        xs = x.repeat(self.eot, 1, 1, 1) if self.eot > 1 else x
        with torch.no_grad():
            d = self.defence(xs.detach(), **self.options)
        d = xs + (d - xs).detach()  # forward: the defence; backward: identity (BPDA)
        logits = self.model(d)
        return logits.view(self.eot, n, -1).mean(0) if self.eot > 1 else logits

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"defence={self.defence_name}{', ' + opts if opts else ''}, eot={self.eot}"


@dataclass
class DefenceRow:
    """One defence against one attack: clean accuracy, accuracy under the plain (transfer from the bare
    model) and the adaptive (BPDA / EOT through the defence) attack."""

    defence: str
    options: dict[str, Any]
    clean_accuracy: float
    plain_accuracy: float
    adaptive_accuracy: float


DEFAULT_DEFENCES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("none", {}), ("gaussian", {"sigma": 0.1}), ("jpeg", {"quality": 50}), ("bits", {"bits": 2}))


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> float:
    from cnnlab.robust._attacks import attack_mode

    with attack_mode(model):
        right = sum(int((model(x[s: s + batch_size]).argmax(1) == y[s: s + batch_size]).sum())
                    for s in range(0, len(y), batch_size))
    return right / len(y)


def evaluate_defences(model: nn.Module, data: Any, *,
                      defences: Sequence[tuple[str, dict[str, Any]]] = DEFAULT_DEFENCES,
                      method: str = "pgd", eps: float = 0.1, eot: int = 8, limit: int | None = 512,
                      batch_size: int = 128, **options: Any) -> list[DefenceRow]:
    """Each defence: clean accuracy, accuracy under the plain attack and under the adaptive attack.

    The plain attack is crafted on the bare model and then classified through the defence (what a defence
    paper usually reports). The adaptive attack runs ``method`` on :class:`Defended` (BPDA; ``eot`` draws
    for random defences), which is what an attacker who knows the defence does.

    Args:
        defences: ``(name, options)`` pairs (default: none, Gaussian sigma 0.1, JPEG q50, 2-bit).
        method, eps, **options: the attack (default PGD, eps 0.1, its default steps).
        eot: draws for random defences in the adaptive attack.
        limit: images used (default 512).
    """
    from cnnlab.robust._attacks import ATTACKS
    from cnnlab.robust._evaluate import _as_tensors

    images, labels, _ = _as_tensors(data)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    dev = model_device(model)
    x, y = images.to(dev).float(), labels.to(dev)
    attack = ATTACKS.lookup(method)

    def run(m: nn.Module) -> Tensor:
        return torch.cat([attack(m, x[s: s + batch_size], y[s: s + batch_size], eps=eps, **options)
                          for s in range(0, len(y), batch_size)])

    plain_adv = run(model)
    rows = []
    for name, opts in defences:
        is_random = DEFENCES.info(name)["random"]
        seen = Defended(model, name, **opts)
        adaptive_adv = plain_adv if name == "none" else run(Defended(model, name, eot=eot if is_random else 1,
                                                                      **opts))
        rows.append(DefenceRow(name, dict(opts), _accuracy(seen, x, y, batch_size),
                               _accuracy(seen, plain_adv, y, batch_size),
                               _accuracy(seen, adaptive_adv, y, batch_size)))
    return rows
