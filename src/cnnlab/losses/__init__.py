"""Losses on logits, numerically stable: L1, L2, MSE, cross-entropy, binary cross-entropy, alpha-balanced
cross-entropy, focal (softmax and sigmoid), class-balanced focal loss and soft Dice; one registry and :func:`resolve`,
so the training engine takes a loss by name.

Example:
    >>> import torch
    >>> from cnnlab import losses
    >>> logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    >>> loss = losses.focal_loss(logits, y, gamma=2.0)
    >>> fn = losses.resolve("class_balanced_focal", class_counts=[500] * 9 + [5], beta=0.999)
    >>> fn(logits, y).shape
    torch.Size([])
"""

from cnnlab.losses._api import LOSSES, Loss, names, register_loss, resolve
from cnnlab.losses._functional import (
    balanced_cross_entropy,
    binary_cross_entropy,
    class_balanced_focal_loss,
    class_weights,
    cross_entropy,
    dice_loss,
    focal_loss,
    l1_loss,
    l2_loss,
    mse_loss,
    sigmoid_focal_loss,
)

__all__ = [
    "LOSSES",
    "Loss",
    "balanced_cross_entropy",
    "binary_cross_entropy",
    "class_balanced_focal_loss",
    "class_weights",
    "cross_entropy",
    "dice_loss",
    "focal_loss",
    "l1_loss",
    "l2_loss",
    "mse_loss",
    "names",
    "register_loss",
    "resolve",
    "sigmoid_focal_loss",
]
