"""Optimisers and their parameter groups, learning-rate schedules, weight initialisation and the named losses of
:class:`TrainConfig`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.train._config import TrainConfig


def lr_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The trainable parameters of ``model`` as optimiser parameter groups, one per learning-rate multiplier.

    A parameter's multiplier comes from ``config.lr_multipliers``: the value of the longest key that is its
    dotted name or a prefix of it ending at a dot (``""`` matches every parameter), else 1.0. Each group is
    ``{"params": [...], "lr": config.lr * multiplier}``; groups come in the order of their first parameter, and
    parameters with ``requires_grad=False`` are left out. With ``config.no_decay_bias_norm`` biases and other
    1-d parameters (batch-norm scales) get a group of their own with ``"weight_decay": 0.0`` (Goyal et al. 2017),
    the others ``config.weight_decay``. Works for your own loop too: ``torch.optim.SGD(lr_groups(m, cfg))``.

    Raises:
        ValueError: a key matches no parameter of the model (a typo), or no parameter is trainable.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> [(len(g["params"]), g["lr"]) for g in lr_groups(net, TrainConfig(lr=0.1, lr_multipliers={"0": 0.5}))]
        [(2, 0.05), (2, 0.1)]
    """
    mult = config.lr_multipliers
    named = list(model.named_parameters())
    for key in mult:
        if key and not any(n == key or n.startswith(key + ".") for n, _ in named):
            raise ValueError(f"lr_multipliers key {key!r} matches no parameter of the model "
                             f"(top-level modules: {', '.join(dict.fromkeys(n.split('.')[0] for n, _ in named))})")
    groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, p in named:
        if not p.requires_grad:
            continue
        keys = [k for k in mult if k == "" or name == k or name.startswith(k + ".")]
        m = float(mult[max(keys, key=len)]) if keys else 1.0
        groups.setdefault((m, config.no_decay_bias_norm and p.dim() <= 1), []).append(p)
    if not groups:
        raise ValueError("nothing to train: every parameter of the model has requires_grad=False")
    out = []
    for (m, no_decay), params in groups.items():
        g: dict[str, Any] = {"params": params, "lr": config.lr * m}
        if config.no_decay_bias_norm:
            g["weight_decay"] = 0.0 if no_decay else config.weight_decay
        out.append(g)
    return out


def build_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named in ``config``.

    SGD with (Nesterov) momentum, RMSProp (Hinton 2012), Adagrad (Duchi et al. 2011), Adam (Kingma & Ba
    2015), AdamW (Loshchilov & Hutter 2019), Adadelta (Zeiler 2012).

    Args:
        params: a model (its trainable parameters in the groups of ``config.lr_multipliers``,
            :func:`lr_groups`), or parameters / parameter groups as torch optimisers take them (then
            ``lr_multipliers`` must be empty: the groups need the parameters' names).
        config: the :class:`TrainConfig`.
    """
    if isinstance(params, nn.Module):
        params = lr_groups(params, config)
    elif config.lr_multipliers:
        raise ValueError("lr_multipliers need parameter names: pass the model to build_optimizer, not its "
                         "parameters")
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
    """A per-step ``LambdaLR`` following :func:`lr_factor`; its state is just the step count. Every parameter
    group's rate is its own initial rate (``lr`` times its multiplier) times the same factor."""
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


def resolve_loss(name: str, label_smoothing: float = 0.0,
                 class_counts: Sequence[int] | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss named in a config, ``loss(logits, targets) -> scalar``. ``"ce"``: cross-entropy with label
    smoothing. Other names come from the ``cnnlab.losses`` registry (``focal``, ``balanced_ce``,
    ``class_balanced_focal``, ...); ``class_counts`` (training images per class) fills the class-balanced ones."""
    if name == "ce":
        def ce(logits: Tensor, targets: Tensor) -> Tensor:
            return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)

        return ce
    from cnnlab import losses

    if name not in losses.LOSSES:
        losses.LOSSES.lookup(name)  # "unknown loss ... did you mean"
    if label_smoothing:
        raise ValueError(f"label_smoothing applies to the 'ce' loss only, got loss {name!r}")
    return losses.resolve(name, class_counts=class_counts)
