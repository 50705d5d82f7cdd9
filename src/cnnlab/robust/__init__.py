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
from cnnlab.robust._defences import (
    DEFAULT_DEFENCES,
    DEFENCES,
    DefenceRow,
    Defended,
    bit_depth,
    evaluate_defences,
    gaussian_noise,
    jpeg,
)
from cnnlab.robust._evaluate import AttackReport, evaluate_attack, plot_curve, robustness_curve, save_curve_csv
from cnnlab.robust._images import ImageAttack, attack_images, perturbation_image
from cnnlab.robust._invariance import (
    DEFAULT_VALUES,
    EquivarianceRow,
    InvarianceReport,
    invariance_curves,
    invariance_report,
    plot_equivariance,
    plot_invariance,
    transform_images,
    translation_equivariance,
)
from cnnlab.robust._onepixel import SU_SETTINGS, onepixel
from cnnlab.robust._training import (
    AdversarialPerturb,
    AdversarialTrainingResult,
    adversarial_perturb,
    adversarial_training,
    detect_catastrophic_overfitting,
    robust_accuracies,
)

__all__ = [
    "ATTACKS",
    "AdversarialPerturb",
    "AdversarialTrainingResult",
    "AttackReport",
    "AttackResult",
    "DEFAULT_DEFENCES",
    "DEFAULT_VALUES",
    "DEFENCES",
    "DefenceRow",
    "Defended",
    "EquivarianceRow",
    "ImageAttack",
    "InvarianceReport",
    "SU_SETTINGS",
    "adversarial_perturb",
    "adversarial_training",
    "attack_images",
    "attack_mode",
    "bit_depth",
    "detect_catastrophic_overfitting",
    "evaluate_attack",
    "evaluate_defences",
    "fgsm",
    "gaussian_noise",
    "get",
    "invariance_curves",
    "invariance_report",
    "jpeg",
    "names",
    "onepixel",
    "perturbation_image",
    "perturbation_norms",
    "pgd",
    "plot_curve",
    "plot_equivariance",
    "plot_invariance",
    "register_attack",
    "robust_accuracies",
    "robustness_curve",
    "run_attack",
    "save_curve_csv",
    "transform_images",
    "translation_equivariance",
]
