"""Training segmenters through ``cnnlab.train``'s engine: pixel-wise losses with an ignore index and class weights,
joint image-and-label augmentation, a pixel-accuracy metric, checkpoints, resume, progress and ``metrics.csv``;
evaluation over a whole split through one confusion matrix."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_choice, check_number
from cnnlab._device import model_device, resolve_device
from cnnlab.data import SegmentationSet, augment_segmentation, median_frequency_weights
from cnnlab.segment._metrics import SegmentationMetrics, confusion_matrix, from_confusion
from cnnlab.segment._models import SEGMENTERS, check_size, create, rebuild

RUN_FILE = "segmenter.json"
LOSSES = ("ce", "focal", "dice", "ce+dice")
WEIGHTINGS = ("median_frequency", "none")


@dataclass
class SegmentConfig:
    """What segmentation training adds to :class:`cnnlab.train.TrainConfig`.

    Attributes:
        loss: ``"ce"`` (pixel-wise cross-entropy), ``"focal"`` (Lin et al. 2017), ``"dice"`` (soft Dice,
            Milletari et al. 2016) or ``"ce+dice"``; void pixels (the data's ``ignore_index``) count nowhere.
        class_weighting: ``"median_frequency"`` (SegNet: weights ``median(f) / f_c`` from the training labels,
            :func:`cnnlab.data.median_frequency_weights`, in the cross-entropy / focal terms) or ``"none"``.
        focal_gamma: the focal loss's gamma.
        hflip: random horizontal flips of image and label together.
        scale: ``(min, max)`` random zoom of image and label together; ``(1, 1)`` is off.
        crop: train on random ``(h, w)`` crops (``None``: whole images).
    """

    loss: str = "ce"
    class_weighting: str = "median_frequency"
    focal_gamma: float = 2.0
    hflip: bool = True
    scale: tuple[float, float] = (1.0, 1.0)
    crop: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, LOSSES)
        check_choice("class_weighting", self.class_weighting, WEIGHTINGS)
        check_number("focal_gamma", self.focal_gamma, minimum=0)
        self.scale = tuple(float(check_number("scale", s, minimum=0, open_min=True)) for s in self.scale)
        if len(self.scale) != 2 or self.scale[0] > self.scale[1]:
            raise ValueError(f"scale must be (min, max) with min <= max, got {self.scale}")
        if self.crop is not None:
            self.crop = tuple(int(v) for v in self.crop)  # type: ignore[assignment]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SegmentConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def segmentation_loss(name: str, *, ignore_index: int, weight: Sequence[float] | Tensor | None = None,
                      gamma: float = 2.0) -> Callable[[Tensor, Tensor], Tensor]:
    """``loss_fn(logits [N, K, H, W], labels [N, H, W]) -> scalar`` from ``cnnlab.losses``: ``"ce"``, ``"focal"``,
    ``"dice"`` or ``"ce+dice"``, with ``ignore_index`` and class weights (cross-entropy / focal terms)."""
    from cnnlab import losses

    check_choice("loss", name, LOSSES)
    w = None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
    ce = losses.resolve("ce", weight=w, ignore_index=ignore_index)
    if name == "ce":
        return ce
    if name == "focal":
        return losses.resolve("focal", gamma=gamma, alpha=w, ignore_index=ignore_index)
    dice = losses.resolve("dice", ignore_index=ignore_index)
    if name == "dice":
        return dice
    return _Sum(ce, dice)


class _Sum:
    """The sum of two losses (``ce+dice``)."""

    def __init__(self, *fns: Callable[[Tensor, Tensor], Tensor]) -> None:
        self.fns = fns

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        return sum(f(logits, targets) for f in self.fns)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.fns))


def pixel_metric(ignore_index: int) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The engine's metric hook for dense targets: (correctly labelled pixels, labelled pixels)."""
    def metric(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        keep = labels != ignore_index
        return ((logits.argmax(1) == labels) & keep).sum(), keep.sum()

    return metric


def joint_augment(options: SegmentConfig, ignore_index: int) -> Callable | None:
    """The engine's augmentation hook: :func:`cnnlab.data.augment_segmentation` with the options' settings."""
    if not options.hflip and options.scale == (1.0, 1.0) and options.crop is None:
        return None

    def augment(images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return augment_segmentation(images, labels, generator=generator, hflip=options.hflip, scale=options.scale,
                                    crop=options.crop, ignore_index=ignore_index)

    return augment


def class_weights_for(data: SegmentationSet, options: SegmentConfig) -> list[float] | None:
    """The class weights the options ask for, from the training labels (``None`` without weighting)."""
    if options.class_weighting == "none" or options.loss == "dice":
        return None
    return [round(float(v), 6) for v in median_frequency_weights(data)]


def _check_pair(model: nn.Module, data: SegmentationSet, what: str) -> None:
    from cnnlab.models import card_of

    card = card_of(model)
    k = card.kwargs.get("num_classes")
    if k != data.num_classes:
        raise ValueError(f"{what} has {data.num_classes} classes but segmenter {card.name!r} has {k} outputs")
    check_size(model, tuple(data.images.shape[1:]), what=f"{what} images")


def fit_segmenter(model: nn.Module, train_data: SegmentationSet, val_data: SegmentationSet | None = None,
                  config: Any = None, *, options: SegmentConfig | None = None,
                  class_weights: Sequence[float] | None = None, resume: bool = False):
    """Train a segmenter with ``cnnlab.train.fit`` (checkpoints, resume, progress, ``metrics.csv`` in
    ``config.out_dir``): the loss of ``options`` with the data's ignore index and class weights, joint flips /
    zooms / crops, the reported accuracy is pixel accuracy over labelled pixels.

    Args:
        model: from :func:`cnnlab.segment.create` (trained in place, left in train mode).
        train_data, val_data: :class:`cnnlab.data.SegmentationSet` s with the same classes.
        config: :class:`cnnlab.train.TrainConfig` (its ``hflip`` / ``crop_padding`` move images only and are
            refused: use ``options``).
        options: :class:`SegmentConfig`.
        class_weights: override the weights computed from ``train_data``.

    Returns:
        The engine's :class:`cnnlab.train.History`.
    """
    from cnnlab import train

    config = config if config is not None else train.TrainConfig()
    options = options if options is not None else SegmentConfig()
    if not isinstance(train_data, SegmentationSet):
        raise TypeError(f"train_data must be a SegmentationSet, got {type(train_data).__name__}")
    if config.hflip or config.crop_padding:
        raise ValueError("TrainConfig.hflip / crop_padding move the images but not their labels; use "
                         "SegmentConfig(hflip=..., crop=..., scale=...) for segmentation")
    card = getattr(model, "cnnlab", None)
    if config.init != "default" and card is not None and (
            card.kwargs.get("backbone_weights") or SEGMENTERS.info(card.name)["family"] == "fcn"):
        raise ValueError(f"init={config.init!r} would overwrite {card.name!r}'s pretrained or bilinear-initialised "
                         "weights; use init='default'")
    for d, what in ((train_data, "train_data"), (val_data, "val_data")):
        if d is not None:
            if d.classes != train_data.classes or d.ignore_index != train_data.ignore_index:
                raise ValueError(f"{what} has other classes or another ignore_index than train_data")
            if card is not None:
                _check_pair(model, d, what)
    weights = list(class_weights) if class_weights is not None else class_weights_for(train_data, options)
    loss_fn = segmentation_loss(options.loss, ignore_index=train_data.ignore_index, weight=weights,
                                gamma=options.focal_gamma)
    return train.fit(model, train_data, val_data, config, loss_fn=loss_fn, resume=resume,
                     augment=joint_augment(options, train_data.ignore_index),
                     metric=pixel_metric(train_data.ignore_index))


# ------------------------------------------------------------------------------------------- evaluation


def undo_weights(class_weights: Sequence[float] | Tensor, tau: float = 1.0) -> Tensor:
    """The per-class offsets ``tau * log(w_c)`` that undo, after training, the class weights ``w`` a segmenter was
    trained with (post-hoc logit adjustment, Menon et al. 2021, "Long-tail learning via logit adjustment").

    Cross-entropy weighted by ``w_c`` is minimised by scores proportional to ``w_c p(c|x)``: median-frequency
    weights buy class-average accuracy by moving pixels into the rare classes. Subtracting ``log w_c`` from the
    log-probabilities (``adjustment=`` of :func:`class_scores`, :func:`evaluate`, :func:`predict_labels`) gives back
    the unweighted optimum's argmax (``tau=1``, more global accuracy); ``tau=0`` is the model as trained, values
    between trade one for the other. Choose ``tau`` on validation data (:func:`undo_weights_sweep`), never on test.

    Returns:
        ``Tensor[K]`` (float32) of offsets, to subtract from class scores. A class of weight 0 (absent from the
        training labels: :func:`cnnlab.data.median_frequency_weights`) had no weighted term to undo; its offset is 0.
    """
    tau = check_number("tau", tau, minimum=0.0, maximum=1.0)
    w = torch.as_tensor(class_weights, dtype=torch.float64).flatten()
    if w.numel() == 0 or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not bool((w > 0).any()):
        raise ValueError(f"class_weights must be finite, non-negative and not all 0, got {w.tolist()}")
    return torch.where(w > 0, tau * w.clamp_min(1e-300).log(), torch.zeros_like(w)).float()


def class_scores(model: nn.Module, x: Tensor, *, hflip: bool = False, adjustment: Tensor | None = None) -> Tensor:
    """``model(x)`` (``Tensor[N, K, H, W]`` logits); with ``hflip`` (test-time augmentation) the log of the mean of
    the class probabilities (softmax) of ``x`` and of its mirror image, mirrored back; with ``adjustment``
    (``Tensor[K]``, e.g. :func:`undo_weights`) the log-probabilities minus it. Either way ``argmax(1)`` is the
    predicted class map and ``softmax(1)`` the class probabilities."""
    logits = model(x)
    if hflip:
        logits = ((logits.float().softmax(1) + model(x.flip(-1)).float().flip(-1).softmax(1)) / 2).log()
    return logits if adjustment is None else _adjusted(logits.float().log_softmax(1), adjustment)


def _adjusted(log_p: Tensor, adjustment: Tensor) -> Tensor:
    """Class log-probabilities ``Tensor[N, K, H, W]`` minus the per-class ``adjustment`` (``Tensor[K]``)."""
    adjustment = torch.as_tensor(adjustment, dtype=torch.float32, device=log_p.device).flatten()
    if adjustment.numel() != log_p.shape[1]:
        raise ValueError(f"adjustment has {adjustment.numel()} values for a model of {log_p.shape[1]} classes")
    return log_p - adjustment.view(1, -1, 1, 1)


@torch.no_grad()
def predict_labels(model: nn.Module, images: Tensor, *, batch_size: int = 8,
                   device: str | torch.device | None = None, hflip: bool = False,
                   adjustment: Tensor | None = None) -> Tensor:
    """Class maps ``Tensor[N, H, W]`` (int64, CPU) of prepared images ``Tensor[N, C, H, W]`` (uint8 or [0, 1]),
    in eval mode with frozen parameters (the model's state is restored); ``hflip``: average each image's class
    probabilities with its mirror image's; ``adjustment``: per-class offsets (:func:`undo_weights`;
    :func:`class_scores`)."""
    from cnnlab.models import frozen

    dev = resolve_device(device) if device is not None else model_device(model)
    out = []
    with frozen(model):
        for i in range(0, images.shape[0], batch_size):
            x = images[i:i + batch_size].to(dev)
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
            out.append(class_scores(model, x, hflip=hflip, adjustment=adjustment).argmax(1).cpu())
    if not out:
        raise ValueError("no images to segment")
    return torch.cat(out)


@dataclass
class SegmentationEval:
    """:func:`evaluate`'s result: the metrics, the run's settings and some predictions for pictures."""

    metrics: SegmentationMetrics
    n: int
    size: tuple[int, int]
    seconds: float
    examples: list[int] = field(default_factory=list)
    predictions: Tensor | None = None
    hflip: bool = False
    adjusted: bool = False

    def summary(self) -> dict:
        return {**self.metrics.summary(), "n": self.n, "size": list(self.size), "seconds": self.seconds,
                "hflip": self.hflip, "adjusted": self.adjusted}


def evaluate(model: nn.Module, data: SegmentationSet, *, batch_size: int = 8, device: str | torch.device | None = None,
             keep: int = 0, hflip: bool = False, adjustment: Tensor | None = None) -> SegmentationEval:
    """Global accuracy, class-average accuracy, per-class IoU and mIoU of ``model`` on ``data``, from one
    confusion matrix accumulated over the whole split (void pixels left out).

    Args:
        model: a segmenter (``model(x) -> Tensor[N, K, H, W]``); run in eval mode, its state restored.
        data: the labelled split (evaluated at its own resolution).
        keep: also keep the predicted maps of the first ``keep`` images (for pictures).
        hflip: flip test-time augmentation: each image's class probabilities averaged with its mirror image's
            (twice the inference cost; :func:`class_scores`).
        adjustment: ``Tensor[K]`` subtracted from the class log-probabilities before the argmax, e.g.
            :func:`undo_weights` of the run's class weights.

    Example:
        >>> r = evaluate(net, data.load_segmentation("scenes", "test"))        # doctest: +SKIP
        >>> r.metrics.miou
    """
    import time

    t0 = time.perf_counter()
    (cm,), preds = _confusions(model, data, [adjustment], batch_size=batch_size, device=device, keep=keep,
                               hflip=hflip)
    return SegmentationEval(from_confusion(cm, data.classes), len(data), tuple(data.images.shape[-2:]),
                            time.perf_counter() - t0, list(range(min(keep, len(data)))), preds, hflip,
                            adjustment is not None)


def undo_weights_sweep(model: nn.Module, data: SegmentationSet, class_weights: Sequence[float],
                       taus: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), *, batch_size: int = 8,
                       device: str | torch.device | None = None, hflip: bool = False
                       ) -> list[tuple[float, SegmentationMetrics]]:
    """``(tau, metrics)`` for each ``tau`` of :func:`undo_weights`, from one pass of the model over ``data`` (a
    validation split: pick ``tau`` there, then :func:`evaluate` the test split with it)."""
    if not len(taus):
        raise ValueError("taus is empty")
    adjustments = [undo_weights(class_weights, t) for t in taus]
    cms, _ = _confusions(model, data, adjustments, batch_size=batch_size, device=device, hflip=hflip)
    return [(float(t), from_confusion(cm, data.classes)) for t, cm in zip(taus, cms)]


def _confusions(model: nn.Module, data: SegmentationSet, adjustments: list[Tensor | None], *, batch_size: int,
                device: str | torch.device | None, hflip: bool, keep: int = 0
                ) -> tuple[list[Tensor], Tensor | None]:
    """One confusion matrix over ``data`` per adjustment (the model runs once per batch), and the first ``keep``
    predicted maps under the first adjustment."""
    from cnnlab.models import frozen

    if not isinstance(data, SegmentationSet):
        raise TypeError(f"data must be a SegmentationSet, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    card = getattr(model, "cnnlab", None)
    if card is not None:
        _check_pair(model, data, "data")
    dev = resolve_device(device) if device is not None else model_device(model)
    k = data.num_classes
    for a in adjustments:
        if a is not None and torch.as_tensor(a).numel() != k:
            raise ValueError(f"adjustment has {torch.as_tensor(a).numel()} values for data of {k} classes")
    cms = [torch.zeros(k, k, dtype=torch.int64) for _ in adjustments]
    kept = []
    with frozen(model), torch.no_grad():
        for i in range(0, len(data), batch_size):
            x = data.images[i:i + batch_size].to(dev)
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
            scores = class_scores(model, x, hflip=hflip)
            if scores.shape[1] != k or scores.shape[-2:] != x.shape[-2:]:
                raise ValueError(f"the model returned {tuple(scores.shape)} for images {tuple(x.shape)}; a segmenter "
                                 f"returns Tensor[N, {k}, H, W] at the input size")
            log_p = scores.float().log_softmax(1) if any(a is not None for a in adjustments) else None
            labels = data.labels[i:i + batch_size]
            for j, a in enumerate(adjustments):
                pred = (scores if a is None else _adjusted(log_p, a)).argmax(1).cpu()
                cms[j] += confusion_matrix(pred, labels, num_classes=k, ignore_index=data.ignore_index)
                if j == 0 and len(kept) * batch_size < keep:
                    kept.append(pred)
    return cms, (torch.cat(kept)[:keep] if kept else None)


# ---------------------------------------------------------------------------------------------- checkpoints


def save(model: nn.Module, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
    """Save a segmenter as a cnnlab checkpoint (``model.safetensors`` + ``model.json``, the model card inside;
    :func:`cnnlab.models.save_checkpoint`)."""
    from cnnlab.models import card_of, save_checkpoint

    card = card_of(model)
    SEGMENTERS.lookup(card.name)
    return save_checkpoint(path, model, extra={"task": "segmentation", **(extra or {})})


def load(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a segmenter from a checkpoint directory (a ``cnnlab train-segmenter`` run or :func:`save`); the
    weights load strictly; the model comes back in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cnnlab.models import ModelCard, read_checkpoint_meta

    path = Path(path)
    if path.is_file():
        path = path.parent
    doc = read_checkpoint_meta(path)
    card = ModelCard.from_json(doc["card"])
    if card.name not in SEGMENTERS:
        raise ValueError(f"checkpoint {str(path)!r} holds {card.name!r}, not a segmenter "
                         f"(segmenters: {', '.join(SEGMENTERS.names())})")
    model = rebuild(card)
    try:
        state = load_file(str(path / "model.safetensors"), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"cannot read weights of checkpoint {str(path)!r}: {exc}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {str(path)!r} does not fit segmenter {card.name!r}: "
                         f"{str(exc).splitlines()[0]}") from None
    return model.to(map_location).eval()


# ------------------------------------------------------------------------------------------------ whole jobs


@dataclass
class SegmenterRun:
    """What :func:`train_segmenter` did."""

    model: nn.Module
    history: Any
    test: SegmentationEval | None
    out_dir: str | None
    class_weights: list[float] | None
    params: int
    seconds: float


def _load_splits(spec: str, size, limit: int | None, test: bool, validate: bool = True):
    from cnnlab.data import load_segmentation

    kw = {} if size is None else {"size": size}
    train_data = load_segmentation(spec, "train", **kw)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")
        train_data = train_data.subset(slice(0, limit))
    val_data = _optional_split(spec, "val", kw) if validate else None
    test_data = _optional_split(spec, "test", kw) if test else None
    return train_data, val_data, test_data


def _optional_split(spec: str, split: str, kw: dict) -> SegmentationSet | None:
    from cnnlab.data import load_segmentation

    name, _, path = spec.partition(":")
    if name == "segfolder" and not ((Path(path) / split).is_dir() or (Path(path) / f"{split}.txt").is_file()):
        return None
    return load_segmentation(spec, split, **kw)


def train_segmenter(arch: str, data_spec: str, config: Any, *, options: SegmentConfig | None = None,
                    size: int | tuple[int, int] | None = None, limit: int | None = None,
                    model_kwargs: dict[str, Any] | None = None, resume: bool = False,
                    test: bool = True, validate: bool = True) -> SegmenterRun:
    """``cnnlab train-segmenter``: build ``arch`` for the data's classes, train it on the train split (validating on
    the val split when there is one), evaluate it on the test split.

    With ``config.out_dir`` the run directory holds the engine's checkpoints (``model.safetensors`` + ``model.json``,
    ``best/``, ``state/``, ``metrics.csv``) and ``segmenter.json`` (architecture, data, options, class weights), so
    ``resume=True`` continues it with its saved settings and ``cnnlab eval-segmenter`` / ``cnnlab segment`` use it.
    ``validate=False`` skips the per-epoch validation pass (and so the ``best/`` checkpoint).
    """
    import time

    from cnnlab import train
    from cnnlab._io import atomic_write_json

    SEGMENTERS.lookup(arch)
    options = options if options is not None else SegmentConfig()
    kwargs = dict(model_kwargs or {})
    if resume:
        if config.out_dir is None:
            raise ValueError("--resume needs --out")
        run_file = Path(config.out_dir) / RUN_FILE
        state = train.latest_state_dir(config.out_dir)
        if state is None or not run_file.is_file():
            raise FileNotFoundError(f"nothing to resume in {config.out_dir!r} (no {RUN_FILE} or state/LATEST)")
        doc = json.loads(run_file.read_text())
        if doc["arch"] != arch:
            raise ValueError(f"run {config.out_dir!r} trains {doc['arch']!r}, not {arch!r}")
        data_spec, size, limit, kwargs = doc["data"], doc["size"], doc["limit"], doc["model_kwargs"]
        options = SegmentConfig.from_json(doc["options"])
        saved = train.TrainConfig.from_json(json.loads((state / "train_state.json").read_text())["meta"]["config"])
        # what the run computes comes from the run; how it is carried out (device, threads, ...) from the caller
        config = saved.replace(**{f: getattr(config, f) for f in train.OPERATIONAL_FIELDS})
    train_data, val_data, test_data = _load_splits(data_spec, size, limit, test, validate)
    torch.manual_seed(config.seed)
    model = create(arch, num_classes=train_data.num_classes, in_channels=train_data.images.shape[1],
                   classes=train_data.classes, input_size=tuple(train_data.images.shape[-2:]), **kwargs)
    weights = class_weights_for(train_data, options)
    if config.out_dir is not None and not resume:
        atomic_write_json(Path(config.out_dir) / RUN_FILE, {
            "arch": arch, "data": data_spec, "size": list(train_data.images.shape[-2:]), "limit": limit,
            "model_kwargs": kwargs, "options": options.to_json(), "class_weights": weights,
            "classes": train_data.classes, "ignore_index": train_data.ignore_index})
    t0 = time.perf_counter()
    hist = fit_segmenter(model, train_data, val_data, config, options=options, class_weights=weights, resume=resume)
    seconds = time.perf_counter() - t0
    result = evaluate(model, test_data, batch_size=max(1, min(config.eval_batch_size, 16))) if test_data else None
    params = sum(p.numel() for p in model.parameters())
    return SegmenterRun(model, hist, result, config.out_dir, weights, params, seconds)


def run_class_weights(run: str | os.PathLike) -> list[float]:
    """The class weights a run directory trained with (its ``segmenter.json``), for :func:`undo_weights`;
    ``ValueError`` naming the run when it trained without any (or was saved without a ``segmenter.json``)."""
    weights = load_run_options(run).get("class_weights")
    if not weights:
        raise ValueError(f"run {str(run)!r} was trained without class weights: there are none to undo")
    return list(weights)


def load_run_options(run: str | os.PathLike) -> dict[str, Any]:
    """The ``segmenter.json`` of a run directory (architecture, data spec, size, options, class weights), or
    ``{}`` for a checkpoint saved without one. The run's ``best/`` checkpoint (the engine's best validation epoch)
    reads the ``segmenter.json`` of the run it sits in."""
    run = Path(run)
    for path in (run / RUN_FILE, run.parent / RUN_FILE if run.name == "best" else None):
        if path is not None and path.is_file():
            return json.loads(path.read_text())
    return {}
