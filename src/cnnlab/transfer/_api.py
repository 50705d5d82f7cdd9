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

from cnnlab.data import ImageTensors, stratified_subset
from cnnlab.train import TrainConfig, evaluate, fit
from cnnlab.train._config import OPTIMIZERS
from cnnlab.transfer._model import freeze, head_name, parse_mode, transfer_model
from cnnlab.transfer._probe import extract_features, fit_logistic_regression, set_head


@dataclass
class TransferConfig:
    """Settings of :func:`transfer` (JSON-serialisable; saved in the checkpoint).

    Attributes:
        mode: ``"linear"`` (linear probe on cached features), ``"freeze:N"`` (stem and first N blocks
            frozen, with their batch-norm statistics) or ``"finetune"`` (everything learns).
        resize: side the network sees (the input adapter upsamples to it); ``None`` keeps the data's size.
        epochs, batch_size, lr, weight_decay, optimizer: training by :func:`cnnlab.train.fit` (not used by
            the linear probe); ``lr`` is the classifier's peak rate with a cosine decay; ``optimizer`` is a
            ``TrainConfig`` optimiser name (``"sgd"`` with Nesterov momentum 0.9).
        backbone_lr_mult: the backbone learns at ``lr * backbone_lr_mult`` (fine-tuning with a smaller
            learning rate for the pretrained layers; ``TrainConfig.lr_multipliers``).
        warmup_steps: > 0 trains with the one-cycle schedule instead, warming up over this many steps (cosine,
            from ``lr / 25``), then annealing; 0 is the plain cosine decay from ``lr``.
        freeze_bn: freeze every batch-norm layer's statistics (use the source's running statistics).
        l2: the linear probe's L2 penalty on standardised features.
        loss: a ``cnnlab.losses`` name.
        subset: train on this many images (stratified, seeded); ``None`` = all.
        hflip: random horizontal flips.
        bn_recalibrate: after every epoch, before the evaluation, recompute the batch-norm running statistics on
            up to this many training images (``TrainConfig.bn_recalibrate``, :func:`cnnlab.train.recalibrate_bn`;
            0 = off).
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
    bn_recalibrate: int = 512

    def __post_init__(self) -> None:
        parse_mode(self.mode)
        if self.resize is not None and (isinstance(self.resize, bool) or int(self.resize) < 8):
            raise ValueError(f"resize must be at least 8 pixels or None, got {self.resize!r}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not self.backbone_lr_mult >= 0:
            raise ValueError(f"backbone_lr_mult must be >= 0, got {self.backbone_lr_mult}")
        if self.bn_recalibrate < 0:
            raise ValueError(f"bn_recalibrate must be >= 0, got {self.bn_recalibrate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
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


def train_config(cfg: TransferConfig, model: nn.Module, train_images: int) -> TrainConfig:
    """The :class:`cnnlab.train.TrainConfig` that :func:`transfer` trains ``model`` with (modes ``freeze:N`` and
    ``finetune``): ``cfg``'s optimiser, rates and seed; the classifier at ``lr`` and everything else at
    ``lr * backbone_lr_mult`` (``lr_multipliers``); a cosine schedule (one-cycle with ``warmup_steps``);
    batch-norm recalibration before every evaluation; nothing written to disk."""
    steps = cfg.epochs * max(1, train_images // cfg.batch_size)  # as fit counts them
    return TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer, lr=cfg.lr,
        lr_multipliers={"": cfg.backbone_lr_mult, head_name(model): 1.0}, momentum=0.9,
        nesterov=cfg.optimizer == "sgd", weight_decay=cfg.weight_decay,
        schedule="onecycle" if cfg.warmup_steps else "cosine", warmup_fraction=min(1.0, cfg.warmup_steps / steps),
        loss=cfg.loss, hflip=cfg.hflip, seed=cfg.seed, device=cfg.device, bn_recalibrate=cfg.bn_recalibrate,
        eval_batch_size=256, out_dir=None, tensorboard=False)


def transfer(source: str | os.PathLike | nn.Module, train: ImageTensors, *,
             config: TransferConfig | None = None, eval_data: ImageTensors | None = None,
             out_dir: str | os.PathLike | None = None) -> TransferResult:
    """Transfer ``source`` to the task of ``train``: new classifier, input adapter, freezing, training.

    Args:
        source: registry name (``"efficientnet_lite0"``: the ImageNet weights), checkpoint directory or model.
        train: the labelled target data (``ImageTensors``).
        config: :class:`TransferConfig` (mode, resize, epochs, learning rates, ...).
        eval_data: scored after every epoch (``history[i]["eval_acc"]``; ``"eval_loss"``: cross-entropy).
        out_dir: when given, the model is saved there as a checkpoint (card with the input adapter, the
            config and the history in ``extra``); ``models.load_checkpoint(out_dir)`` rebuilds it.

    Returns:
        :class:`TransferResult`; its ``history`` has one dict per epoch (``epoch``, ``train_loss``, ``train_acc``,
        ``lr``, ``seconds``, and with ``eval_data`` ``eval_loss``, ``eval_acc``).

    ``freeze:N`` and ``finetune`` train with :func:`cnnlab.train.fit` and :func:`train_config`.

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
        row: dict[str, Any] = {"epoch": 1, "train_acc": evaluate(model, data, batch_size=256).accuracy,
                               "seconds": time.perf_counter() - t0}
        if eval_data is not None:
            row["eval_acc"] = evaluate(model, eval_data, batch_size=256).accuracy
        history = [row]
        extra["feature_dim"] = int(feats.shape[1])
    else:
        from cnnlab.losses import resolve

        tc = train_config(cfg, model, len(data))
        loss_fn = resolve(cfg.loss, class_counts=torch.bincount(data.labels, minlength=len(train.classes)).tolist())
        hist = fit(model, data, eval_data, tc, loss_fn=loss_fn)
        history = [{"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "lr": r.lr,
                    "seconds": r.seconds, **({} if r.val_acc is None else {"eval_loss": r.val_loss,
                                                                            "eval_acc": r.val_acc})}
                   for r in hist.rows]
        extra["train"] = tc.to_json()  # the TrainConfig used
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
            "history": history, **({"train": extra["train"]} if "train" in extra else {})})
    return result
