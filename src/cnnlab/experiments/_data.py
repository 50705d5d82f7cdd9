"""Data helpers shared by the experiments."""

from __future__ import annotations

import os

from cnnlab.data import ImageTensors, load_dataset, stratified_subset


def train_test(spec: str, *, eval_size: int | None = None, seed: int = 0,
               data_dir: str | os.PathLike | None = None) -> tuple[ImageTensors, ImageTensors]:
    """The training split of a dataset spec and its test split, the latter cut to a stratified ``eval_size``
    subset (seed ``seed + 1``, so it does not share a draw with training subsets) when given."""
    train = load_dataset(spec, "train", data_dir=data_dir)
    test = load_dataset(spec, "test", data_dir=data_dir)
    if eval_size is not None:
        test = stratified_subset(test, eval_size, seed=seed + 1)
    return train, test
