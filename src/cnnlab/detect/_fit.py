"""Training and evaluating detectors: ``fit(model, train, val, config) -> DetectHistory``, ``evaluate(model, data)``.

What ``cnnlab.train`` users have, for detectors: the optimiser, its parameter groups (the pretrained backbone at
``backbone_lr`` times the rate of the new layers) and the learning-rate schedule come from ``cnnlab.train``
(``build_optimizer``, ``build_scheduler``); a progress bar shows the named losses; ``metrics.csv`` gets one row
per epoch (every loss, validation mAP, rate, time); training states are written atomically with
``cnnlab.train.save_train_state`` (safetensors + JSON) so a run killed at any moment resumes where it stopped
(``resume=True``); early stopping watches validation mAP; the best-validation detector is kept in ``OUT/best``.

A run directory::

    OUT/detector.json, OUT/detector.safetensors    the final detector (``cnnlab detect --model OUT``)
    OUT/best/                                      the best-validation detector
    OUT/state/step-XXXXXXXX/, OUT/state/LATEST     training states (the newest is resumed)
    OUT/metrics.csv                                per-epoch losses and validation AP
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_choice, check_int, check_number
from cnnlab._device import resolve_device
from cnnlab._io import atomic_write_csv
from cnnlab.data import DetectionSet, augment_detection
from cnnlab.detect._api import Detector, load_detector, predict, save_detector
from cnnlab.detect._metrics import DetectionResult, evaluate_predictions

logger = logging.getLogger("cnnlab.detect")

MONITORS = ("map50", "map", "voc_map")


@dataclass
class DetectConfig:
    """How to train a detector; every field a JSON value (saved in each training state).

    Attributes:
        epochs, batch_size: passes over the training images; images per optimiser step.
        optimizer, lr, momentum, weight_decay, schedule, warmup_fraction: as ``cnnlab.train.TrainConfig``
            (the schedule is per step; ``onecycle`` warms up over ``warmup_fraction`` of the steps).
        backbone_lr: learning-rate multiplier of the pretrained backbone's parameters (0.1: a tenth of the rate
            of the new layers, the FPN and heads).
        grad_clip: clip the gradient norm to this (0 = off).
        hflip, scale, crop: augmentation (:func:`cnnlab.data.augment_detection`): random flips, scale jitter by a
            factor in ``scale``, and a random crop (sides 60-100%) with probability ``crop``; boxes, masks and
            proposals move with the image.
        val_fraction: held out of the training images for validation when ``fit`` gets no ``val``.
        eval_every: validate every this many epochs (and after the last).
        monitor: the validation number early stopping and ``best/`` follow: ``map50``, ``map`` or ``voc_map``.
        patience: stop after this many validations without a better ``monitor`` (0 = never).
        restore_best: load the best-validation weights into the model at the end.
        seed: data order, augmentation, RoI sampling and initialisation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        out_dir: run directory (``None``: nothing is written).
        checkpoint_every: also write a training state every this many steps (0 = at epoch ends only).
        keep_checkpoints: training states kept.
        num_threads: CPU threads (0 = torch's default), restored afterwards.
        progress: a progress bar on stderr (shown only on a terminal).
        max_steps: stop after this many optimiser steps (0 = no limit).
    """

    epochs: int = 12
    batch_size: int = 2
    optimizer: str = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    warmup_fraction: float = 0.1
    backbone_lr: float = 0.1
    grad_clip: float = 10.0
    hflip: bool = True
    scale: tuple[float, float] = (0.8, 1.2)
    crop: float = 0.3
    val_fraction: float = 0.0
    eval_every: int = 1
    monitor: str = "map50"
    patience: int = 0
    restore_best: bool = True
    seed: int = 0
    device: str = "auto"
    out_dir: str | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    num_threads: int = 0
    progress: bool = True
    max_steps: int = 0

    def __post_init__(self) -> None:
        self.scale = tuple(float(s) for s in self.scale)  # type: ignore[assignment]
        if self.out_dir is not None:
            self.out_dir = str(self.out_dir)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("epochs", "batch_size", "eval_every", "keep_checkpoints"):
            check_int(name, getattr(self, name))
        for name in ("patience", "checkpoint_every", "num_threads", "max_steps"):
            check_int(name, getattr(self, name), 0)
        check_choice("monitor", self.monitor, MONITORS)
        check_number("backbone_lr", self.backbone_lr, minimum=0)
        check_number("grad_clip", self.grad_clip, minimum=0)
        check_number("crop", self.crop, minimum=0, maximum=1)
        check_number("val_fraction", self.val_fraction, minimum=0, maximum=0.9)
        if len(self.scale) != 2 or not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be two factors 0 < lo <= hi, got {self.scale!r}")
        self.optim_config()  # optimizer, lr, momentum, weight decay, schedule: TrainConfig's checks

    def optim_config(self, backbone_prefix: str | None = None):
        """The ``cnnlab.train.TrainConfig`` of the optimiser and schedule (parameter groups: the backbone at
        ``backbone_lr``)."""
        from cnnlab.train import TrainConfig

        mult = {backbone_prefix: self.backbone_lr} if backbone_prefix and self.backbone_lr != 1 else {}
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
                           momentum=self.momentum, weight_decay=self.weight_decay, schedule=self.schedule,
                           warmup_fraction=self.warmup_fraction, lr_multipliers=mult, seed=self.seed,
                           device=self.device, progress=False, tensorboard=False)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["scale"] = list(self.scale)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DetectConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> DetectConfig:
        return dataclasses.replace(self, **changes)


@dataclass
class DetectHistory:
    """What :func:`fit` did: one row per epoch (``epoch``, ``loss``, every ``loss_*``, ``val_map``, ``val_map50``,
    ``val_voc_map`` when validated, ``lr``, ``seconds``, ``images_per_s``), the best validation, where the
    detectors are, and the training time."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    monitor: str = "map50"
    stopped_early: bool = False
    steps: int = 0
    seconds: float = 0.0
    checkpoint_dir: str | None = None
    best_dir: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: nn.Module, data: DetectionSet, *, batch_size: int = 2, limit: int | None = None
             ) -> DetectionResult:
    """COCO and VOC AP of ``model`` on ``data`` (:func:`evaluate_predictions` on its detections, all scores kept),
    with the inference time per image; the model's mode is restored."""
    if not isinstance(data, DetectionSet):
        raise TypeError(f"data must be a DetectionSet, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("no images to evaluate on")
    classes = getattr(model, "classes", None)
    if classes is not None and len(classes) != data.num_classes:
        raise ValueError(f"the detector has {len(classes)} classes {classes} but the data has {data.num_classes} "
                         f"{data.classes}")
    n = len(data) if limit is None else min(len(data), check_int("limit", limit))
    t0 = time.perf_counter()
    preds = predict(model, data.images[:n], score=0.0, batch_size=batch_size)
    secs = time.perf_counter() - t0
    r = evaluate_predictions(preds, data.targets[:n], classes=data.classes)
    r.seconds, r.ms_per_image = secs, 1000 * secs / n
    return r


def evaluate_run(run: str, data_spec: str, *, split: str = "test", limit: int | None = None,
                 device: str = "cpu") -> tuple[Detector, DetectionSet, DetectionResult]:
    """Load a detector run (``cnnlab train-detector --out RUN``) and evaluate it on a split of a data spec (the
    run's class list maps the data's names; a name outside it is an error)."""
    from cnnlab.data import load_detection

    model = load_detector(run, map_location=resolve_device(device))
    data = load_detection(data_spec, split, classes=model.classes, limit=limit)
    return model, data, evaluate(model, data)


# ----------------------------------------------------------------------------------------------- training


def _aug_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step) * 7919 + 17) % (2**63))


