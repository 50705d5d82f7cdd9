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

from cnnlab._checks import check_choice, check_int, check_number
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
        keep_head: ``None`` (default): a source that already classifies the data's classes (a linear-probe or
            fine-tuned checkpoint, same class names in the same order) keeps its trained classifier (LP-FT, Kumar
            et al. 2022); ``False``: always a new classifier; ``True``: keep it or raise
            (:func:`cnnlab.transfer.transfer_model`). A kept classifier is trained further, not adapted, so
            (as in the Keras fine-tuning guide) training runs the network as the classifier was fitted: batch-norm
            statistics frozen and dropout off (batch statistics and dropout hand it other features than it was
            fitted on: a probe at 87.5% fell to 57% after one epoch), and every rate is scaled by
            ``kept_head_lr_scale``.
        kept_head_lr_scale: learning-rate factor when the classifier is kept (default 0.1: a backbone rate of
            1e-4 moved every weight of EfficientNet-Lite0 by Adam's ~lr-sized first steps and undid the probe;
            1e-5 kept and improved it).
        allow_random: a registry name without pretrained weights is refused (a transfer from random weights is
            training from scratch, seldom what was meant); ``True`` accepts it, for a scratch baseline.
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
    keep_head: bool | None = None
    kept_head_lr_scale: float = 0.1
    allow_random: bool = False

    def __post_init__(self) -> None:
        parse_mode(self.mode)
        if self.resize is not None:
            check_int("resize", self.resize, 8)
        for name in ("epochs", "batch_size"):
            check_int(name, getattr(self, name))
        check_number("lr", self.lr, minimum=0, open_min=True)
        check_number("backbone_lr_mult", self.backbone_lr_mult, minimum=0)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_number("l2", self.l2, minimum=0)
        check_number("kept_head_lr_scale", self.kept_head_lr_scale, minimum=0, open_min=True)
        check_int("bn_recalibrate", self.bn_recalibrate, 0)
        check_int("warmup_steps", self.warmup_steps, 0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.subset is not None:
            check_int("subset", self.subset)
        if self.keep_head not in (None, True, False):
            raise ValueError(f"keep_head must be None, True or False, got {self.keep_head!r}")


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


def _check_source(source: str | os.PathLike | nn.Module, cfg: TransferConfig) -> None:
    """A registry name without pretrained weights would silently start from random weights: refuse it unless
    ``cfg.allow_random``."""
    from cnnlab import models

    if isinstance(source, (str, os.PathLike)) and str(source) in models.MODELS and not os.path.exists(str(source)):
        have = models.info(str(source))["weights"]
        if not have and not cfg.allow_random:
            pretrained = [n for n in models.names() if models.info(n)["weights"]]
            raise ValueError(f"model {str(source)!r} has no pretrained weights in cnnlab, so a transfer from it "
                             "would start from random weights (training from scratch); use a network with "
                             f"weights ({', '.join(pretrained)}) or a checkpoint directory, or pass "
                             "allow_random=True (--allow-random) for a scratch baseline")


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
    _check_source(source, cfg)
    data = stratified_subset(train, cfg.subset, seed=cfg.seed) if cfg.subset else train
    c, h, w = data.image_shape
    t0 = time.perf_counter()
    model = transfer_model(source, num_classes=len(train.classes), classes=train.classes, in_channels=c,
                           input_size=(h, w), resize=cfg.resize, seed=cfg.seed,
                           keep_head=cfg.keep_head).to(cfg.device)
    kept = bool(model.cnnlab_source.get("kept_head"))
    # a kept classifier was fitted on features computed with the source's running BN statistics and without
    # dropout: training must hand it the same features
    counts = freeze(model, cfg.mode, bn_stats=cfg.freeze_bn or kept)
    if kept and kind != "linear":
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    extra: dict[str, Any] = {"kept_head": kept}
    if kept and kind != "linear" and eval_data is not None:  # where training starts from (epoch 0)
        extra["start_accuracy"] = evaluate(model, eval_data, batch_size=256).accuracy
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
        if kept:
            tc = tc.replace(lr=cfg.lr * cfg.kept_head_lr_scale)
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
