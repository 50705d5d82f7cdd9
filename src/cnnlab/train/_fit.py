"""The training loop: ``fit(model, train_data, val_data, config) -> History``.

Speed comes from keeping the data on the device as one uint8 tensor and indexing batches there (no per-sample
Python loader), augmenting whole batches at once, and syncing with the host only every few dozen steps.
Reproducibility comes from deriving every random draw from ``config.seed``: the data order of epoch ``e`` from
``(seed, e)``, the augmentation of step ``s`` from ``(seed, s)``, and the global RNG (dropout, ``perturb``)
from a state saved in each checkpoint, so a resumed run continues exactly where the killed one stopped.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._device import check_autocast, resolve_device
from cnnlab._io import atomic_write_bytes
from cnnlab.data import ImageTensors
from cnnlab.models import save_checkpoint
from cnnlab.train import _state
from cnnlab.train._augment import apply_params, draw_params, rgb_pca
from cnnlab.train._config import TrainConfig, check_resume
from cnnlab.train._evaluate import batch_floats, metrics_from_logits, predict_logits, recalibrate_bn
from cnnlab.train._optim import build_optimizer, build_scheduler, init_weights, lr_factor, resolve_loss

logger = logging.getLogger("cnnlab.train")

Perturb = Callable[[nn.Module, Tensor, Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
Augment = Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]
Metric = Callable[[Tensor, Tensor], tuple[Tensor, Tensor | int]]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


@dataclass
class EpochStats:
    """One row of :class:`History` (losses are means over the epoch's images; accuracies in [0, 1]; ``lr`` is
    the rate at the epoch's end of parameters with multiplier 1, ``TrainConfig.lr`` times the schedule's
    factor)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float
    images_per_s: float


@dataclass
class History:
    """What :func:`fit` did.

    Attributes:
        rows: one :class:`EpochStats` per finished epoch.
        best_epoch: the epoch (1-based) with the lowest validation loss (``None`` without validation).
        best_val_loss: that loss.
        checkpoint_dir: the run directory holding the final model (``None`` when ``out_dir`` was unset).
        best_dir: the best-validation model's checkpoint directory.
        stopped_early: early stopping ended the run.
        steps: optimiser steps taken in total.
        config: the configuration used (as JSON).
        resumed_epoch: with ``resume=True``, the epochs the saved run had finished when it was resumed
            (``None``: a fresh run); equal to ``len(rows)`` when there was nothing left to train.
    """

    rows: list[EpochStats] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float | None = None
    checkpoint_dir: str | None = None
    best_dir: str | None = None
    stopped_early: bool = False
    steps: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    resumed_epoch: int | None = None

    @property
    def final(self) -> EpochStats | None:
        return self.rows[-1] if self.rows else None

    def to_csv(self) -> str:
        buf = io.StringIO()
        names = list(EpochStats.__dataclass_fields__)
        w = csv.writer(buf)
        w.writerow(names)
        for r in self.rows:
            w.writerow(["" if getattr(r, n) is None else getattr(r, n) for n in names])
        return buf.getvalue()

    def to_json(self) -> dict[str, Any]:
        return {"rows": [asdict(r) for r in self.rows], "best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss, "checkpoint_dir": self.checkpoint_dir,
                "best_dir": self.best_dir, "stopped_early": self.stopped_early, "steps": self.steps,
                "config": self.config, "resumed_epoch": self.resumed_epoch}


# --------------------------------------------------------------------------------------------- helpers


def _mix(*xs: int) -> int:
    """A deterministic 63-bit seed from integers (splitmix-style), so streams of (seed, epoch) don't collide."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (int(x) + 0x9E3779B97F4A7C15 + ((h << 6) & (2**64 - 1)) + (h >> 2))) & (2**64 - 1)
        h = (h * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    return h >> 1


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The data order of ``epoch``: a permutation of ``range(n)`` determined by ``(seed, epoch)``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(_mix(seed, epoch, 1)))


def split_validation(data: ImageTensors, fraction: float, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """Hold out ``fraction`` of ``data`` (a seeded random choice) for validation."""
    n_val = int(round(len(data) * fraction))
    if n_val < 1 or n_val >= len(data):
        raise ValueError(f"val_fraction={fraction} leaves no validation or no training data ({len(data)} images)")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(_mix(seed, 2)))
    return data.subset(perm[n_val:]), data.subset(perm[:n_val])


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1): gloo on the CPU, nccl on GPUs."""
    import torch.distributed as dist

    d = _Dist()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        d.created = True
    if dist.is_available() and dist.is_initialized():
        d.rank, d.world = dist.get_rank(), dist.get_world_size()
        d.local_rank = int(os.environ.get("LOCAL_RANK", d.rank))
        if device.type == "cuda":
            device = torch.device("cuda", d.local_rank)
            torch.cuda.set_device(device)
    return d, device


