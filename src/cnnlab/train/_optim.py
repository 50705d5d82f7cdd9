"""Optimisers, learning-rate schedules, weight initialisation and the named losses of :class:`TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.train._config import TrainConfig


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``config`` over ``params``.

    SGD with (Nesterov) momentum, RMSProp (Hinton 2012), Adagrad (Duchi et al. 2011), Adam (Kingma & Ba
    2015), AdamW (Loshchilov & Hutter 2019), Adadelta (Zeiler 2012).
    """
    c = config
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                               weight_decay=c.weight_decay)
    if c.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    if c.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
    if c.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=c.lr, weight_decay=c.weight_decay)
    raise AssertionError(c.optimizer)  # validated by TrainConfig


def lr_factor(config: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of ``config.lr`` before optimiser step ``step`` (0-based) of ``total_steps``.

    ``step``: ``gamma ** (epoch // step_epochs)``; ``cosine``: ``(1 + cos(pi t)) / 2``; ``onecycle``: cosine
    warm-up from ``1/25`` to 1 over ``warmup_fraction`` of the steps, then cosine annealing to ``1/25e4``
    (the schedule of ``torch.optim.lr_scheduler.OneCycleLR``, without momentum cycling).
    """
    s = config.schedule
    if s == "none":
        return 1.0
    if s == "step":
        return config.step_gamma ** ((step // max(1, steps_per_epoch)) // config.step_epochs)
    t = min(step / max(1, total_steps), 1.0)  # cosine: as CosineAnnealingLR(T_max=total_steps, eta_min=0)
    if s == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    # one-cycle, as torch.optim.lr_scheduler.OneCycleLR(pct_start=warmup_fraction, div_factor=25,
    # final_div_factor=1e4): cosine up from lr/25 to lr, then cosine down to lr/25e4
    start, end = 1 / 25, 1 / 25e4
    end1, end2 = config.warmup_fraction * total_steps - 1, total_steps - 1
    step = min(step, end2)
    if end1 > 0 and step <= end1:
        return _cos(start, 1.0, step / end1)
    return _cos(1.0, end, (step - end1) / max(1e-12, end2 - end1))


def _cos(a: float, b: float, pct: float) -> float:
    return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step ``LambdaLR`` following :func:`lr_factor`; its state is just the step count."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(config, step, total_steps, steps_per_epoch))


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str) -> None:
    """Re-initialise conv and linear weights in place: ``"xavier"`` (Glorot uniform), ``"kaiming"`` (He normal,
    fan-in, ReLU gain); biases are zeroed. ``"default"`` leaves the model untouched."""
    if scheme == "default":
        return
    if scheme not in ("xavier", "kaiming"):
        raise ValueError(f"init must be default, xavier or kaiming; got {scheme!r}")
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


LOSS_NAMES = ("ce",)


def resolve_loss(name: str, label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss named in a config, ``loss(logits, targets) -> scalar``. ``"ce"``: cross-entropy with label
    smoothing. Other names are looked up in ``cnnlab.losses`` when that package provides a ``get``."""
    if name == "ce":
        def ce(logits: Tensor, targets: Tensor) -> Tensor:
            return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)

        return ce
    try:  # the losses capability, when installed, names more losses
        from cnnlab import losses as _losses  # type: ignore[attr-defined]
    except ImportError:
        _losses = None
    getter = getattr(_losses, "get", None)
    if getter is not None:
        return getter(name)
    raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSS_NAMES)} (or pass loss_fn=...)")
