"""Checkpoints: weights in safetensors beside a JSON card, written atomically, loaded without unpickling.

A checkpoint is a directory holding ``model.safetensors`` and ``model.json``. The JSON keeps the
:class:`ModelCard` (registry name and build arguments, classes, input size) and any extra metadata (training
config, metrics). Both files are written to a temporary name and renamed into place, JSON last, so a crash
never leaves a half-written file under the final name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab._io import atomic_write_bytes
from cnnlab.models._api import MODELS, ModelCard, create

WEIGHTS_FILE, CARD_FILE = "model.safetensors", "model.json"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (built by :func:`cnnlab.models.create`) to the directory ``path``.

    Args:
        path: checkpoint directory (created).
        model: a cnnlab model; its ``model.cnnlab`` card says how to rebuild it.
        extra: JSON-serialisable metadata stored beside the card (config, metrics, ...).

    Returns:
        The checkpoint directory.
    """
    from safetensors.torch import save

    card: ModelCard | None = getattr(model, "cnnlab", None)
    if card is None:
        raise ValueError("model has no cnnlab card; build it with cnnlab.models.create")
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    atomic_write_bytes(path / WEIGHTS_FILE, save(state))
    doc = {"format": "cnnlab-checkpoint/1", "card": card.to_json(), "extra": extra or {}}
    atomic_write_bytes(path / CARD_FILE, json.dumps(doc, indent=2).encode())
    return path


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's JSON document (card and extra metadata); a clear error if it is not one."""
    path = Path(path)
    if path.is_file() and path.name in (CARD_FILE, WEIGHTS_FILE):
        path = path.parent
    card_path = path / CARD_FILE
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint or file: {str(path)!r}")
    if not card_path.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ValueError(f"{str(path)!r} is not a cnnlab checkpoint (needs {CARD_FILE} and {WEIGHTS_FILE})")
    try:
        doc = json.loads(card_path.read_text())
        ModelCard.from_json(doc["card"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{str(card_path)!r} is not a valid cnnlab checkpoint card: {exc}") from None
    return doc


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    expect_model: str | None = None) -> nn.Module:
    """Rebuild a model from a checkpoint directory; the model comes back in eval mode.

    Args:
        path: the checkpoint directory (or a file inside it).
        map_location: device for the weights.
        expect_model: when given, a checkpoint of another model raises ``ValueError``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_file():
        path = path.parent
    doc = read_checkpoint_meta(path)
    card = ModelCard.from_json(doc["card"])
    if expect_model is not None and card.name != expect_model:
        raise ValueError(f"checkpoint {str(path)!r} holds model {card.name!r}, not {expect_model!r}")
    if card.name not in MODELS:
        raise ValueError(f"checkpoint {str(path)!r} holds unknown model {card.name!r}")
    kwargs = dict(card.kwargs)
    model = create(card.name, **kwargs)
    try:
        state = load_file(str(path / WEIGHTS_FILE), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"cannot read weights of checkpoint {str(path)!r}: {exc}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit model {card.name!r}: "
            f"{len(missing)} missing and {len(unexpected)} unexpected tensors"
        )
    built = model.cnnlab  # the architecture's recorded parts (classifier, pool, features) are the build's
    model.cnnlab = dataclasses.replace(card, classifier=built.classifier, pool=built.pool, features=built.features)
    return model.to(map_location).eval()


def load(spec: str | os.PathLike, *, weights: str | None = "DEFAULT", map_location: str = "cpu") -> nn.Module:
    """A model from a registry name (with its default pretrained weights when it has some) or a checkpoint.

    The model comes back in eval mode.
    """
    spec_s = str(spec)
    if spec_s in MODELS:
        has = MODELS.info(spec_s)["weights"]
        return create(spec_s, weights=weights if has else None).to(map_location).eval()
    if os.path.exists(spec_s):
        return load_checkpoint(spec_s, map_location=map_location)
    MODELS.lookup(spec_s)  # raises "unknown model ... did you mean"
    raise AssertionError("unreachable")


def _unwrap(model: nn.Module) -> nn.Module:
    # DDP / torch.compile wrappers keep the real module inside
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else model