def _all_reduce(t: Tensor, d: _Dist) -> Tensor:
    if d.world > 1:
        import torch.distributed as dist

        t = t.clone()
        dist.all_reduce(t)
    return t


def _progress_bar(total: int, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=not enabled, unit="step")


class _TensorBoard:
    def __init__(self, out_dir: str | None, enabled: bool) -> None:
        self.writer = None
        if out_dir is None or not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed
            return
        self.writer = SummaryWriter(str(Path(out_dir) / "tb"))

    def epoch(self, row: EpochStats) -> None:
        if self.writer is None:
            return
        for k, v in asdict(row).items():
            if k != "epoch" and v is not None:
                self.writer.add_scalar(k, v, row.epoch)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _top1(logits: Tensor, labels: Tensor) -> tuple[Tensor, int]:
    """The default metric of :func:`fit`: (correct top-1 predictions, images)."""
    return (logits.argmax(1) == labels).sum(), labels.shape[0]


@torch.no_grad()
def _validate(model: nn.Module, data: ImageTensors, loss_fn: LossFn, metric: Metric, batch_size: int,
              device: torch.device, channels_last: bool) -> tuple[float, float]:
    """(mean loss over the images, hits / counted) of ``data``, batch by batch in eval mode (mode restored)."""
    was = model.training
    model.eval()
    try:
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        hits = torch.zeros((), dtype=torch.float64, device=device)
        counted = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(0, len(data), batch_size):
            x = batch_floats(data.images[i:i + batch_size].to(device))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = data.labels[i:i + batch_size].to(device)
            logits = model(x).float()
            loss_sum += loss_fn(logits, y).double() * y.shape[0]
            h, n = metric(logits, y)
            hits += h
            counted += n
        return (loss_sum / len(data)).item(), (hits / counted.clamp_min(1)).item()
    finally:
        model.train(was)


# ------------------------------------------------------------------------------------------------- fit