def _hold_out(data: DetectionSet, fraction: float, seed: int) -> tuple[DetectionSet, DetectionSet]:
    n_val = int(round(len(data) * fraction))
    if n_val < 1 or n_val >= len(data):
        raise ValueError(f"val_fraction={fraction} leaves no validation or no training images ({len(data)} images)")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 12345)).tolist()
    return data.subset(perm[n_val:]), data.subset(perm[:n_val])


def fit(model: Detector, train: DetectionSet, val: DetectionSet | None = None, config: DetectConfig | None = None,
        *, resume: bool = False) -> DetectHistory:
    """Train a detector (built by :func:`cnnlab.detect.create`) on ``train``.

    Args:
        model: the detector; trained in place on the config's device.
        train: training images and targets (:class:`cnnlab.data.DetectionSet`).
        val: validation images; ``None`` holds out ``config.val_fraction`` of ``train`` (or validates nothing).
        config: :class:`DetectConfig`.
        resume: continue the run in ``config.out_dir`` from its newest training state.

    Returns:
        :class:`DetectHistory`.

    Raises:
        cnnlab.train.TrainingDiverged: a loss became NaN/inf (the last good state is kept).
    """
    config = config if config is not None else DetectConfig()
    if not isinstance(config, DetectConfig):
        raise TypeError(f"config must be a DetectConfig, got {type(config).__name__}")
    if not isinstance(model, Detector):
        raise TypeError(f"model must be a cnnlab Detector (detect.create), got {type(model).__name__}")
    for name, d in (("train", train), ("val", val)):
        if d is not None and not isinstance(d, DetectionSet):
            raise TypeError(f"{name} must be a DetectionSet, got {type(d).__name__}")
        if d is not None and len(d) == 0:
            raise ValueError(f"{name} has no images")
    if train.num_classes != model.num_classes:
        raise ValueError(f"the detector has {model.num_classes} classes but the training data has "
                         f"{train.num_classes} ({train.classes})")
    if resume and config.out_dir is None:
        raise ValueError("resume needs config.out_dir")
    if val is None and config.val_fraction > 0:
        train, val = _hold_out(train, config.val_fraction, config.seed)
    old = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    try:
        return _Run(model, train, val, config, resume).run()
    finally:
        torch.set_num_threads(old)


