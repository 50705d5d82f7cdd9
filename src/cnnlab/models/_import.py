"""Importing a classifier trained elsewhere: a state dict of a cnnlab registry architecture or of a torchvision
classification architecture becomes a cnnlab model with a card (``cnnlab import ARCH WEIGHTS --out RUN``).

The weights file is read without running code: ``torch.load(path, weights_only=True)`` (plain tensors and
containers only; a pickle that refers to code is refused) or safetensors. The state dict must fit the
architecture exactly (strict keys and shapes, finite values); the class count comes from ``classes`` or from the
classifier's weight.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab.models._api import MODELS, card_of, create

_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """A state dict from a ``.pth`` / ``.pt`` / ``.bin`` file (``torch.load(..., weights_only=True)``) or a
    ``.safetensors`` file, without unpickling code.

    A dict holding the state dict under ``state_dict`` / ``model_state_dict`` / ``model`` (training scripts'
    checkpoints) is opened, and a ``module.`` prefix on every key (DistributedDataParallel) is removed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that is not a plain state dict (a pickle referring to code, a whole pickled model,
            anything but tensors), unreadable or empty.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such weights file: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not a weights file (a cnnlab checkpoint needs no import)")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable safetensors file ({_first_line(exc)})") from None
    else:
        import pickle
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Detected pickle protocol 4 ..."
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(f"{str(path)!r} is not a plain state dict: {_refusal(exc)}. cnnlab never unpickles "
                             "code; save the weights with torch.save(model.state_dict(), path) or as "
                             ".safetensors") from None
        except (RuntimeError, EOFError, AttributeError, ValueError, TypeError, ImportError, IndexError,
                KeyError, OSError) as exc:
            raise ValueError(f"{str(path)!r} is not a readable weights file ({_first_line(exc)})") from None
    if isinstance(obj, dict) and not _all_tensors(obj):
        inner = [obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict) and _all_tensors(obj[k])]
        if inner:
            obj = inner[0]
    if not isinstance(obj, dict) or not obj or not _all_tensors(obj):
        what = type(obj).__name__ if not isinstance(obj, dict) else "a dict of other things than tensors"
        raise ValueError(f"{str(path)!r} holds {what}, not a state dict (names -> tensors)")
    keys = list(obj)
    if all(k.startswith("module.") for k in keys):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _refusal(exc: BaseException) -> str:
    """Why the weights-only unpickler refused a file, in a few words (its own message suggests loading with
    ``weights_only=False``, which is exactly what must not happen)."""
    import re

    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return f"it refers to code ({found.group(1)})"
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    why = detail.group(1).strip() if detail else "objects other than tensors"
    return f"it holds something other than tensors (the weights-only unpickler: {why}), possibly code"