def fit(model: nn.Module, train_data: ImageTensors, val_data: ImageTensors | None = None,
        config: TrainConfig | None = None, *, perturb: Perturb | None = None, loss_fn: LossFn | None = None,
        resume: bool = False, augment: Augment | None = None, metric: Metric | None = None) -> History:
    """Train ``model`` on ``train_data``.

    Args:
        model: a classifier taking ``Tensor[N, C, H, W]`` in [0, 1] (any ``nn.Module``; a cnnlab model,
            built by ``cnnlab.models.create``, is needed to write checkpoints). It is moved to the config's
            device, trained in place and left in train mode.
        train_data: labelled training images (uint8 or float).
        val_data: validation images; ``None`` holds out ``config.val_fraction`` of ``train_data`` (or
            validates nothing when that is 0).
        config: :class:`TrainConfig` (default: ``TrainConfig()``).
        perturb: ``perturb(model, images, labels) -> images`` applied to every training batch after
            augmentation (images float in [0, 1] on the device); how adversarial training plugs in.
            The model is put back in train mode afterwards.
        loss_fn: ``loss_fn(logits, targets) -> scalar`` replacing the loss named in the config.
        resume: continue the run saved in ``config.out_dir`` (its newest training state) if there is one.
        augment: ``augment(images, labels, generator) -> (images, labels)`` applied to every training batch after
            the config's augmentation (images float in [0, 1] on the device; the generator is seeded from
            ``(seed, step)``, so a resumed run draws the same): joint image-and-label augmentation of dense targets.
        metric: ``metric(logits, labels) -> (hits, counted)`` (scalar tensors or ints) summed over an epoch for the
            reported accuracy ``hits / counted``, in training and validation; with it, validation runs batch by
            batch through ``loss_fn`` and ``metric`` instead of keeping the split's logits. Default: top-1 over
            images. With dense targets (``labels`` of shape ``[N, H, W]``, e.g. a
            :class:`cnnlab.data.SegmentationSet`) pass ``loss_fn`` and a pixel ``metric``.

    Returns:
        :class:`History`, with the per-epoch metrics and where the checkpoints are.

    Raises:
        TrainingDiverged: the loss became NaN/inf (a ``ValueError``); the last good checkpoint is kept.
        ValueError: bad data, a resumed checkpoint of another model, ...

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DistributedDataParallel, each rank
    trains on its slice of every global batch of ``config.batch_size`` images, and only rank 0 writes.

    Example:
        >>> from cnnlab import data, models, train
        >>> net = models.create("lenet5")
        >>> hist = train.fit(net, data.fashion_mnist("train"), None, train.TrainConfig(epochs=1))  # doctest: +SKIP
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    for name, d in (("train_data", train_data), ("val_data", val_data)):
        if d is not None and not isinstance(d, ImageTensors):
            raise TypeError(f"{name} must be an ImageTensors, got {type(d).__name__}")
        if d is not None and len(d) == 0:
            raise ValueError(f"{name} is empty")
    if resume and config.out_dir is None:
        raise ValueError("resume needs config.out_dir")
    old_threads = torch.get_num_threads()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    run = None
    try:
        run = _Run(model, train_data, val_data, config, perturb, loss_fn, resume, augment, metric)
        return run.run()
    finally:
        torch.set_num_threads(old_threads)
        if run is not None and run.dist.created:
            import torch.distributed as dist

            dist.destroy_process_group()


class _Run:
    """State of one call of :func:`fit` (a class only to share the many locals between the loop's parts)."""

    def __init__(self, model, train_data, val_data, config, perturb, loss_fn, resume, augment=None,
                 metric=None) -> None:
        self.c = config
        self.model, self.perturb, self.resume = model, perturb, resume
        self.augment, self.metric = augment, metric
        self.device = resolve_device(config.device)
        self.dist, self.device = _setup_distributed(self.device)
        if val_data is None and config.val_fraction > 0:
            train_data, val_data = split_validation(train_data, config.val_fraction, config.seed)
        self.train_data, self.val_data = train_data, val_data
        if config.batch_size > len(train_data):
            # one partial batch per "epoch" would silently change the recipe (and its images/s): refuse
            held = f" after holding out {len(val_data)} for validation" if val_data is not None and \
                config.val_fraction > 0 else ""
            raise ValueError(f"batch_size {config.batch_size} is larger than the {len(train_data)} training "
                             f"images{held}: use a batch of at most {len(train_data)}")
        if config.pca_noise > 0 and train_data.images.shape[1] != 3:
            raise ValueError(f"pca_noise needs RGB images, got {train_data.images.shape[1]} channel(s)")
        if config.batch_size % self.dist.world:
            raise ValueError(f"batch_size {config.batch_size} is not divisible by {self.dist.world} processes")
        self.loss_fn = loss_fn if loss_fn is not None else resolve_loss(
            config.loss, config.label_smoothing, class_counts=torch.bincount(train_data.labels.cpu()).tolist())
        self.out = Path(config.out_dir) if config.out_dir is not None else None
        self.writes = self.out is not None and self.dist.main
        if self.writes and getattr(model, "cnnlab", None) is None:
            raise ValueError("writing checkpoints needs a cnnlab model (built by cnnlab.models.create)")

    # ------------------------------------------------------------------------------------------ setup

    def run(self) -> History:
        c, d = self.c, self.dist
        torch.manual_seed(c.seed)  # global RNG: init, dropout, perturb (restored from the checkpoint on resume)
        state_dir = _state.latest_state_dir(self.out) if (self.resume and self.out is not None) else None
        if state_dir is None:
            init_weights(self.model, c.init)
        model = self.model.to(self.device)
        if c.channels_last:
            model.to(memory_format=torch.channels_last)
        n = len(self.train_data)
        self.steps_per_epoch = max(1, n // c.batch_size)
        total = c.epochs * self.steps_per_epoch
        self.total_steps = min(total, c.max_steps) if c.max_steps else total
        images = self.train_data.images.to(self.device)
        labels = self.train_data.labels.to(self.device)
        pca = rgb_pca(self.train_data.images) if c.pca_noise > 0 else None
        self.optimizer = build_optimizer(model, c)  # the trainable parameters, grouped by c.lr_multipliers
        self.scheduler = build_scheduler(self.optimizer, c, self.total_steps, self.steps_per_epoch)
        amp = c.amp
        amp_dtype = torch.bfloat16 if c.amp_dtype == "bfloat16" else torch.float16
        if amp and self.device.type != "cuda" and amp_dtype != torch.bfloat16:
            raise ValueError(f"amp_dtype={c.amp_dtype!r} needs CUDA; on {self.device.type!r} autocast takes "
                             "'bfloat16'")
        if amp:
            check_autocast(self.device, amp_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)

        hist = History(config=c.to_json())
        prog = {"epoch": 0, "step": 0, "global_step": 0, "loss_sum": 0.0, "correct": 0, "seen": 0, "counted": 0,
                "best_val_loss": None, "best_epoch": None, "bad_epochs": 0, "elapsed": 0.0}
        if state_dir is not None:
            prog, hist = self._restore(state_dir, hist)
            hist.resumed_epoch = prog["epoch"]
            if prog["epoch"] >= c.epochs or prog["global_step"] >= self.total_steps:
                logger.info("nothing to resume in %s: the run has finished its %d epochs", self.out, prog["epoch"])
            else:
                logger.info("resuming from %s (epoch %d, step %d)", state_dir, prog["epoch"] + 1, prog["step"])

        train_model: nn.Module = model
        if d.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            train_model = DistributedDataParallel(model, device_ids=[self.device.index]
                                                  if self.device.type == "cuda" else None)
        if c.compile:
            train_model = torch.compile(train_model)
        tb = _TensorBoard(str(self.out), c.tensorboard) if self.writes else _TensorBoard(None, False)
        local_b = c.batch_size // d.world
        aug_gen = torch.Generator(self.device)
        show_bar = c.progress and d.main and sys.stderr.isatty()
        try:
            epoch = prog["epoch"]
            while epoch < c.epochs and prog["global_step"] < self.total_steps:
                model.train()
                order = epoch_order(n, c.seed, epoch).to(self.device)
                loss_sum = torch.tensor(prog["loss_sum"], dtype=torch.float64, device=self.device)
                correct = torch.tensor(prog["correct"], dtype=torch.int64, device=self.device)
                seen = seen0 = prog["seen"]
                counted = torch.tensor(prog["counted"], dtype=torch.int64, device=self.device)
                t0, start_step = time.perf_counter(), prog["step"]
                bar = _progress_bar(self.steps_per_epoch, start_step, f"epoch {epoch + 1}/{c.epochs}", show_bar)
                for step in range(start_step, self.steps_per_epoch):
                    if prog["global_step"] >= self.total_steps:
                        break
                    gidx = order[step * c.batch_size:(step + 1) * c.batch_size]
                    sl = slice(d.rank * local_b, (d.rank + 1) * local_b) if d.world > 1 else slice(None)
                    idx = gidx[sl]
                    x = batch_floats(images[idx])
                    y = labels[idx]
                    if c.crop_padding or c.hflip or c.pca_noise:
                        aug_gen.manual_seed(_mix(c.seed, prog["global_step"], 3))
                        params = draw_params(len(gidx), crop_padding=c.crop_padding, hflip=c.hflip,
                                             pca_noise=c.pca_noise, generator=aug_gen)
                        x = apply_params(x, params.slice(sl), crop_padding=c.crop_padding, pca=pca)
                    if self.augment is not None:
                        aug_gen.manual_seed(_mix(c.seed, prog["global_step"], 5))
                        x, y = self.augment(x, y, aug_gen)
                    if self.perturb is not None:
                        x = self.perturb(model, x, y)
                        model.train()
                        if not isinstance(x, Tensor) or x.shape[0] != y.shape[0]:
                            raise ValueError("perturb must return a Tensor of images of the batch's shape")
                    if c.channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                    with torch.autocast(self.device.type, dtype=amp_dtype, enabled=amp):
                        logits = train_model(x)
                        loss = self.loss_fn(logits.float(), y)
                    self.optimizer.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.scheduler.step()
                    loss_sum += loss.detach().double() * y.shape[0]
                    hits, count = _top1(logits.detach(), y) if self.metric is None else self.metric(logits.detach(), y)
                    correct += hits
                    counted += count
                    seen += y.shape[0]
                    prog["global_step"] += 1
                    prog["step"] = step + 1
                    bar.update(1)
                    ckpt_now = bool(c.checkpoint_every) and prog["step"] % c.checkpoint_every == 0 \
                        and prog["step"] < self.steps_per_epoch
                    if ckpt_now or prog["step"] % 50 == 0 or show_bar and prog["step"] % 10 == 0:
                        self._check_finite(loss_sum, epoch, prog, weights=ckpt_now)
                        if show_bar:
                            secs = time.perf_counter() - t0
                            bar.set_postfix(loss=f"{loss_sum.item() / max(1, seen):.4f}",
                                            acc=f"{correct.item() / max(1, counted.item()):.3f}",
                                            img_s=f"{(seen - prog['seen']) * d.world / max(secs, 1e-9):.0f}")
                    if ckpt_now and self.writes:
                        prog.update(epoch=epoch, loss_sum=loss_sum.item(), correct=int(correct.item()), seen=seen,
                                    counted=int(counted.item()))
                        self._save_state(prog, hist, mid_epoch=True)
                bar.close()
                self._check_finite(loss_sum, epoch, prog, weights=True)
                secs = time.perf_counter() - t0
                tot = _all_reduce(torch.stack([loss_sum, correct.double(), torch.tensor(
                    float(seen), dtype=torch.float64, device=self.device), counted.double()]), d)
                row = EpochStats(epoch=epoch + 1, train_loss=(tot[0] / tot[2]).item(),
                                 train_acc=(tot[1] / tot[3].clamp_min(1)).item(), val_loss=None, val_acc=None,
                                 lr=c.lr * lr_factor(c, prog["global_step"], self.total_steps, self.steps_per_epoch),
                                 seconds=secs,  # images trained in this call (a resumed epoch: since the resume)
                                 images_per_s=(seen - seen0) * d.world / max(secs, 1e-9))
                if c.bn_recalibrate:  # identical on every rank: each holds the whole training set
                    recalibrate_bn(model, images[:c.bn_recalibrate], batch_size=c.batch_size, device=self.device)
                if self.val_data is not None and self.metric is not None:
                    row.val_loss, row.val_acc = _validate(model, self.val_data, self.loss_fn, self.metric,
                                                          c.eval_batch_size, self.device, c.channels_last)
                elif self.val_data is not None:
                    logits = predict_logits(model, self.val_data, batch_size=c.eval_batch_size, device=self.device,
                                            channels_last=c.channels_last)
                    r = metrics_from_logits(logits, self.val_data.labels, self.val_data.classes)
                    row.val_loss, row.val_acc = r.loss, r.accuracy
                hist.rows.append(row)
                logger.info("epoch %d/%d: train loss %.4f acc %.4f%s, lr %.3g, %.1f s, %.0f img/s", row.epoch,
                            c.epochs, row.train_loss, row.train_acc,
                            "" if row.val_loss is None else f", val loss {row.val_loss:.4f} acc {row.val_acc:.4f}",
                            row.lr, row.seconds, row.images_per_s)
                stop = False
                if row.val_loss is not None:
                    if prog["best_val_loss"] is None or row.val_loss < prog["best_val_loss"]:
                        prog["best_val_loss"], prog["best_epoch"], prog["bad_epochs"] = row.val_loss, row.epoch, 0
                        if self.writes:
                            save_checkpoint(self.out / "best", model,
                                            extra={"train": c.to_json(), "epoch": row.epoch, "metrics": asdict(row)})
                    else:
                        prog["bad_epochs"] += 1
                        stop = bool(c.patience) and prog["bad_epochs"] >= c.patience
                epoch += 1
                prog.update(epoch=epoch, step=0, loss_sum=0.0, correct=0, seen=0, counted=0)
                hist.best_epoch, hist.best_val_loss = prog["best_epoch"], prog["best_val_loss"]
                if self.writes:
                    atomic_write_bytes(self.out / "metrics.csv", hist.to_csv().encode())
                    tb.epoch(row)
                    self._save_state(prog, hist, mid_epoch=False)
                if stop:
                    hist.stopped_early = True
                    logger.info("early stopping: no lower validation loss for %d epochs", c.patience)
                    break
        finally:
            tb.close()
        hist.steps = prog["global_step"]
        hist.best_epoch, hist.best_val_loss = prog["best_epoch"], prog["best_val_loss"]
        if self.out is not None:
            hist.best_dir = str(self.out / "best") if (self.out / "best").is_dir() else None
        if c.restore_best and hist.best_dir is not None:
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(Path(hist.best_dir) / "model.safetensors"),
                                            device=str(self.device)), strict=False)
        if self.writes:
            save_checkpoint(self.out, model, extra={"train": c.to_json(), "history": hist.to_json()})
            hist.checkpoint_dir = str(self.out)
        model.train()
        return hist

    # ----------------------------------------------------------------------------------- checkpoints

    def _check_finite(self, loss_sum: Tensor, epoch: int, prog: dict, *, weights: bool = False) -> None:
        bad = (~torch.isfinite(loss_sum)).to(torch.float32)
        if weights:  # before a checkpoint: the last update may have overflowed the weights with a finite loss
            finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
            bad = bad + (~finite).to(torch.float32)
        bad = _all_reduce(bad, self.dist)
        if bad.item() > 0:
            where = f"epoch {epoch + 1}, step {prog['step']}"
            last = _state.latest_state_dir(self.out) if self.out is not None else None
            keep = f"; the last good checkpoint is {last}" if last is not None else "; no checkpoint was written"
            raise TrainingDiverged(f"training diverged: the loss or weights became NaN or infinite at {where}{keep}")

    def _save_state(self, prog: dict, hist: History, *, mid_epoch: bool) -> None:
        meta = dict(prog, config=self.c.to_json(), history=[asdict(r) for r in hist.rows],
                    world=self.dist.world, mid_epoch=mid_epoch)
        path = _state.save_train_state(self.out, self.model, self.optimizer, self.scheduler, meta,
                                       scaler=self.scaler, keep=self.c.keep_checkpoints)
        if mid_epoch:
            logger.info("checkpoint %s (epoch %d, step %d, mid-epoch)", path, prog["epoch"] + 1, prog["step"])
        else:
            logger.info("checkpoint %s (end of epoch %d)", path, prog["epoch"])

    def _restore(self, state_dir: Path, hist: History) -> tuple[dict, History]:
        from safetensors.torch import load_file

        from cnnlab.models import read_checkpoint_meta

        card = read_checkpoint_meta(state_dir)["card"]
        mine = getattr(self.model, "cnnlab", None)
        if mine is not None and card["name"] != mine.name:
            raise ValueError(f"checkpoint {str(state_dir)!r} holds model {card['name']!r}, not {mine.name!r}")
        doc, tensors = _state.load_train_state(state_dir)
        meta = doc["meta"]
        check_resume(TrainConfig.from_json(meta["config"]), self.c, epochs_done=int(meta["epoch"]),
                     where=f"the run in {str(self.out)!r}")  # before anything of the model changes
        weights = load_file(str(state_dir / "model.safetensors"), device=str(self.device))
        try:
            self.model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"checkpoint {str(state_dir)!r} does not fit this model: "
                             f"{str(exc).splitlines()[0]}") from None
        _state.restore_optimizer(self.optimizer, doc, tensors)
        if doc.get("scheduler") is not None:
            self.scheduler.load_state_dict(doc["scheduler"])
        if doc.get("scaler") is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(doc["scaler"])
        _state.set_rng_state(tensors)
        prog = {k: meta[k] for k in ("epoch", "step", "global_step", "loss_sum", "correct", "seen",
                                     "best_val_loss", "best_epoch", "bad_epochs")}
        prog["elapsed"] = meta.get("elapsed", 0.0)
        prog["counted"] = meta.get("counted", meta["seen"])  # states written before the metric hook counted images
        hist.rows = [EpochStats(**r) for r in meta.get("history", [])]
        if meta.get("world", 1) != self.dist.world:
            logger.warning("resuming a run of %d processes with %d", meta.get("world", 1), self.dist.world)
        return prog, hist