class _Run:
    """One call of :func:`fit` (a class only to share the loop's state between its parts)."""

    def __init__(self, model: Detector, train: DetectionSet, val: DetectionSet | None, c: DetectConfig,
                 resume: bool) -> None:
        from cnnlab.train import build_optimizer, build_scheduler

        self.model, self.train, self.val, self.c, self.resume = model, train, val, c, resume
        self.device = resolve_device(c.device)
        self.out = Path(c.out_dir) if c.out_dir is not None else None
        torch.manual_seed(c.seed)
        model.to(self.device)
        self.steps_per_epoch = max(1, len(train) // c.batch_size)
        total = c.epochs * self.steps_per_epoch
        self.total_steps = min(total, c.max_steps) if c.max_steps else total
        self.optimizer = build_optimizer(model, c.optim_config(model.backbone_prefix))
        self.scheduler = build_scheduler(self.optimizer, c.optim_config(model.backbone_prefix), self.total_steps,
                                         self.steps_per_epoch)
        self.targets = [dict(t) for t in train.targets]
        self.best_state: dict[str, Tensor] | None = None
        self._attach_proposals()

    def _attach_proposals(self) -> None:
        """R-CNN and Fast R-CNN train on selective-search proposals: computed once per training image (they then
        move with the augmented image like its boxes)."""
        cache = getattr(self.model.net, "proposals", None)
        if cache is None or not callable(cache):
            return
        from cnnlab._progress import track

        for img, t in zip(track(self.train.images, desc="selective search", show=None if self.c.progress else False),
                          self.targets):
            if "proposals" not in t:
                t["proposals"] = cache(img)

    def _state_meta(self, prog: dict, hist: DetectHistory) -> dict:
        return dict(prog, config=self.c.to_json(), history=hist.rows)

    def _save_state(self, prog: dict, hist: DetectHistory) -> None:
        from cnnlab.train import save_train_state

        path = save_train_state(self.out, self.model, self.optimizer, self.scheduler, self._state_meta(prog, hist),
                                keep=self.c.keep_checkpoints, save_model=save_detector)
        if 0 < prog["step"] < self.steps_per_epoch:
            logger.info("checkpoint %s (epoch %d, step %d, mid-epoch)", path, prog["epoch"] + 1, prog["step"])
        else:
            logger.info("checkpoint %s (end of epoch %d)", path, prog["epoch"])

    def _restore(self, hist: DetectHistory) -> dict | None:
        from safetensors.torch import load_file

        from cnnlab.detect._api import WEIGHTS_FILE, read_detector_meta
        from cnnlab.train import latest_state_dir, load_train_state, restore_optimizer, set_rng_state

        state = latest_state_dir(self.out)
        if state is None:
            return None
        held = read_detector_meta(state)["card"]["name"]
        if held != self.model.card.name:
            raise ValueError(f"training state {str(state)!r} holds detector {held!r}, not {self.model.card.name!r}")
        try:
            self.model.load_state_dict(load_file(str(state / WEIGHTS_FILE), device=str(self.device)), strict=True)
        except RuntimeError as exc:
            raise ValueError(f"training state {str(state)!r} does not fit this detector: "
                             f"{str(exc).splitlines()[0]}") from None
        doc, tensors = load_train_state(state)
        restore_optimizer(self.optimizer, doc, tensors)
        if doc.get("scheduler") is not None:
            self.scheduler.load_state_dict(doc["scheduler"])
        set_rng_state(tensors)
        meta = doc["meta"]
        hist.rows = list(meta.get("history", []))
        logger.info("resuming from %s (epoch %d, step %d)", state, meta["epoch"] + 1, meta["step"])
        return {k: meta[k] for k in ("epoch", "step", "global_step", "sums", "seen", "best", "best_epoch", "bad",
                                     "elapsed")}

    def _batch(self, idx: list[int], step: int) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
        g = _aug_generator(self.c.seed, step)
        images, targets = [], []
        for i in idx:
            img, t = self.train.images[i], self.targets[i]
            t = {k: v for k, v in t.items() if isinstance(v, Tensor)}
            img, t = augment_detection(img, t, generator=g, hflip=self.c.hflip, scale=self.c.scale, crop=self.c.crop)
            images.append(img.to(self.device))
            targets.append({k: v.to(self.device) for k, v in t.items()})
        return images, targets

    def _validate(self, row: dict) -> float | None:
        if self.val is None:
            return None
        r = evaluate(self.model, self.val)
        row.update(val_map=r.map, val_map50=r.map50, val_voc_map=r.voc_map)
        v = {"map50": r.map50, "map": r.map, "voc_map": r.voc_map}[self.c.monitor]
        return None if math.isnan(v) else v

    def run(self) -> DetectHistory:
        from cnnlab._progress import bar
        from cnnlab.train import TrainingDiverged, epoch_order

        c, model = self.c, self.model
        hist = DetectHistory(monitor=c.monitor, config=c.to_json())
        prog = {"epoch": 0, "step": 0, "global_step": 0, "sums": {}, "seen": 0, "best": None, "best_epoch": None,
                "bad": 0, "elapsed": 0.0}
        if self.resume:
            restored = self._restore(hist)
            if restored is not None:
                prog = restored
        n = len(self.train)
        show = c.progress and sys.stderr.isatty()
        epoch = prog["epoch"]
        while epoch < c.epochs and prog["global_step"] < self.total_steps:
            model.train()
            order = epoch_order(n, c.seed, epoch).tolist()
            t0 = time.perf_counter()
            start = prog["step"]
            with bar(self.steps_per_epoch, desc=f"epoch {epoch + 1}/{c.epochs}", unit="step", show=show,
                     initial=start) as pbar:
                for step in range(start, self.steps_per_epoch):
                    if prog["global_step"] >= self.total_steps:
                        break
                    idx = order[step * c.batch_size:(step + 1) * c.batch_size]
                    images, targets = self._batch(idx, prog["global_step"])
                    losses = model(images, targets)
                    loss = sum(losses.values())
                    if not torch.isfinite(loss):
                        parts = {k: float(v) for k, v in losses.items()}
                        raise TrainingDiverged(f"training diverged: the loss became {float(loss)} at epoch "
                                               f"{epoch + 1}, step {step} ({parts})")
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if c.grad_clip:
                        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], c.grad_clip)
                    self.optimizer.step()
                    self.scheduler.step()
                    sums = prog["sums"]
                    for k, v in losses.items():
                        sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
                    sums["loss"] = sums.get("loss", 0.0) + float(loss.detach()) * len(idx)
                    prog["seen"] += len(idx)
                    prog["step"] = step + 1
                    prog["global_step"] += 1
                    pbar.update(1)
                    pbar.set_postfix({k.removeprefix("loss_"): f"{v / prog['seen']:.3f}" for k, v in sums.items()},
                                     refresh=False)
                    if self.out is not None and c.checkpoint_every and prog["global_step"] % c.checkpoint_every == 0 \
                            and prog["step"] < self.steps_per_epoch:
                        prog["elapsed"] += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        self._save_state(prog, hist)
            prog["elapsed"] += time.perf_counter() - t0
            secs = prog["elapsed"]
            row: dict[str, Any] = {"epoch": epoch + 1,
                                   **{k: v / max(1, prog["seen"]) for k, v in sorted(prog["sums"].items())},
                                   "lr": self.scheduler.get_last_lr()[-1], "seconds": round(secs, 3),
                                   "images_per_s": prog["seen"] / max(secs, 1e-9)}
            hist.seconds += secs
            last = epoch + 1 == c.epochs or prog["global_step"] >= self.total_steps
            stop = False
            if (epoch + 1) % c.eval_every == 0 or last:
                v = self._validate(row)
                if v is not None:
                    if prog["best"] is None or v > prog["best"]:
                        prog.update(best=v, best_epoch=epoch + 1, bad=0)
                        if self.out is not None:
                            save_detector(self.out / "best", model, extra={"epoch": epoch + 1, "metrics": row})
                        else:  # nowhere to write it: keep the best weights in memory for restore_best
                            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    else:
                        prog["bad"] += 1
                        stop = bool(c.patience) and prog["bad"] >= c.patience
                    logger.info("epoch %d: loss %.4f, val %s %.4f", epoch + 1, row["loss"], c.monitor, v)
            hist.rows.append(row)
            epoch += 1
            prog.update(epoch=epoch, step=0, sums={}, seen=0, elapsed=0.0)
            if self.out is not None:
                cols = list(dict.fromkeys(k for r in hist.rows for k in r))
                atomic_write_csv(self.out / "metrics.csv", hist.rows, cols)
                self._save_state(prog, hist)
            if stop:
                hist.stopped_early = True
                logger.info("early stopping: no better validation %s for %d evaluations", c.monitor, c.patience)
                break
        hist.steps = prog["global_step"]
        hist.best_epoch, hist.best_metric = prog["best_epoch"], prog["best"]
        hist.seconds = sum(float(r["seconds"]) for r in hist.rows)
        if self.out is not None and (self.out / "best").is_dir():
            hist.best_dir = str(self.out / "best")
            if c.restore_best:
                from safetensors.torch import load_file

                from cnnlab.detect._api import WEIGHTS_FILE

                model.load_state_dict(load_file(str(self.out / "best" / WEIGHTS_FILE), device=str(self.device)))
        elif c.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)
        if self.out is not None:
            save_detector(self.out, model, extra={"config": c.to_json(), "history": hist.to_json()})
            hist.checkpoint_dir = str(self.out)
        model.train()
        return hist


def model_params(model: nn.Module) -> int:
    """Parameters of a detector (its backbone's head was removed when it was built)."""
    return sum(p.numel() for p in model.parameters())

