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

from cnnlab._checks import check_int
from cnnlab._device import model_device
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
        check_int("steps", self.steps)

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


@dataclass
class AdversarialTrainingResult:
    """:func:`adversarial_training`'s result.

    Attributes:
        history: the training engine's ``History``.
        probes: after each epoch, ``{"epoch", "clean", "fgsm", "pgd"}`` accuracies on the probe batch.
        catastrophic_epoch: the epoch (1-based) where catastrophic overfitting was detected, else ``None``.
    """

    history: object
    probes: list[dict]
    catastrophic_epoch: int | None


class _ProbingPerturb:
    # wraps a perturb; at the first batch of every epoch after the first, probes the model first
    def __init__(self, inner: AdversarialPerturb, x: Tensor, y: Tensor, steps_per_epoch: int, eps: float,
                 pgd_steps: int) -> None:
        self.inner, self.x, self.y = inner, x, y
        self.steps_per_epoch, self.eps, self.pgd_steps = steps_per_epoch, eps, pgd_steps
        self.calls, self.probes = 0, []

    def probe(self, model: nn.Module) -> None:
        dev = model_device(model)
        x, y = self.x.to(dev), self.y.to(dev)
        accs = robust_accuracies(model, x, y, eps=self.eps, pgd_steps=self.pgd_steps)
        self.probes.append({"epoch": len(self.probes) + 1, **accs})

    def __call__(self, model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
        if self.calls and self.calls % self.steps_per_epoch == 0:
            self.probe(model)
        self.calls += 1
        return self.inner(model, images, labels)


def adversarial_training(model: nn.Module, train_data, val_data=None, config=None, *, method: str = "pgd",
                         eps: float = 0.1, steps: int = 7, alpha: float | None = None, probe_size: int = 512,
                         probe_pgd_steps: int = 10, drop: float = 0.2) -> AdversarialTrainingResult:
    """Adversarially train ``model`` with ``cnnlab.train.fit`` and watch for catastrophic overfitting.

    Every training batch is replaced by its PGD (Madry et al. 2018) or FGSM-with-random-start (Wong et al.
    2020) twin. After every epoch the first ``probe_size`` validation images (training images when there is
    no validation set) are attacked with FGSM and PGD-``probe_pgd_steps`` at ``eps``;
    :func:`detect_catastrophic_overfitting` reads those accuracies.

    Args:
        model, train_data, val_data, config: as for ``cnnlab.train.fit``.
        method, eps, steps, alpha: the training attack (see :class:`AdversarialPerturb`).
        probe_size, probe_pgd_steps: the per-epoch probe.
        drop: the detector's threshold.

    The weights are trained in place; every module's mode and every parameter's ``requires_grad`` are restored
    afterwards (:func:`cnnlab.models.restoring`).
    """
    from cnnlab.robust._evaluate import _as_tensors
    from cnnlab.train import TrainConfig, fit, split_validation

    config = config if config is not None else TrainConfig()
    n_train = len(train_data)
    if val_data is None and config.val_fraction > 0:
        tr, va = split_validation(train_data, config.val_fraction, config.seed)
        n_train, probe_src = len(tr), va
    else:
        probe_src = val_data if val_data is not None else train_data
    x, y, _ = _as_tensors(probe_src)
    inner = adversarial_perturb(method, eps=eps, alpha=alpha, steps=steps)
    perturb = _ProbingPerturb(inner, x[:probe_size].float(), y[:probe_size], max(1, n_train // config.batch_size),
                              eps, probe_pgd_steps)
    from cnnlab.models import restoring

    with restoring(model):  # the engine trains in its own modes; the user's modes and flags come back after
        history = fit(model, train_data, val_data, config, perturb=perturb)
        perturb.probe(model)  # after the last epoch
    probes = perturb.probes
    co = detect_catastrophic_overfitting([p["fgsm"] for p in probes], [p["pgd"] for p in probes], drop=drop)
    return AdversarialTrainingResult(history, probes, None if co is None else co + 1)
