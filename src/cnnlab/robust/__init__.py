"""Robustness: adversarial attacks (FGSM, PGD, one-pixel), their evaluation, input defences, adversarial
training and invariance / equivariance probes.

Example:
    >>> import torch
    >>> from cnnlab import models, robust
    >>> net = models.create("lenet5").eval()
    >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    >>> adv = robust.pgd(net, x, y, eps=0.1, steps=5)
    >>> bool((adv - x).abs().max() <= 0.1 + 1e-6)
    True
"""

from cnnlab.robust._attacks import (
    ATTACKS,
    AttackResult,
    attack_mode,
    fgsm,
    get,
    names,
    perturbation_norms,
    pgd,
    register_attack,
    run_attack,
)
from cnnlab.robust._onepixel import SU_SETTINGS, onepixel

__all__ = [
    "ATTACKS",
    "AttackResult",
    "SU_SETTINGS",
    "attack_mode",
    "fgsm",
    "get",
    "names",
    "onepixel",
    "perturbation_norms",
    "pgd",
    "register_attack",
    "run_attack",
]
