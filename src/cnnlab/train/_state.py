"""Training-state checkpoints: the model (``cnnlab.models.save_checkpoint``) plus optimiser, scheduler, RNG states,
epoch and step, as safetensors + JSON. Nothing is pickled.

A run directory looks like::

    OUT/model.safetensors, OUT/model.json    the final model (a cnnlab checkpoint: `cnnlab eval OUT`)
    OUT/best/                                 the best-validation model
    OUT/state/step-00000042/                  model + train_state.safetensors + train_state.json
    OUT/state/LATEST                          name of the newest complete state directory
    OUT/metrics.csv, OUT/tb/                  per-epoch metrics, TensorBoard logs

A state directory is written in full under a temporary name, renamed into place, and only then named in
``LATEST`` (itself replaced atomically), so a kill at any moment leaves the previous state usable.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._io import atomic_write_bytes
from cnnlab.models import save_checkpoint

STATE_DIR, LATEST = "state", "LATEST"
STATE_TENSORS, STATE_JSON = "train_state.safetensors", "train_state.json"


def _split_optimizer_state(sd: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    plain: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for idx, st in sd["state"].items():
        entry = {}
        for k, v in st.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
                entry[k] = {"__tensor__": f"optim.{idx}.{k}"}
            else:
                entry[k] = v
        plain["state"][str(idx)] = entry
    return tensors, plain


def _join_optimizer_state(plain: dict[str, Any], tensors: dict[str, Tensor]) -> dict[str, Any]:
    state = {}
    for idx, st in plain["state"].items():
        state[int(idx)] = {k: tensors[v["__tensor__"]] if isinstance(v, dict) and "__tensor__" in v else v
                           for k, v in st.items()}
    return {"state": state, "param_groups": plain["param_groups"]}


def _jsonable(obj: Any) -> Any:
    """Drop what JSON cannot hold (callables) from a scheduler state dict."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if not callable(v)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj if not callable(v)]
    if isinstance(obj, Tensor):
        return obj.tolist()
    return obj


def rng_state() -> dict[str, Tensor]:
    """The global torch RNG states (CPU and every CUDA device) as uint8 tensors."""
    states = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"rng.cuda.{i}"] = s
    return states


def set_rng_state(tensors: dict[str, Tensor]) -> None:
    if "rng.cpu" in tensors:
        torch.set_rng_state(tensors["rng.cpu"].cpu())
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k].cpu() for k in cuda][: torch.cuda.device_count()])


def save_train_state(out_dir: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, meta: dict[str, Any], *, scaler: Any = None, keep: int = 2,
                     extra_tensors: dict[str, Tensor] | None = None,
                     save_model: Callable[..., Any] | None = None) -> Path:
    """Write a complete training state under ``out_dir/state/step-XXXXXXXX`` and point ``LATEST`` at it.

    Args:
        meta: JSON-serialisable progress (epoch, step, global_step, config, history, ...); must hold
            ``global_step``.
        keep: how many state directories to keep (oldest are removed).
        save_model: ``save_model(directory, model, extra=dict)`` writing the model into the state directory
            (default ``cnnlab.models.save_checkpoint``; ``cnnlab.detect`` passes its detector checkpoint writer).
    """
    from safetensors.torch import save

    root = Path(out_dir) / STATE_DIR
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{int(meta['global_step']):08d}"
    final = root / name
    tmp = root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    opt_tensors, opt_plain = _split_optimizer_state(optimizer.state_dict())
    tensors = {**opt_tensors, **rng_state(), **(extra_tensors or {})}
    doc = {"format": "cnnlab-train-state/1", "meta": meta, "optimizer": opt_plain,
           "scheduler": _jsonable(scheduler.state_dict()) if scheduler is not None else None,
           "scaler": _jsonable(scaler.state_dict()) if scaler is not None and scaler.is_enabled() else None}
    (save_model or save_checkpoint)(tmp, model, extra={"train": meta.get("config", {}),
                                                      "global_step": meta["global_step"]})
    atomic_write_bytes(tmp / STATE_TENSORS, save(tensors))
    atomic_write_bytes(tmp / STATE_JSON, json.dumps(doc).encode())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_bytes(root / LATEST, name.encode())
    _fsync_dir(root)
    states = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))
    for old in states[:-keep]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_state_dir(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete state directory of a run, or ``None``."""
    root = Path(out_dir) / STATE_DIR
    ptr = root / LATEST
    if not ptr.is_file():
        return None
    d = root / ptr.read_text().strip()
    return d if (d / STATE_JSON).is_file() else None


def load_train_state(state_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The JSON document and the tensors of a state directory (no unpickling)."""
    from safetensors.torch import load_file

    state_dir = Path(state_dir)
    try:
        doc = json.loads((state_dir / STATE_JSON).read_text())
        tensors = load_file(str(state_dir / STATE_TENSORS))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read training state {str(state_dir)!r}: {exc}") from None
    if doc.get("format") != "cnnlab-train-state/1":
        raise ValueError(f"{str(state_dir)!r} is not a cnnlab training state")
    return doc, tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, doc: dict[str, Any], tensors: dict[str, Tensor]) -> None:
    optimizer.load_state_dict(_join_optimizer_state(doc["optimizer"], tensors))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