def _all_tensors(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in d.items())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def resolve_arch(arch: str) -> tuple[str, str]:
    """``(source, name)`` of an architecture spec: a cnnlab registry name (``"cnnlab"``), else a torchvision
    classification architecture (``"torchvision"``); ``torchvision:NAME`` picks torchvision's where both have
    the name (resnet18, vgg16, alexnet, googlenet, ...)."""
    from cnnlab.models import _torchvision

    if not isinstance(arch, str) or not arch:
        raise ValueError(f"architecture must be a name, got {arch!r}")
    if arch.startswith("torchvision:"):
        name = arch.split(":", 1)[1]
        if name not in _torchvision.names():
            raise ValueError(f"unknown torchvision classification architecture {name!r}")
        return "torchvision", name
    if arch in MODELS:
        return "cnnlab", arch
    if arch in _torchvision.names():
        return "torchvision", arch
    import difflib

    close = difflib.get_close_matches(arch, MODELS.names() + _torchvision.names(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown architecture {arch!r}: neither a cnnlab model (cnnlab models) nor a torchvision "
                     f"classification architecture{hint}")


def _class_spec(classes: int | Sequence[str] | None) -> tuple[int | None, list[str] | None]:
    if classes is None:
        return None, None
    if isinstance(classes, int) and not isinstance(classes, bool):
        if classes < 1:
            raise ValueError(f"classes must be a positive count, got {classes}")
        return classes, None
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
        raise ValueError(f"classes must be a count or a non-empty list of names, got {classes!r}")
    names = [str(c) for c in classes]
    return len(names), names


def _fit(path: Path, arch: str, net: nn.Module, state: dict[str, Tensor], head: str | None, k: int) -> None:
    """Strict keys, the class count, shapes and finite values, each with a message naming what differs."""
    from cnnlab.models._checkpoint import _examples, _shape

    expected = net.state_dict()
    missing = [n for n in expected if n not in state]
    unexpected = [n for n in state if n not in expected]
    if missing or unexpected:
        raise ValueError(f"{str(path)!r} does not fit {arch}: {len(missing)} missing and {len(unexpected)} "
                         f"unexpected tensors" + _examples(missing, unexpected))
    w = f"{head}.weight" if head else None
    if w in state and state[w].shape[0] != expected[w].shape[0]:
        raise ValueError(f"{str(path)!r} has {state[w].shape[0]} classes ({w} is {_shape(state[w])}), but {k} "
                         "classes were asked for")
    for n, t in state.items():
        if t.shape != expected[n].shape:
            raise ValueError(f"{str(path)!r}: tensor {n!r} is {_shape(t)}, {arch} with this input and class count "
                             f"needs {_shape(expected[n])}")
    for n, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{str(path)!r} has NaN or infinite values in tensor {n!r}")


def import_weights(arch: str, weights: str | os.PathLike, *, classes: int | Sequence[str] | None = None,
                   input_size: Sequence[int] | None = None, mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> nn.Module:
    """A cnnlab model (in eval mode, with a card) from a state dict of a known architecture.

    Args:
        arch: a cnnlab registry name (:func:`cnnlab.models.names`), a torchvision classification architecture
            (``torchvision.models.list_models()``, built with ``weights=None``: nothing is downloaded), or
            ``torchvision:NAME`` where both have the name.
        weights: the state-dict file (``.pth`` / ``.pt`` / ``.bin`` read with ``weights_only=True``, or
            ``.safetensors``); see :func:`read_state_dict`.
        classes: the class count or the class names (default: the classifier weight's row count, unnamed).
        input_size: ``(C, H, W)`` (default: the registry's, or torchvision's weights' crop size, 3x224x224 for
            most).
        mean, std: the normalisation on [0, 1] pixels the weights were trained with (default: the registry
            builder's, (x - 0.5) / 0.5; for torchvision architectures ImageNet's, as torchvision's own weights).

    Returns:
        The model; :func:`cnnlab.models.save_checkpoint` writes a checkpoint that :func:`cnnlab.models.load`
        rebuilds (a torchvision architecture from its name).

    Raises:
        FileNotFoundError / ValueError: a missing or non-state-dict file, an unknown architecture, weights that
        do not fit it (missing and unexpected tensors counted, another class count, another shape), non-finite
        values, an input size the network cannot take.

    Example:
        >>> torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), "r18.pth")  # doctest: +SKIP
        >>> m = import_weights("torchvision:resnet18", "r18.pth")                          # doctest: +SKIP
    """
    from cnnlab.models import _torchvision, _wrap
    from cnnlab.models._inputs import check_input_size

    source, name = resolve_arch(arch)
    path = Path(weights).expanduser()
    state = read_state_dict(path)
    k, names = _class_spec(classes)
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (or neither)")
    if source == "cnnlab":
        meta = MODELS.info(name)
        size = tuple(input_size) if input_size is not None else tuple(meta["input_size"])
        with torch.device("meta"):
            probe = create(name, in_channels=size[0])
        head = card_of(probe).classifier
        if k is None:
            k = _rows(state, head) or (10 if meta["small"] else 1000)  # no head: the key check below says why
        kwargs: dict[str, Any] = {}
        if mean is not None:
            kwargs.update(mean=tuple(mean), std=tuple(std))
        model = create(name, num_classes=k, in_channels=size[0], **kwargs)
        _fit(path, name, model, state, head, k)
        model.load_state_dict(state, strict=True)
        card = card_of(model)
        card.classes, card.input_size = names, (size[0], size[1], size[2])
    else:
        prep = _torchvision.preprocessing(name)
        size = tuple(input_size) if input_size is not None else prep["input_size"]
        if len(size) != 3 or size[0] != 3:
            raise ValueError(f"input size {'x'.join(map(str, size))}: torchvision {name} takes 3-channel images "
                             "(C x H x W with C = 3)")
        head = _torchvision.classifier(name)
        if k is None:
            k = _rows(state, head) or 1000  # no head: the key check below says why
        net = _torchvision.build(name, num_classes=k)
        _fit(path, f"torchvision {name}", net, state, head, k)
        net.load_state_dict(state, strict=True)
        st = _torchvision.structure(name, net)
        resize = round(size[1] * prep["resize_size"] / prep["input_size"][1])
        card = _wrap.make_card(
            net, num_classes=k, classes=names, input_size=size,
            mean=list(mean) if mean is not None else list(prep["mean"]),
            std=list(std) if std is not None else list(prep["std"]),
            classifier=st["classifier"], pool=st["pool"], features=st["features"], name=name, source="torchvision",
            resize_size=resize, interpolation=prep["interpolation"])
        if len(card.mean) != size[0]:
            raise ValueError(f"mean and std must have one value per input channel ({size[0]}), got "
                             f"{len(card.mean)}")
        model = _wrap.assemble(net, card)
    if names is not None and len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} classes")
    check_input_size(model, size, what="input size")
    return model.eval()


def _rows(state: dict[str, Tensor], head: str | None) -> int | None:
    """The class count the classifier's weight holds (``None`` when the file has no such tensor)."""
    w = state.get(f"{head}.weight") if head else None
    return int(w.shape[0]) if isinstance(w, Tensor) and w.dim() >= 1 else None
