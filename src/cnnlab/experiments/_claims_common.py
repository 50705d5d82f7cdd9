"""What the claim experiments share: Fashion-MNIST subsets (optionally downscaled), one training call for the
small networks, per-image correctness, and a cache of trained networks in the run's :class:`ClaimContext`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab import models
from cnnlab.data import ImageTensors, stratified_subset
from cnnlab.experiments._claims import ClaimContext
from cnnlab.train import TrainConfig, fit, predict_logits

FMNIST = "fashion-mnist"
TEST_SEED = 1000  # the test subset is the same for every training seed (paired comparisons)


def downscale(data: ImageTensors, size: int) -> ImageTensors:
    """``data`` resized to ``size x size`` by area averaging (uint8 stays uint8)."""
    if data.images.shape[-1] == size:
        return data
    x = F.interpolate(data.images.float(), size=(size, size), mode="area")
    if data.images.dtype == torch.uint8:
        x = x.round().clamp(0, 255).to(torch.uint8)
    return ImageTensors(x, data.labels, data.classes)


def subset(ctx: ClaimContext, split: str, n: int | None, *, seed: int, size: int = 28,
           spec: str = FMNIST) -> ImageTensors:
    """A stratified subset of ``n`` images of a split (``None``: all of it), at ``size`` pixels; cached."""

    def make() -> ImageTensors:
        full = ctx.dataset(spec, split)
        part = full if n is None or n >= len(full) else stratified_subset(full, n, seed=seed)
        return downscale(part, size)

    return ctx.memo(("subset", spec, split, n, seed, size), make)


def split_pair(ctx: ClaimContext, n_train: int | None, n_test: int | None, *, seed: int, size: int = 28,
               spec: str = FMNIST) -> tuple[ImageTensors, ImageTensors]:
    """Training subset drawn with ``seed``, test subset drawn with :data:`TEST_SEED` (the same for every seed)."""
    return (subset(ctx, "train", n_train, seed=seed, size=size, spec=spec),
            subset(ctx, "test", n_test, seed=TEST_SEED, size=size, spec=spec))


def config(*, epochs: int, seed: int, ctx: ClaimContext, **changes: Any) -> TrainConfig:
    """The claims' default training: Adam 2e-3, cosine schedule, batch 128, no weight decay, channels-last (3x
    faster on the CPU for these small networks), quiet."""
    kw: dict[str, Any] = {"epochs": epochs, "batch_size": 128, "optimizer": "adam", "lr": 2e-3,
                          "weight_decay": 0.0, "schedule": "cosine", "seed": seed, "device": ctx.device,
                          "channels_last": True, "progress": False, "tensorboard": False}
    kw.update(changes)
    return TrainConfig(**kw)


def build(name: str, seed: int, **kw: Any) -> nn.Module:
    """``models.create(name, **kw)`` with its weights drawn from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return models.create(name, **kw)


def trained(ctx: ClaimContext, name: str, model_kw: dict[str, Any], train: ImageTensors, cfg: TrainConfig, *,
            data_key: Any, val: ImageTensors | None = None,
            fit_kw: dict[str, Any] | None = None) -> tuple[nn.Module, Any]:
    """A network built and trained with ``cnnlab.train.fit``, cached in ``ctx`` under everything that made it
    (``data_key`` names the training data); each call returns its own copy (callers may change it)."""
    key = ("trained", name, repr(sorted(model_kw.items())), data_key, repr(cfg), repr(sorted(fit_kw or {})))

    def make() -> tuple[nn.Module, Any]:
        net = build(name, cfg.seed, **model_kw)
        with torch.random.fork_rng(devices=[]):
            hist = fit(net, train, val, cfg, **(fit_kw or {}))
        return net.eval(), hist

    net, hist = ctx.memo(key, make)
    return copy.deepcopy(net), hist


def predictions(model: nn.Module, images: ImageTensors | Tensor, *, batch_size: int = 256) -> Tensor:
    """``Tensor[N]`` int64: the predicted classes (eval mode, restored; channels-last batches)."""
    return predict_logits(model, images, batch_size=batch_size, channels_last=True).argmax(1)


def correct(model: nn.Module, data: ImageTensors | tuple[Tensor, Tensor], *, batch_size: int = 256) -> Tensor:
    """``Tensor[N]`` bool: which images ``model`` classifies right (eval mode, restored)."""
    x, labels = (data, data.labels) if isinstance(data, ImageTensors) else data
    return predictions(model, x, batch_size=batch_size) == labels.cpu()


def as_floats(data: ImageTensors) -> Tensor:
    """The images as float ``Tensor[N, C, H, W]`` in [0, 1]."""
    return data.floats() if data.images.dtype == torch.uint8 else data.images.float()


def per_seed(seeds: tuple[int, ...], fn: Callable[[int], dict[str, Any]]) -> dict[str, list[Any]]:
    """``{key: [fn(seed)[key] for seed in seeds]}``."""
    out: dict[str, list[Any]] = {}
    for s in seeds:
        for k, v in fn(s).items():
            out.setdefault(k, []).append(v)
    return out
