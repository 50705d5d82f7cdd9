"""Whole jobs behind the CLI: train a registered model on a dataset spec (``cnnlab train``), evaluate a
checkpoint (``cnnlab eval``), and launch DDP workers (``cnnlab train --nproc N``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab.data import ImageTensors
from cnnlab.train._config import TrainConfig
from cnnlab.train._evaluate import EvalResult, evaluate
from cnnlab.train._fit import History, fit

RUN_FILE = "run.json"


@dataclass
class RunResult:
    """What :func:`run_training` did: the history (of the first member for ensembles), the test results, and
    for ensembles every member's test result plus the ensemble's."""

    model: nn.Module
    history: History
    test: EvalResult | None = None
    members: list[EvalResult] = field(default_factory=list)
    ensemble: EvalResult | None = None
    out_dir: str | None = None
    rank: int = 0


def _check_compatible(model: nn.Module, data: ImageTensors, what: str) -> None:
    """One forward pass on two images: a model that cannot take these images fails here with one line."""
    card = getattr(model, "cnnlab", None)
    c = data.images.shape[1]
    if card is not None and card.input_size[0] != c:
        raise ValueError(f"{what} has {c}-channel images but model {card.name!r} takes {card.input_size[0]}")
    x = data.images[:2].float() / (255 if data.images.dtype == torch.uint8 else 1)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x.to(model_device(model)))
    except (RuntimeError, ValueError) as exc:
        name = card.name if card is not None else type(model).__name__
        raise ValueError(f"model {name!r} cannot take {what} images of shape {tuple(data.images.shape[1:])}: "
                         f"{str(exc).splitlines()[0]}") from None
    finally:
        model.train(was)
    k = int(data.labels.max()) + 1
    if out.shape[1] < k:
        raise ValueError(f"{what} has {k} classes but the model has {out.shape[1]} outputs")


def load_run_data(spec: str, *, data_dir: str | None = None, limit: int | None = None,
                  test: bool = True) -> tuple[ImageTensors, ImageTensors | None]:
    """Train (first ``limit`` images) and test splits of a dataset spec; a folder without a test split gives
    ``None`` for the test set."""
    from cnnlab.data import load_dataset

    train_data = load_dataset(spec, "train", data_dir=data_dir)
    if limit is not None:
        train_data = train_data.subset(slice(0, check_int("limit", limit)))
    test_data = None
    if test:
        name, _, path = spec.partition(":")
        if name != "folder" or (Path(path) / "test").is_dir():
            test_data = load_dataset(spec, "test", data_dir=data_dir)
    return train_data, test_data


def run_training(model_name: str, data_spec: str, config: TrainConfig, *, data_dir: str | None = None,
                 limit: int | None = None, ensemble: int = 1, resume: bool = False, test: bool = True,
                 model_kwargs: dict[str, Any] | None = None) -> RunResult:
    """Build ``model_name`` for the dataset (its channels and class count), train it, evaluate it on the test split.

    With ``resume=True`` the run in ``config.out_dir`` continues: ``config`` must agree with the run's saved
    configuration (:func:`saved_config`) except for operational fields and, for the ``none`` / ``step``
    schedules, a larger ``epochs`` (:func:`cnnlab.train.check_resume`); the model, its options, the data and
    ``limit`` must be the run's (``run.json``). Anything else raises ``ValueError`` naming the conflicting
    settings. With ``ensemble=N`` > 1, N members are trained (seeds ``seed..seed+N-1``) and compared with their
    average.
    """
    from cnnlab import models
    from cnnlab.train import _state
    from cnnlab.train._ensemble import fit_ensemble

    models.MODELS.lookup(model_name)  # unknown model: one line before any data is read
    check_int("ensemble", ensemble)
    if resume:
        if config.out_dir is None:
            raise ValueError("--resume needs --out")
        state = _state.latest_state_dir(config.out_dir)
        if state is None:
            raise FileNotFoundError(f"nothing to resume in {config.out_dir!r} (no state/LATEST)")
        held = models.read_checkpoint_meta(state)["card"]["name"]
        if held != model_name:
            raise ValueError(f"checkpoint {str(state)!r} holds model {held!r}, not {model_name!r}")
    train_data, test_data = load_run_data(data_spec, data_dir=data_dir, limit=limit, test=test)
    kwargs = dict(model_kwargs or {})
    kwargs.setdefault("num_classes", len(train_data.classes))
    kwargs.setdefault("in_channels", train_data.images.shape[1])
    if resume:
        run = read_run(config.out_dir)
        if run is not None:
            mine = {"model": model_name, "data": data_spec, "limit": limit, "model_kwargs": kwargs}
            bad = [f"{k} {mine[k]!r} (the run's: {run.get(k)!r})" for k in mine
                   if _plain(run.get(k)) != _plain(mine[k])]
            if bad:
                raise ValueError(f"cannot resume the run in {config.out_dir!r} with " + ", ".join(bad)
                                 + ": a resumed run keeps its settings")

    def build(i: int) -> nn.Module:
        m = models.create(model_name, **kwargs)
        m.cnnlab.input_size = tuple(train_data.images.shape[1:])  # what it is trained on: predict resizes to it
        m.cnnlab.classes = list(train_data.classes)
        _check_compatible(m, train_data, data_spec)
        return m

    rank = int(os.environ.get("RANK", "0"))
    if config.out_dir is not None and rank == 0 and not resume:
        doc = {"model": model_name, "data": data_spec, "limit": limit, "ensemble": ensemble,
               "model_kwargs": kwargs}
        from cnnlab._io import atomic_write_bytes

        atomic_write_bytes(Path(config.out_dir) / RUN_FILE, json.dumps(doc, indent=2).encode())
    if ensemble > 1:
        if resume:
            raise ValueError("--resume is not supported with --ensemble")
        res = fit_ensemble(build, train_data, None, config, n=ensemble, test_data=test_data)
        return RunResult(res.models[0], res.histories[0], res.single[0] if res.single else None,
                         res.single, res.ensemble, config.out_dir, rank)
    torch.manual_seed(config.seed)
    model = build(0)
    hist = fit(model, train_data, None, config, resume=resume)
    result = RunResult(model, hist, out_dir=config.out_dir, rank=rank)
    if test_data is not None:
        _check_compatible(model, test_data, f"{data_spec} (test)")
        result.test = evaluate(model, test_data, batch_size=config.eval_batch_size)
    return result


def _plain(v: Any) -> Any:
    """A value as JSON gives it back (tuples become lists), for comparing settings with ``run.json``."""
    return json.loads(json.dumps(v))


def read_run(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The settings :func:`run_training` recorded in ``out_dir/run.json`` (model, data, limit, ensemble,
    model_kwargs), or ``None`` when the directory has none."""
    path = Path(out_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from None


def saved_config(out_dir: str | os.PathLike) -> TrainConfig | None:
    """The :class:`TrainConfig` of the newest training state in ``out_dir`` (``None``: nothing to resume), the
    starting point for resuming it with some operational settings or more epochs changed."""
    from cnnlab.train import _state

    state = _state.latest_state_dir(out_dir)
    if state is None:
        return None
    doc, _ = _state.load_train_state(state)
    return TrainConfig.from_json(doc["meta"]["config"])


def evaluate_checkpoint(checkpoint: str | os.PathLike, data_spec: str, *, split: str = "test",
                        data_dir: str | None = None, batch_size: int = 1024, device: str = "cpu",
                        limit: int | None = None) -> EvalResult:
    """Load a checkpoint (``cnnlab.models.load``) and evaluate it on a split of a dataset spec."""
    from cnnlab import models
    from cnnlab.data import load_dataset

    if not os.path.exists(str(checkpoint)) and (os.sep in str(checkpoint) or str(checkpoint).startswith(".")):
        raise FileNotFoundError(f"no such checkpoint: {str(checkpoint)!r}")
    if limit is not None:
        check_int("limit", limit)
    model = models.load(str(checkpoint), map_location=device)
    data = load_dataset(data_spec, split, data_dir=data_dir)
    if limit is not None:
        data = data.subset(slice(0, limit))
    check_classes(model, data.classes, f"{data_spec} ({split})", what=f"checkpoint {str(checkpoint)!r}")
    _check_compatible(model, data, data_spec)
    return evaluate(model, data, batch_size=batch_size, device=device)


def _names(classes: list[str], n: int = 3) -> str:
    shown = ", ".join(repr(c) for c in classes[:n])
    return f"{shown}, ..." if len(classes) > n else shown


def check_classes(model: nn.Module, classes: list[str], data_name: str, *, what: str = "the model") -> None:
    """``ValueError`` unless the model's classes (its card's names, else its class count) are ``classes`` in the
    same order: a model scored on another data set's labels gives numbers that mean nothing."""
    card = getattr(model, "cnnlab", None)
    if card is None:
        return
    mine = list(card.classes) if card.classes is not None else None
    if mine is None:
        k = card.kwargs.get("num_classes")
        if k is not None and int(k) != len(classes):
            raise ValueError(f"{what} has {k} classes but {data_name} has {len(classes)}")
        return
    if mine == list(classes):
        return
    if sorted(mine) == sorted(classes):
        raise ValueError(f"{what} has the classes of {data_name} in another order ({_names(mine)} vs "
                         f"{_names(list(classes))}): its label indices would not match")
    raise ValueError(f"{what} was trained on {len(mine)} classes ({_names(mine)}) but {data_name} has "
                     f"{len(classes)} ({_names(list(classes))}): refusing to score it on another task's labels")


def result_stem(data_spec: str, split: str) -> str:
    """A file-name stem naming a data set and split, e.g. ``"fashion-mnist-test"``; a spec with a directory gets
    the directory's name and a short hash of its full path, so two folders never share a name."""
    import hashlib
    import re

    name, _, path = str(data_spec).partition(":")
    stem = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "data"
    if path:
        full = os.path.abspath(os.path.expanduser(path))
        base = re.sub(r"[^A-Za-z0-9]+", "-", os.path.basename(full.rstrip(os.sep))).strip("-")
        stem += f"-{base}-{hashlib.sha1(full.encode()).hexdigest()[:8]}" if base else \
            f"-{hashlib.sha1(full.encode()).hexdigest()[:8]}"
    return f"{stem}-{re.sub(r'[^A-Za-z0-9]+', '-', split)}"


def write_eval(result: EvalResult, out_dir: str | os.PathLike, data_spec: str, split: str, *,
               png: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write an evaluation as ``out_dir/eval-<data>-<split>.json`` (``EvalResult.summary()``) and its confusion
    matrix as ``out_dir/confusion-<data>-<split>.png`` (or ``png``), atomically; one file per data set and split
    (:func:`result_stem`), so scoring on another data set never overwrites an earlier result."""
    from cnnlab._io import atomic_write_json
    from cnnlab.train._evaluate import save_confusion_png

    stem = result_stem(data_spec, split)
    png_path = Path(png) if png is not None else Path(out_dir) / f"confusion-{stem}.png"
    save_confusion_png(result, png_path)
    doc = {"data": data_spec, "split": split, **result.summary(), "png": str(png_path)}
    json_path = atomic_write_json(Path(out_dir) / f"eval-{stem}.json", doc)
    return Path(json_path), png_path


def launch_distributed(nproc: int, argv: list[str]) -> int:
    """Run ``python -m cnnlab <argv>`` in ``nproc`` processes under ``torch.distributed.run`` (standalone
    rendezvous on this machine); returns the launcher's exit code. Each worker joins the process group in
    :func:`fit` (gloo on the CPU, nccl on GPUs)."""
    check_int("nproc", nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "cnnlab", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.run(cmd, env=env).returncode
