"""``transfer()``: one call from a source network and a labelled dataset to a trained, saved transfer model."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import ImageTensors
from cnnlab.transfer._loop import evaluate_accuracy, train_classifier
from cnnlab.transfer._model import freeze, param_groups, parse_mode, transfer_model
from cnnlab.transfer._probe import extract_features, fit_logistic_regression, set_head


@dataclass
class TransferConfig:
    """Settings of :func:`transfer` (JSON-serialisable; saved in the checkpoint).

    Attributes:
        mode: ``"linear"`` (linear probe on cached features), ``"freeze:N"`` (stem and first N blocks
            frozen, with their batch-norm statistics) or ``"finetune"`` (everything learns).
        resize: side the network sees (the input adapter upsamples to it); ``None`` keeps the data's size.
        epochs, batch_size, lr, weight_decay, optimizer: training (not used by the linear probe);
            ``lr`` is the classifier's peak rate with a cosine decay.
        backbone_lr_mult: the backbone learns at ``lr * backbone_lr_mult`` (fine-tuning with a smaller
            learning rate for the pretrained layers).
        freeze_bn: freeze every batch-norm layer's statistics (use the source's running statistics).
        l2: the linear probe's L2 penalty on standardised features.
        loss: a ``cnnlab.losses`` name.
        subset: train on this many images (stratified, seeded); ``None`` = all.
    """

    mode: str = "finetune"
    resize: int | None = 64
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    backbone_lr_mult: float = 0.1
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    warmup_steps: int = 0
    freeze_bn: bool = False
    l2: float = 1e-3
    loss: str = "ce"
    subset: int | None = None
    seed: int = 0
    device: str = "cpu"
    hflip: bool = False

    def __post_init__(self) -> None:
        parse_mode(self.mode)
        if self.resize is not None and (isinstance(self.resize, bool) or int(self.resize) < 8):
            raise ValueError(f"resize must be at least 8 pixels or None, got {self.resize!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.subset is not None and self.subset < 1:
            raise ValueError(f"subset must be a positive number of images, got {self.subset}")


@dataclass
class TransferResult:
    """What :func:`transfer` did: the model, its per-epoch history, accuracy on the evaluation data, counts."""

    model: nn.Module
    config: TransferConfig
    history: list[dict[str, Any]]
    eval_accuracy: float | None
    trainable_params: int
    frozen_params: int
    train_images: int
    seconds: float
    checkpoint: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def stratified_subset(data: ImageTensors, n: int, *, seed: int = 0) -> ImageTensors:
    """``n`` samples with the class proportions of ``data`` (every class at least once when ``n`` allows),
    chosen with a seeded generator."""
    if n >= len(data):
        return data
    if n < 1:
        raise ValueError(f"subset size must be positive, got {n}")
    g = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()
    classes = labels.unique()
    per = {int(c): (labels == c).nonzero().flatten() for c in classes}
    quota = {c: max(1, round(n * len(ix) / len(labels))) for c, ix in per.items()}
    while sum(quota.values()) > n:  # rounding overshoot: take from the largest quotas
        quota[max(quota, key=quota.get)] -= 1
    while sum(quota.values()) < n:
        quota[max(per, key=lambda c: len(per[c]) - quota[c])] += 1
    picked = [ix[torch.randperm(len(ix), generator=g)[:quota[c]]] for c, ix in per.items()]
    idx = torch.cat(picked)
    return data.subset(idx[torch.randperm(len(idx), generator=g)])


def transfer(source: str | os.PathLike | nn.Module, train: ImageTensors, *,
             config: TransferConfig | None = None, eval_data: ImageTensors | None = None,
             out_dir: str | os.PathLike | None = None) -> TransferResult:
    """Transfer ``source`` to the task of ``train``: new classifier, input adapter, freezing, training.

    Args:
        source: registry name (``"efficientnet_lite0"``: the ImageNet weights), checkpoint directory or model.
        train: the labelled target data (``ImageTensors``).
        config: :class:`TransferConfig` (mode, resize, epochs, learning rates, ...).
        eval_data: scored after every epoch (``history[i]["eval_acc"]``) and at the end.
        out_dir: when given, the model is saved there as a checkpoint (card with the input adapter, the
            config and the history in ``extra``); ``models.load_checkpoint(out_dir)`` rebuilds it.

    Returns:
        :class:`TransferResult`.

    Example:
        >>> from cnnlab import data
        >>> r = transfer("efficientnet_lite0", data.digits("train"),
        ...              config=TransferConfig(mode="linear", resize=64), eval_data=data.digits("test"))
        >>> r.eval_accuracy > 0.8  # doctest: +SKIP
        True
    """
    cfg = config or TransferConfig()
    if not isinstance(train, ImageTensors):
        raise TypeError(f"train must be ImageTensors, got {type(train).__name__}")
    kind, _ = parse_mode(cfg.mode)
    data = stratified_subset(train, cfg.subset, seed=cfg.seed) if cfg.subset else train
    c, h, w = data.image_shape
    t0 = time.perf_counter()
    model = transfer_model(source, num_classes=len(train.classes), classes=train.classes, in_channels=c,
                           input_size=(h, w), resize=cfg.resize, seed=cfg.seed).to(cfg.device)
    counts = freeze(model, cfg.mode, bn_stats=cfg.freeze_bn)
    extra: dict[str, Any] = {}
    if kind == "linear":
        feats = extract_features(model, data, device=cfg.device)
        weight, bias = fit_logistic_regression(feats, data.labels, len(train.classes), l2=cfg.l2)
        set_head(model, weight, bias)
        row: dict[str, Any] = {"epoch": 1, "train_acc": evaluate_accuracy(model, data, device=cfg.device)["accuracy"],
                               "seconds": time.perf_counter() - t0}
        if eval_data is not None:
            row["eval_acc"] = evaluate_accuracy(model, eval_data, device=cfg.device)["accuracy"]
        history = [row]
        extra["feature_dim"] = int(feats.shape[1])
    else:
        from cnnlab.losses import resolve

        groups = param_groups(model, cfg.lr, backbone_lr_mult=cfg.backbone_lr_mult, weight_decay=cfg.weight_decay)
        loss_fn = resolve(cfg.loss, class_counts=torch.bincount(data.labels, minlength=len(train.classes)).tolist())
        history = train_classifier(model, data, epochs=cfg.epochs, groups=groups, optimizer=cfg.optimizer,
                                   batch_size=cfg.batch_size, loss_fn=loss_fn, eval_data=eval_data,
                                   device=cfg.device, seed=cfg.seed, hflip=cfg.hflip, warmup_steps=cfg.warmup_steps)
    model.eval()
    acc = history[-1].get("eval_acc") if eval_data is not None else None
    result = TransferResult(model=model, config=cfg, history=history, eval_accuracy=acc,
                            trainable_params=counts["trainable"], frozen_params=counts["frozen"],
                            train_images=len(data), seconds=time.perf_counter() - t0, extra=extra)
    if out_dir is not None:
        from cnnlab.models import save_checkpoint

        result.checkpoint = save_checkpoint(out_dir, model, extra={
            "transfer": {**getattr(model, "cnnlab_source", {}), "config": dataclasses.asdict(cfg),
                         "trainable_params": counts["trainable"], "frozen_params": counts["frozen"],
                         "train_images": len(data), "eval_accuracy": acc},
            "history": history})
    return result
