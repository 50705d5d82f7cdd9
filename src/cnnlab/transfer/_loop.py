"""A small training loop for transfer and loss experiments: batches indexed from tensors on the device,
parameter groups, a cosine schedule, an evaluation after every epoch.

It exists so that transfer learning does not wait for the training engine; it takes what the engine does
not (optimizer parameter groups with a smaller backbone learning rate, an evaluation set scored every epoch
for epochs-to-accuracy).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.data import ImageTensors


def _float_batch(images: Tensor, device: str | torch.device) -> Tensor:
    x = images.to(device, non_blocking=True)
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageTensors, *, batch_size: int = 256,
                      device: str | torch.device = "cpu") -> dict[str, Any]:
    """Accuracy, per-class recall and balanced accuracy (mean recall over the classes present) of ``model``
    on ``data``; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        preds = torch.cat([model(_float_batch(x, device)).argmax(1).cpu() for x in data.images.split(batch_size)])
    finally:
        model.train(was_training)
    y = data.labels.cpu()
    k = max(len(data.classes), int(y.max()) + 1 if len(y) else 0)
    correct = torch.zeros(k).index_add_(0, y, (preds == y).float())
    count = torch.bincount(y, minlength=k).float()
    recall = torch.where(count > 0, correct / count.clamp_min(1), torch.full_like(count, float("nan")))
    present = count > 0
    return {"accuracy": float((preds == y).float().mean()) if len(y) else float("nan"),
            "per_class_recall": recall.tolist(),
            "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan")}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: Tensor, *, batch_size: int = 128,
                   device: str | torch.device = "cpu") -> int:
    """Recompute the running statistics of every batch-norm layer that is in use (not frozen) as the plain
    average over ``images`` ("precise BN"); returns how many layers were recalibrated.

    After a short fine-tuning run the running statistics lag far behind the batch statistics the weights were
    trained with (EfficientNet's momentum is 0.01, TensorFlow's 0.99 decay), and the network is wrong in eval
    mode. The model's mode and each layer's momentum are restored.
    """
    from cnnlab.transfer._model import FrozenStatsBatchNorm2d

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and not isinstance(m, FrozenStatsBatchNorm2d) and m.track_running_stats]
    if not bns:
        return 0
    was_training, momenta = model.training, [m.momentum for m in bns]
    try:
        model.train()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: the plain mean over the batches
        for chunk in images.split(batch_size):
            model(_float_batch(chunk, device))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return len(bns)


def train_classifier(model: nn.Module, train: ImageTensors, *, epochs: int, groups: list[dict[str, Any]],
                     optimizer: str = "adamw", batch_size: int = 64,
                     loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None, eval_data: ImageTensors | None = None,
                     device: str | torch.device = "cpu", seed: int = 0, hflip: bool = False,
                     warmup_steps: int = 0, bn_recalibrate: int = 512) -> list[dict[str, Any]]:
    """Train ``model`` in place; one row per epoch (epoch, train_loss, train_acc, eval_acc, lr, seconds).

    Args:
        groups: optimizer parameter groups (``cnnlab.transfer.param_groups``); each group's ``lr`` is its
            peak, decayed by a cosine schedule over all steps after ``warmup_steps`` linear warm-up steps.
        optimizer: ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov).
        loss_fn: ``loss(logits, targets)``, default cross-entropy.
        eval_data: scored after every epoch (``eval_acc``; also ``eval_balanced_acc``).
        hflip: random horizontal flips.
        bn_recalibrate: before every evaluation (and at the end) recompute the batch-norm running statistics
            on this many training images (:func:`recalibrate_bn`); 0 keeps the running averages.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("nothing to train: every parameter is frozen")
    peak = [g["lr"] for g in groups]
    if optimizer == "adamw":
        opt = torch.optim.AdamW(groups)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(groups, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {optimizer!r}")
    loss_fn = loss_fn or F.cross_entropy
    n = len(train)
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    total = epochs * steps_per_epoch
    images, labels = train.images.to(device), train.labels.to(device)
    gen = torch.Generator().manual_seed(seed)
    rows, step = [], 0
    model.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            x, y = _float_batch(images[idx], device), labels[idx]
            if hflip:
                flip = torch.rand(len(idx), generator=gen).to(device) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            scale = (step + 1) / warmup_steps if step < warmup_steps else \
                0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total - warmup_steps)))
            for g, p in zip(opt.param_groups, peak):
                g["lr"] = p * scale
            logits = model(x)
            loss = loss_fn(logits, y)
            if not torch.isfinite(loss):
                raise ValueError(f"loss became {loss.item()} at epoch {epoch}, step {i}; lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        row: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / n,
                               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        if bn_recalibrate and (eval_data is not None or epoch == epochs):
            recalibrate_bn(model, images[:bn_recalibrate], device=device)
        if eval_data is not None:
            ev = evaluate_accuracy(model, eval_data, device=device)
            row["eval_acc"], row["eval_balanced_acc"] = ev["accuracy"], ev["balanced_accuracy"]
        rows.append(row)
    return rows
