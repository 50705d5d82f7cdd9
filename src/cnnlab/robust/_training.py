"""Adversarial training for the training engine: a ``perturb`` callable for ``cnnlab.train.fit`` and a
detector of catastrophic overfitting.

``cnnlab.train.fit(model, train, val, config, perturb=adversarial_perturb("pgd", eps=0.1))`` replaces every
training batch by its adversarial twin: PGD with random start (Madry et al. 2018) or one FGSM step from a
random start with step 1.25 eps ("Fast is better than free", Wong et al. 2020). FGSM training can collapse
("catastrophic overfitting"): accuracy under PGD falls to near zero within an epoch while accuracy under
FGSM rises; :func:`detect_catastrophic_overfitting` finds that epoch in per-epoch evaluations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab.robust._attacks import pgd


@dataclass
class AdversarialPerturb:
    """``perturb(model, images, labels) -> images`` for ``cnnlab.train.fit``.

    Attributes:
        method: ``"pgd"`` (Madry) or ``"fgsm"`` (FGSM with random start, Wong et al. 2020).
        eps: L-inf radius on [0, 1] pixels.
        alpha: step size (default: PGD ``2.5 * eps / steps``; FGSM ``1.25 * eps``).
        steps: PGD steps (ignored by FGSM).
        eval_mode: attack in eval mode; default ``False``, the model's own (train) mode, as both papers do.
    """

    method: str = "pgd"
    eps: float = 0.1
    alpha: float | None = None
    steps: int = 7
    eval_mode: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("pgd", "fgsm"):
            raise ValueError(f"method must be 'pgd' or 'fgsm', got {self.method!r}")
        if not 0 <= self.eps <= 1:
            raise ValueError(f"eps must be in [0, 1], got {self.eps}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        if self.method == "fgsm":
            alpha = 1.25 * self.eps if self.alpha is None else self.alpha
            return pgd(model, images, labels, eps=self.eps, alpha=alpha, steps=1, random_start=True,
                       eval_mode=self.eval_mode)
        return pgd(model, images, labels, eps=self.eps, alpha=self.alpha, steps=self.steps, random_start=True,
                   eval_mode=self.eval_mode)


def adversarial_perturb(method: str = "pgd", *, eps: float = 0.1, alpha: float | None = None, steps: int = 7,
                        eval_mode: bool = False) -> AdversarialPerturb:
    """The ``perturb`` argument of ``cnnlab.train.fit`` for adversarial training.

    Example:
        >>> p = adversarial_perturb("fgsm", eps=0.1)
        >>> p
        AdversarialPerturb(method='fgsm', eps=0.1, alpha=None, steps=7, eval_mode=False)
    """
    return AdversarialPerturb(method, eps, alpha, steps, eval_mode)


@torch.no_grad()
def _acc(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def robust_accuracies(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float = 0.1,
                      pgd_steps: int = 10) -> dict[str, float]:
    """Clean, FGSM and PGD accuracy on one batch: the per-epoch probe for catastrophic overfitting.

    The model is attacked and classified in eval mode; its modes are restored.
    """
    from cnnlab.robust._attacks import attack_mode, fgsm

    adv_f = fgsm(model, images, labels, eps=eps)
    adv_p = pgd(model, images, labels, eps=eps, steps=pgd_steps)
    with attack_mode(model):
        return {"clean": _acc(model, images, labels), "fgsm": _acc(model, adv_f, labels),
                "pgd": _acc(model, adv_p, labels)}


def detect_catastrophic_overfitting(fgsm_accuracy: Sequence[float], pgd_accuracy: Sequence[float], *,
                                    drop: float = 0.2) -> int | None:
    """The first epoch where PGD accuracy has collapsed while FGSM accuracy held or rose, else ``None``.

    An epoch ``e`` counts when PGD accuracy fell by at least ``drop`` below its best so far, FGSM accuracy
    did not fall since the previous epoch, and FGSM accuracy exceeds PGD accuracy by at least ``drop`` (the
    model defends only against the single step it trains on; Wong et al. 2020, Sec. 5).

    Example:
        >>> detect_catastrophic_overfitting([0.5, 0.6, 0.9], [0.4, 0.45, 0.0])
        2
        >>> detect_catastrophic_overfitting([0.5, 0.6, 0.7], [0.4, 0.45, 0.5]) is None
        True
    """
    if len(fgsm_accuracy) != len(pgd_accuracy):
        raise ValueError(f"fgsm_accuracy and pgd_accuracy must have the same length, got {len(fgsm_accuracy)} "
                         f"and {len(pgd_accuracy)}")
    if not 0 < drop < 1:
        raise ValueError(f"drop must be in (0, 1), got {drop}")
    best = -1.0
    for e, (f, p) in enumerate(zip(fgsm_accuracy, pgd_accuracy)):
        if e > 0 and p <= best - drop and f >= fgsm_accuracy[e - 1] and f - p >= drop:
            return e
        best = max(best, p)
    return None
