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


def machine() -> dict:
    """Where an experiment ran, recorded in its settings: CPU model, cores, the load average when the run ended
    (a load above the core count means a shared machine, and inflated times), torch and the thread count."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    load = [round(x, 1) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": load, "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
