"""The training configuration: one JSON-serialisable dataclass, saved in every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cnnlab._checks import check_choice, check_int, check_number

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adamw", "adadelta")
SCHEDULES = ("none", "step", "cosine", "onecycle")
INITS = ("default", "xavier", "kaiming")
AMP_DTYPES = ("bfloat16", "float16")


@dataclass
class TrainConfig:
    """How to train. Every field is a plain JSON value, so the config is saved in checkpoints and restored.

    Attributes:
        epochs: passes over the training data.
        batch_size: images per optimiser step (the *global* batch under DDP, split evenly over the ranks).
        optimizer: ``"sgd"`` (momentum, Nesterov), ``"rmsprop"``, ``"adagrad"``, ``"adam"``, ``"adamw"``,
            ``"adadelta"``.
        lr: learning rate (the peak rate of the one-cycle schedule).
        lr_multipliers: optimiser parameter groups: ``{module-name prefix: multiplier of lr}``, e.g.
            ``{"features": 0.1}`` (a pretrained backbone learning at a tenth of the new head's rate). A parameter
            takes the multiplier of the longest key that is its dotted name or a prefix of it ending at a dot
            (``"features"`` matches ``features.0.weight``, not ``features2.weight``; ``""`` matches every
            parameter); 1.0 when no key matches. Every schedule scales each group's rate by the same factor.
        momentum: SGD / RMSProp momentum.
        nesterov: Nesterov momentum for SGD.
        weight_decay: L2 penalty (decoupled for AdamW).
        no_decay_bias_norm: no weight decay on biases and 1-d (normalisation) parameters.
        betas: Adam / AdamW moment decays.
        schedule: ``"none"``, ``"step"`` (times ``step_gamma`` every ``step_epochs`` epochs), ``"cosine"``
            (to 0 over the run) or ``"onecycle"`` (warm-up over ``warmup_fraction`` of the steps, then cosine down;
            Smith & Topin 2017). All schedules advance per optimiser step.
        step_epochs: the ``"step"`` schedule's period in epochs.
        step_gamma: the ``"step"`` schedule's factor per period.
        warmup_fraction: the share of all steps the ``"onecycle"`` schedule warms up over.
        label_smoothing: cross-entropy label smoothing (Szegedy et al. 2016).
        loss: loss name, ``"ce"`` (cross-entropy); ``fit(loss_fn=...)`` overrides it.
        crop_padding: random crop with this much zero padding (0 = off).
        hflip: random horizontal flips.
        pca_noise: std of AlexNet's PCA colour noise (Krizhevsky et al. 2012 use 0.1; RGB only; 0 = off).
        init: ``"default"`` (the model's own), ``"xavier"`` (Glorot & Bengio 2010) or ``"kaiming"`` (He et al.
            2015) for conv and linear weights, biases zeroed.
        val_fraction: held out of the training data for validation when ``fit`` gets no ``val_data``.
        patience: stop after this many epochs without a lower validation loss (0 = never stop early).
        seed: seeds weights init, data order, augmentation and the global RNG.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        amp: autocast with ``amp_dtype`` (float16 adds a gradient scaler); on the CPU bfloat16 only: with AMX it
            speeds up dense convolutions several times and slows depthwise ones; measure before relying on it.
            Refused (``ValueError`` when training starts) on a CPU that only emulates bfloat16 (AVX2: up to 170x
            slower than float32).
        amp_dtype: ``"bfloat16"`` or ``"float16"`` (CUDA only).
        compile: ``torch.compile`` the training step's model.
        channels_last: channels-last memory format for the model and batches.
        out_dir: where checkpoints, ``metrics.csv`` and TensorBoard logs go (``None``: nothing is written).
        checkpoint_every: also checkpoint every this many steps inside an epoch (0 = at epoch ends only).
        keep_checkpoints: how many training-state checkpoints to keep.
        restore_best: load the best-validation weights into the model when training ends.
        num_threads: CPU threads for the run (0 = torch's default); restored afterwards.
        eval_batch_size: batch size of validation passes.
        progress: show a progress bar on stderr (only when it is a terminal).
        tensorboard: write TensorBoard logs when ``tensorboard`` is installed and ``out_dir`` is set.
        max_steps: stop after this many optimiser steps in total (0 = no limit); for tests and smoke runs.
        bn_recalibrate: at the end of every epoch, before validation, recompute the running statistics of the
            batch-norm layers in use as the plain mean over the first this many training images ("precise BN",
            :func:`cnnlab.train.recalibrate_bn`; 0 = off). For short fine-tuning runs of networks with a slow
            BN momentum, whose running statistics still describe the source data.

    Only parameters with ``requires_grad=True`` are given to the optimiser. Named presets are recipes:
    :func:`cnnlab.train.recipe`.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    lr_multipliers: dict[str, float] = field(default_factory=dict)
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    no_decay_bias_norm: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "onecycle"
    step_epochs: int = 1
    step_gamma: float = 0.7
    warmup_fraction: float = 0.25
    label_smoothing: float = 0.0
    loss: str = "ce"
    crop_padding: int = 0
    hflip: bool = False
    pca_noise: float = 0.0
    init: str = "default"
    val_fraction: float = 0.0
    patience: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    amp_dtype: str = "bfloat16"
    compile: bool = False
    channels_last: bool = False
    out_dir: str | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    restore_best: bool = False
    num_threads: int = 0
    eval_batch_size: int = 1024
    progress: bool = True
    tensorboard: bool = True
    max_steps: int = 0
    bn_recalibrate: int = 0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if self.out_dir is not None:
            self.out_dir = str(self.out_dir)
        if isinstance(self.lr_multipliers, dict):
            self.lr_multipliers = dict(self.lr_multipliers)  # a copy: replace() must not share it
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("epochs", "batch_size", "eval_batch_size", "keep_checkpoints"):
            v = getattr(self, name)
            check_int(name, v)
        for name in ("patience", "checkpoint_every", "num_threads", "max_steps", "step_epochs", "crop_padding",
                     "bn_recalibrate"):
            v = getattr(self, name)
            check_int(name, v, 0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("init", self.init, INITS)
        check_choice("amp_dtype", self.amp_dtype, AMP_DTYPES)
        check_number("lr", self.lr, minimum=0, open_min=True)
        if not isinstance(self.lr_multipliers, dict):
            raise ValueError(f"lr_multipliers must be a dict of module-name prefix -> number, "
                             f"got {self.lr_multipliers!r}")
        for k, v in self.lr_multipliers.items():
            if not isinstance(k, str):
                raise ValueError(f"lr_multipliers keys must be module-name prefixes (strings), got {k!r}")
            check_number(f"lr_multipliers[{k!r}]", v, minimum=0)
        for name, lo, hi in (("label_smoothing", 0, 1), ("val_fraction", 0, 0.9), ("warmup_fraction", 0, 1),
                             ("step_gamma", 0, 1)):
            check_number(name, getattr(self, name), minimum=lo, maximum=hi)
        check_number("momentum", self.momentum, minimum=0, maximum=1, open_max=True)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_number("pca_noise", self.pca_noise, minimum=0)
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer='sgd' with momentum > 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not isinstance(self.loss, str) or not self.loss:
            raise ValueError(f"loss must be a name, got {self.loss!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"device must be a string, got {self.device!r}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainConfig:
        """A config from :meth:`to_json`'s dict; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


# Fields that say how a run is carried out, not what it computes: a resumed run may change them.
OPERATIONAL_FIELDS = frozenset({"device", "compile", "out_dir", "checkpoint_every", "keep_checkpoints", "num_threads",
                                "eval_batch_size", "progress", "tensorboard"})
# Schedules whose rate at a step does not depend on the run's length: a resumed run may add epochs to them.
LENGTH_FREE_SCHEDULES = ("none", "step")


def check_resume(saved: TrainConfig, config: TrainConfig, *, epochs_done: int, where: str = "the run") -> None:
    """Raise ``ValueError`` when ``config`` cannot continue a run saved with ``saved`` after ``epochs_done``
    epochs, naming every conflicting field.

    A resumed run keeps what it computes: every field except the operational ones (:data:`OPERATIONAL_FIELDS`:
    device, threads, checkpointing, progress, ...) must equal the saved value. ``epochs`` may grow (or shrink down
    to ``epochs_done``) when the schedule is ``"none"`` or ``"step"``: their rate at a step is a function of the step
    alone, so the steps already taken keep their rates and the added ones follow the same rule. ``"cosine"`` and
    ``"onecycle"`` are laid out over the run's total steps, so a new length would change the rates of the steps
    already taken: refused.
    """
    conflicts = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in OPERATIONAL_FIELDS or f.name == "epochs":
            continue
        old, new = getattr(saved, f.name), getattr(config, f.name)
        if old != new:
            conflicts.append(f"{f.name} {new!r} (the run's: {old!r})")
    if config.epochs != saved.epochs:
        if config.epochs < epochs_done:
            conflicts.append(f"epochs {config.epochs} (the run has already trained {epochs_done})")
        elif saved.schedule not in LENGTH_FREE_SCHEDULES:
            conflicts.append(f"epochs {config.epochs} (the run's: {saved.epochs}; its {saved.schedule!r} schedule is "
                             "laid out over the run's length, so only 'none' and 'step' runs can be extended)")
    if conflicts:
        raise ValueError(f"cannot resume {where} with " + ", ".join(conflicts)
                         + ": a resumed run keeps its settings (drop them, or start a new run in another out_dir)")
