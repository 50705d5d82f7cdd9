"""Named training recipes for segmenters: data read by the CLI (``train-segmenter --recipe``), the benchmark and the
demo alike. A recipe is an architecture with its options plus the fields of :class:`cnnlab.train.TrainConfig` and
:class:`cnnlab.segment.SegmentConfig` it sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnlab._registry import Registry

RECIPES: Registry = Registry("segmentation recipe")


@dataclass(frozen=True)
class Recipe:
    """How to train one segmenter.

    Attributes:
        arch: a segmenter name (:func:`cnnlab.segment.names`).
        model: its build options.
        train: :class:`cnnlab.train.TrainConfig` fields.
        segment: :class:`cnnlab.segment.SegmentConfig` fields.
        note: where the settings come from.
    """

    arch: str
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    segment: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _add(name: str, recipe: Recipe) -> None:
    RECIPES.register(name, note=recipe.note)(recipe)


# The SegNet tutorial's solver for SegNet-Basic (SGD, momentum 0.9, weight decay 5e-4, batch 4, lr 0.1, median-
# frequency class weights, void ignored); a cosine decay and flips replace its fixed rate over ~100 epochs.
_add("segnet_basic-camvid", Recipe(
    arch="segnet_basic",
    train={"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 4,
           "schedule": "cosine", "eval_batch_size": 8},
    segment={"loss": "ce", "class_weighting": "median_frequency", "hflip": True},
    note="SegNet tutorial solver (SGD 0.1, momentum 0.9, wd 5e-4, batch 4), cosine decay, flips"))

# The Lite0-encoder recipes share one solver and augmentation (copied into each recipe).
_LITE0_TRAIN = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 4, "schedule": "onecycle",
                "warmup_fraction": 0.1, "lr_multipliers": {"encoder": 0.1}, "no_decay_bias_norm": True,
                "eval_batch_size": 8}
_LITE0_SEGMENT = {"loss": "ce", "class_weighting": "median_frequency", "hflip": True, "scale": (0.75, 1.25)}

# The pretrained EfficientNet-Lite0 encoder under a U-Net decoder: AdamW, one-cycle, the encoder at a tenth of the rate.
_add("unet_lite0-camvid", Recipe(
    arch="unet_lite0",
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment=dict(_LITE0_SEGMENT),
    note="AdamW, one-cycle, encoder lr x0.1, flips and zooms"))

# Median-frequency weights raise class-average accuracy but cost IoU: under them unet_lite0-camvid labels 18 % of
# the Building pixels of CamVid test Pole, SignSymbol or Fence (3 % without). The same solver without weights, with
# and without Dice.
_add("unet_lite0-camvid-unweighted", Recipe(
    arch="unet_lite0",
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment={**_LITE0_SEGMENT, "class_weighting": "none"},
    note="as unet_lite0-camvid, no class weights"))

_add("unet_lite0-camvid-dice", Recipe(
    arch="unet_lite0",
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment={**_LITE0_SEGMENT, "loss": "ce+dice", "class_weighting": "none"},
    note="as unet_lite0-camvid, cross-entropy + soft Dice, no class weights"))

# Thin classes (Pole, SignSymbol, Fence) are one or two pixels wide at 180x240. The same solver and loss on random
# 180x240 crops of the 360x480 images, zoomed by 0.5 (the whole image) to 1.25, so a step costs what a half-resolution
# step costs; the network is fully convolutional and is tested on whole 360x480 images (the SegNet protocol).
_add("unet_lite0-camvid-dice-crops", Recipe(
    arch="unet_lite0",
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment={**_LITE0_SEGMENT, "loss": "ce+dice", "class_weighting": "none", "scale": (0.5, 1.25),
             "crop": (180, 240)},
    note="as unet_lite0-camvid-dice, on 180x240 crops of 360x480 images (zoom 0.5-1.25), tested at 360x480"))

# Under the tutorial's solver 22 epochs left SegNet-Basic underfitted (weighted training loss 0.92, pixel accuracy
# 74 %), and its far longer schedule at 360x480 is days on two cores. The tutorial's loss (median-frequency weights,
# void ignored) under the Lite0 recipes' solver (without the encoder's rate) and augmentation, on the crops above.
_add("segnet_basic-camvid-crops", Recipe(
    arch="segnet_basic",
    train={k: v for k, v in _LITE0_TRAIN.items() if k != "lr_multipliers"},
    segment={**_LITE0_SEGMENT, "scale": (0.5, 1.25), "crop": (180, 240)},
    note="tutorial loss (median-frequency weights), AdamW one-cycle, 180x240 crops of 360x480 (zoom 0.5-1.25), "
         "tested at 360x480"))

_add("fcn8s_lite0-camvid", Recipe(
    arch="fcn8s", model={"backbone": "efficientnet_lite0", "backbone_weights": "imagenet"},
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment=dict(_LITE0_SEGMENT),
    note="as unet_lite0-camvid"))

_add("lraspp_lite0-camvid", Recipe(
    arch="lraspp", model={"backbone": "efficientnet_lite0", "backbone_weights": "imagenet"},
    train={**_LITE0_TRAIN, "lr_multipliers": dict(_LITE0_TRAIN["lr_multipliers"])},
    segment=dict(_LITE0_SEGMENT),
    note="as unet_lite0-camvid"))

# Seconds on the CPU: a small U-Net on the synthetic digit scenes (the demo report and the quick tests).
_add("unet-scenes", Recipe(
    arch="unet", model={"base": 8, "depth": 3},
    train={"optimizer": "adam", "lr": 1e-2, "weight_decay": 0.0, "batch_size": 16, "schedule": "onecycle",
           "epochs": 10, "eval_batch_size": 32},
    segment={"loss": "ce", "class_weighting": "median_frequency", "hflip": True},
    note="a small U-Net on generated scenes, seconds on a CPU"))


# what a segmenter trains with when neither a recipe nor the caller says otherwise
DEFAULT_TRAIN: dict[str, Any] = {"epochs": 10, "batch_size": 4, "optimizer": "adamw", "lr": 1e-3,
                                 "weight_decay": 1e-4, "schedule": "onecycle", "eval_batch_size": 8}


def training_settings(arch: str | None = None, recipe_name: str | None = None, *, model: dict | None = None,
                      train: dict | None = None, segment: dict | None = None
                      ) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(arch, model options, TrainConfig fields, SegmentConfig fields)``: :data:`DEFAULT_TRAIN`, overridden by
    the recipe's, overridden by the caller's (``None`` values are ignored). ``arch`` defaults to the recipe's."""
    rec = RECIPES.lookup(recipe_name) if recipe_name is not None else None
    if arch is None:
        if rec is None:
            raise ValueError("name an architecture (--arch) or a recipe (--recipe)")
        arch = rec.arch
    elif rec is not None and arch != rec.arch:
        raise ValueError(f"recipe {recipe_name!r} trains {rec.arch!r}, not {arch!r}")

    def merged(base: dict, from_recipe: dict, given: dict | None) -> dict:
        return {**base, **from_recipe, **{k: v for k, v in (given or {}).items() if v is not None}}

    return (arch, merged({}, rec.model if rec else {}, model), merged(DEFAULT_TRAIN, rec.train if rec else {}, train),
            merged({}, rec.segment if rec else {}, segment))


def recipe(name: str) -> Recipe:
    """The recipe called ``name`` (``ValueError`` naming the known ones otherwise)."""
    return RECIPES.lookup(name)


def recipe_names() -> list[str]:
    return RECIPES.names()
