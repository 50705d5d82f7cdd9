"""Recipes: named training presets (a network, its options and a :class:`TrainConfig`), product data read by the
CLI (``cnnlab train --recipe NAME``), the benchmarks (``benchmarks/bench_train.py --recipe NAME``), the demo
report and the README alike, so a measured recipe is written down once.

Example:
    >>> from cnnlab import train
    >>> train.recipe_names()
    ['cpu', 'gpu', 'resnet', 'digits']
    >>> cfg = train.recipe("cpu", epochs=1)          # the recipe's TrainConfig with overrides
    >>> cfg.lr, cfg.epochs, train.get_recipe("cpu").model
    (0.2, 1, 'fastnet_small')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cnnlab._registry import Registry
from cnnlab.train._config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    """A named way to train: the network (registry name and build options), the data it was tuned on and the
    :class:`TrainConfig`. ``measured`` says where its figures are (``benchmarks/RESULTS.md``)."""

    name: str
    description: str
    model: str
    config: TrainConfig
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str = "fashion-mnist"
    measured: str = ""

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.model_options.items())
        return f"Recipe({self.name!r}: {self.model}{opts} on {self.data}, {self.config.epochs} epochs)"


RECIPES: Registry[Recipe] = Registry("recipe")


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe to :data:`RECIPES` (a duplicate name raises)."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register_recipe needs a Recipe, got {type(recipe).__name__}")
    return RECIPES.register(recipe.name)(recipe)


def recipe_names() -> list[str]:
    """Names of the registered recipes."""
    return RECIPES.names()


def get_recipe(name: str) -> Recipe:
    """The registered :class:`Recipe` (its model, model options, data and config); unknown names raise
    ``ValueError`` naming the close matches."""
    return RECIPES.lookup(name)


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of recipe ``name`` with some fields replaced (validated).

    Raises:
        ValueError: unknown recipe, a field ``TrainConfig`` does not have, or a bad value.
    """
    base = get_recipe(name).config
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"TrainConfig has no field {unknown[0]!r} (fields: {', '.join(sorted(known))})")
    return base.replace(**overrides)


# The SGD + Nesterov + one-cycle + label-smoothing core shared by the Fashion-MNIST recipes.
_FAST = dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="onecycle",
             warmup_fraction=0.2, label_smoothing=0.1, channels_last=True)

register_recipe(Recipe(
    "cpu", "fastnet_small (16-32-64, 24k parameters), batch 256, SGD Nesterov lr 0.2, one-cycle, label "
    "smoothing 0.1, channels-last, 3 epochs: 90% on Fashion-MNIST on a 2-core CPU",
    model="fastnet_small", config=TrainConfig(epochs=3, batch_size=256, lr=0.2, **_FAST),
    measured="benchmarks/RESULTS.md (bench_train)"))
register_recipe(Recipe(
    "gpu", "fastnet_small at widths 64-128-256 (0.37M parameters), batch 512, lr 0.4, 8 epochs: 93% on "
    "Fashion-MNIST in seconds on a GPU",
    model="fastnet_small", model_options={"widths": (64, 128, 256)},
    config=TrainConfig(epochs=8, batch_size=512, lr=0.4, **_FAST), measured="docs/training.md (H100)"))
register_recipe(Recipe(
    "resnet", "resnet_small (ResNet-20) at widths 32-64-128 with random crops (padding 2) and flips, batch 512, "
    "lr 0.4, 16 epochs: the accurate one (94.7% on Fashion-MNIST)",
    model="resnet_small", model_options={"widths": (32, 64, 128)},
    config=TrainConfig(epochs=16, batch_size=512, lr=0.4, crop_padding=2, hflip=True, **_FAST),
    measured="docs/training.md (H100)"))
register_recipe(Recipe(
    "digits", "fastnet_small on scikit-learn's 8x8 digits in seconds (the demo report's training section): "
    "batch 64, SGD Nesterov lr 0.2, one-cycle, label smoothing 0.1, 10% held out, 8 epochs, one thread",
    model="fastnet_small", data="digits",
    config=TrainConfig(epochs=8, batch_size=64, lr=0.2, nesterov=True, label_smoothing=0.1, val_fraction=0.1,
                       num_threads=1),  # tiny batches: one thread beats two on a busy 2-core CPU (18 s -> 2.4 s)
    measured="the demo report"))
