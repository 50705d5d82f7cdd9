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

from cnnlab._device import resolve_device
from cnnlab._io import atomic_write_bytes
from cnnlab.models._api import MODELS, ModelCard, create

WEIGHTS_FILE, CARD_FILE = "model.safetensors", "model.json"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (built by :func:`cnnlab.models.create`, loaded, or wrapped with :func:`cnnlab.models.wrap`)
    to the directory ``path``.

    Args:
        path: checkpoint directory (created).
        model: a cnnlab model; its ``model.cnnlab`` card says how to rebuild it.
        extra: JSON-serialisable metadata stored beside the card (config, metrics, ...).

    Returns:
        The checkpoint directory.
    """
    from safetensors.torch import save

    card: ModelCard | None = getattr(_unwrap(model), "cnnlab", None) or getattr(model, "cnnlab", None)
    if not isinstance(card, ModelCard):
        raise ValueError(f"this {type(model).__name__} has no cnnlab card: build it with cnnlab.models.create, "
                         "or wrap your own module with cnnlab.models.wrap")
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    atomic_write_bytes(path / WEIGHTS_FILE, save(state))
    doc = {"format": "cnnlab-checkpoint/1", "card": card.to_json(), "extra": extra or {}}
    atomic_write_bytes(path / CARD_FILE, json.dumps(doc, indent=2).encode())
    return path


def _is_path(spec: str) -> bool:
    """Whether a model spec names a path rather than a registry model: it holds a path separator or a dot
    (registry names have neither), starts with '.' or '~', or exists."""
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    return any(c in spec for c in [*seps, "."]) or spec.startswith("~") or os.path.exists(spec)


def _checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint directory of ``path`` (the directory, or ``model.json`` / ``model.safetensors`` in it);
    a clear error for a missing path or a file that is not part of a checkpoint (pickles are never loaded)."""
    given = os.fspath(path)  # messages name what the user typed ("./run", not "run")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint directory: {given!r}")
    if path.is_file():
        if path.name in (CARD_FILE, WEIGHTS_FILE):
            return path.parent
        raise ValueError(
            f"{given!r} is a file, not a cnnlab checkpoint directory ({CARD_FILE} + {WEIGHTS_FILE}); "
            "pickled models are never loaded. For a state dict of a known architecture: "
            f"cnnlab import ARCH {given} --out RUN")
    return path


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's JSON document (card and extra metadata); a clear error if it is not one."""
    path = _checkpoint_dir(path)
    card_path = path / CARD_FILE
    if not card_path.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ValueError(f"{str(path)!r} is not a cnnlab checkpoint (needs {CARD_FILE} and {WEIGHTS_FILE})")
    try:
        doc = json.loads(card_path.read_text())
        ModelCard.from_json(doc["card"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(card_path)!r} is not a valid cnnlab checkpoint card: {exc}") from None
    return doc


def rebuild(card: ModelCard, *, module: nn.Module | None = None, what: str = "the card") -> nn.Module:
    """A freshly initialised model of the architecture a card describes, carrying (a copy of) the card.

    ``source="cnnlab"``: :func:`create` from the registry (the recorded classifier, pool and feature maps are the
    build's); ``"torchvision"``: ``torchvision.models.get_model(name, weights=None)`` wrapped with the card's
    normalisation; ``"module"``: ``module``, a fresh instance of the wrapped class the caller passes (a card
    never names code to import). An input adapter the card records (``kwargs["input_adapter"]``, see
    :mod:`cnnlab.transfer`) is put in front either way; change ``card.kwargs`` (e.g. ``num_classes``) first for
    another head. ``what`` names the card's origin in messages (a checkpoint path).
    """
    from cnnlab.models import _torchvision, _wrap
    from cnnlab.models._adapter import InputAdapter

    kwargs = dict(card.kwargs)
    if card.source == "cnnlab":
        if module is not None:
            raise ValueError(f"{what} holds the registry model {card.name!r}; module= is only for your own "
                             "wrapped module")
        if card.name not in MODELS:
            raise ValueError(f"{what} holds unknown model {card.name!r}")
        model = create(card.name, **kwargs)
        built = model.cnnlab  # the architecture's recorded parts (classifier, pool, features) are the build's
        model.cnnlab = dataclasses.replace(card, classifier=built.classifier, pool=built.pool,
                                           features=built.features)
        return model
    adapter = kwargs.pop("input_adapter", None)
    if card.source == "torchvision":
        try:
            net = _torchvision.build(card.name, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: cannot rebuild torchvision {card.name!r} ({exc})") from None
    elif card.source == "module":
        if module is None:
            raise ValueError(
                f"{what} holds your own module {card.module_class} (wrapped with cnnlab.models.wrap); a checkpoint "
                "never names code to run, so rebuild it in Python: cnnlab.models.load_checkpoint(PATH, "
                f"module={card.module_class.rsplit('.', 1)[-1]}(...))")
        if not isinstance(module, nn.Module) or isinstance(getattr(module, "cnnlab", None), ModelCard):
            raise TypeError("module must be a fresh instance of the wrapped nn.Module class (without a card)")
        if _wrap.module_class(module) != card.module_class:
            raise ValueError(f"{what} holds a {card.module_class}, got module= {_wrap.module_class(module)}")
        net = module
    else:
        raise ValueError(f"{what} has an unknown source {card.source!r}")
    model = _wrap.assemble(net, dataclasses.replace(card))
    if adapter:
        model.normalize = InputAdapter(model.normalize, **adapter)
    return model


def _check_state(path: Path, card: ModelCard, model: nn.Module, state: dict[str, Any]) -> None:
    """The weights fit the model the card describes (keys, the class count, shapes) and are finite."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {str(path)!r} does not fit model {card.name!r}: {len(missing)} missing and "
            f"{len(unexpected)} unexpected tensors" + _examples(missing, unexpected))
    if card.classes and card.num_classes != card.kwargs.get("num_classes", card.num_classes):
        raise ValueError(f"checkpoint {str(path)!r}: {CARD_FILE} lists {len(card.classes)} class names for a "
                         f"model built with {card.kwargs['num_classes']} outputs")
    head = f"{card.classifier}.weight" if card.classifier else None
    if head in state and state[head].shape != expected[head].shape:
        raise ValueError(f"checkpoint {str(path)!r}: {CARD_FILE} says {expected[head].shape[0]} classes, its "
                         f"weights have {state[head].shape[0]} ({head} is {_shape(state[head])})")
    for k, t in state.items():
        if t.shape != expected[k].shape:
            raise ValueError(f"checkpoint {str(path)!r}: tensor {k!r} is {_shape(t)} in {WEIGHTS_FILE}, the model "
                             f"{CARD_FILE} describes needs {_shape(expected[k])}")
    for k, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"checkpoint {str(path)!r} has NaN or infinite values in tensor {k!r}; refusing to "
                             "load it (was the training diverging?)")


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


def _examples(missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append("missing e.g. " + ", ".join(missing[:3]))
    if unexpected:
        parts.append("unexpected e.g. " + ", ".join(unexpected[:3]))
    return " (" + "; ".join(parts) + ")" if parts else ""


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu",
                    expect_model: str | None = None, module: nn.Module | None = None) -> nn.Module:
    """Rebuild a model from a checkpoint directory; the model comes back in eval mode.

    Args:
        path: the checkpoint directory (or ``model.json`` / ``model.safetensors`` in it).
        map_location: device for the weights.
        expect_model: when given, a checkpoint of another model raises ``ValueError``.
        module: for a checkpoint of your own wrapped module (:func:`cnnlab.models.wrap`), a fresh instance of
            its class; the checkpoint's weights and card go onto it.

    Raises:
        FileNotFoundError: no such directory.
        ValueError: not a checkpoint, weights that do not fit the card (missing or unexpected tensors, another
            class count, other shapes) or that hold NaN or infinity.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    device = resolve_device(map_location, "map_location")
    path = _checkpoint_dir(path)
    doc = read_checkpoint_meta(path)
    card = ModelCard.from_json(doc["card"])
    if expect_model is not None and card.name != expect_model:
        raise ValueError(f"checkpoint {str(path)!r} holds model {card.name!r}, not {expect_model!r}")
    model = rebuild(card, module=module, what=f"checkpoint {str(path)!r}")
    try:
        state = load_file(str(path / WEIGHTS_FILE), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"cannot read weights of checkpoint {str(path)!r}: {exc}") from None
    _check_state(path, model.cnnlab, model, state)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def load(spec: str | os.PathLike, *, weights: str | None = "DEFAULT", map_location: str | torch.device = "cpu",
         module: nn.Module | None = None) -> nn.Module:
    """A model from a registry name (with its default pretrained weights when it has some) or a checkpoint.

    A spec is a checkpoint path when it holds a path separator or a dot, starts with '.' or '~', or exists;
    otherwise it is a registry name. The model comes back in eval mode.

    Raises:
        FileNotFoundError: a path that does not exist ("no such checkpoint directory").
        ValueError: an unknown registry name (with the closest names), a file that is not a checkpoint.
    """
    spec_s = str(spec)
    if not _is_path(spec_s):
        if spec_s not in MODELS:
            MODELS.lookup(spec_s)  # raises "unknown model ... did you mean"
        has = MODELS.info(spec_s)["weights"]
        device = resolve_device(map_location, "map_location")
        return create(spec_s, weights=weights if has else None).to(device).eval()
    return load_checkpoint(spec_s, map_location=map_location, module=module)


def _unwrap(model: nn.Module) -> nn.Module:
    # DDP / torch.compile wrappers keep the real module inside
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
    return inner if isinstance(inner, nn.Module) else model
