"""The studio's models: what it offers (the catalogue), loaded once and cached, one lock per model.

The catalogue lists every registry model with pretrained weights, the small-input registry models with random
weights (labelled so: their predictions mean nothing, their architecture and maps still teach), and the
checkpoints found under ``--runs``, named ``run:ID`` where ID is the checkpoint's folder relative to the runs
folder. Each entry has a ``task``: ``"classifier"`` (registry models, ``cnnlab train`` / ``transfer`` runs),
``"detector"`` (``cnnlab train-detector`` runs: ``detector.json`` + ``detector.safetensors``) or ``"segmenter"``
(``cnnlab train-segmenter`` runs: a checkpoint whose card names a segmenter). A panel asks for the task it
serves (:meth:`ModelStore.get`), so a detector sent to the Predict panel is a 422 naming the panel to use, not
a crash inside a classifier function. A client names a model only by these names; a run ID is looked up in the
scanned table and never joined to a path, so ``run:../../etc`` is simply unknown (404).

Explanations and attacks change a model's state while they run (eval mode, ``requires_grad``, hooks) and restore
it afterwards; two requests on one model object must not interleave those changes, so every use of a cached
model holds that model's lock (:meth:`LoadedModel.use`). Different models run in parallel. Long jobs take a
private copy (:meth:`ModelStore.private_copy`) and hold no lock while they run, so they never block a predict.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.studio._params import not_found

RUN_PREFIX = "run:"
_SKIP_DIRS = {"state", "tb", "__pycache__"}  # training states and TensorBoard logs are not models to show
_MAX_DEPTH = 4


@dataclass
class ModelEntry:
    """One model of the catalogue.

    Attributes:
        name: what the API takes: a registry name or ``run:ID``.
        kind: ``"registry"`` or ``"run"``.
        label: what the page shows.
        pretrained: whether the weights were trained (random weights are ``False``).
        family, input_size, num_classes: from the registry or the checkpoint's card (a detector's family is its
            architecture, e.g. ``faster-rcnn``; its input size is ``None``: it takes any size).
        task: ``"classifier"``, ``"detector"`` or ``"segmenter"``.
    """

    name: str
    kind: str
    label: str
    pretrained: bool
    family: str
    input_size: list[int] | None
    num_classes: int | None
    task: str = "classifier"
    path: Path | None = field(default=None, repr=False)  # runs only; never sent to a client

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "task": self.task, "label": self.label,
                "pretrained": self.pretrained, "family": self.family, "input_size": self.input_size,
                "num_classes": self.num_classes}

    @property
    def weights_file(self) -> str:
        return "detector.safetensors" if self.task == "detector" else "model.safetensors"


class LoadedModel:
    """A cached model, its catalogue entry, its lock, and per-model caches (summaries)."""

    def __init__(self, entry: ModelEntry, model: nn.Module, stamp: Any = None) -> None:
        self.entry = entry
        self.model = model
        self.stamp = stamp
        self.lock = threading.Lock()
        self.cache: dict[Any, Any] = {}

    def __repr__(self) -> str:
        return f"LoadedModel({self.entry.name!r})"

    @property
    def name(self) -> str:
        return self.entry.name

    @contextlib.contextmanager
    def use(self) -> Iterator[nn.Module]:
        """The model, for the length of the block, to this thread alone."""
        with self.lock:
            yield self.model


class ModelStore:
    """The catalogue and a bounded LRU cache of loaded models.

    Args:
        runs_dir: folder scanned for checkpoints (``None``: registry models only).
        max_models: models kept loaded; the least recently used is dropped first.
        random_small: list the small-input registry models with random weights.
        device: where models run.
    """

    def __init__(self, runs_dir: str | os.PathLike | None = None, *, max_models: int = 4, random_small: bool = True,
                 device: str = "cpu") -> None:
        self.runs_dir = Path(runs_dir).resolve() if runs_dir is not None else None
        if self.runs_dir is not None and not self.runs_dir.is_dir():
            raise ValueError(f"runs folder {str(runs_dir)!r} is not a directory")
        self.max_models = max_models
        self.random_small = random_small
        self.device = device
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()       # guards _loaded and _runs
        self._load_lock = threading.Lock()  # one load at a time (no model loaded twice)
        self._runs: dict[str, ModelEntry] = {}

    def __repr__(self) -> str:
        return f"ModelStore(runs_dir={str(self.runs_dir)!r}, loaded={list(self._loaded)})"

    # -- the catalogue --------------------------------------------------------------------------------------
    def registry_entries(self) -> list[ModelEntry]:
        from cnnlab import models

        out = []
        for name in models.names():
            meta = models.info(name)
            weights = meta["weights"]
            if weights:
                w = next(iter(weights.values()))
                out.append(ModelEntry(name, "registry", f"{name} ({w.name} weights)", True, meta["family"],
                                      list(w.input_size), len(w.categories)))
            elif meta["small"] and self.random_small:
                out.append(ModelEntry(name, "registry", f"{name} (random weights, untrained)", False, meta["family"],
                                      list(meta["input_size"]), 10))
        return out

    def scan_runs(self) -> dict[str, ModelEntry]:
        """Find the checkpoints under the runs folder (at most 4 levels deep, symbolic links not followed):
        classifiers and segmenters (``model.json`` + ``model.safetensors``) and detectors (``detector.json`` +
        ``detector.safetensors``)."""
        from cnnlab import models, segment

        found: dict[str, ModelEntry] = {}
        if self.runs_dir is None:
            return found
        root = self.runs_dir
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath)
            depth = len(here.relative_to(root).parts)
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            if depth >= _MAX_DEPTH:
                dirnames[:] = []
            run_id = here.relative_to(root).as_posix() if here != root else "."
            if "detector.json" in filenames and "detector.safetensors" in filenames:
                entry = _detector_entry(here, RUN_PREFIX + run_id)
                if entry is not None:
                    found[entry.name] = entry
                continue
            if "model.json" not in filenames or "model.safetensors" not in filenames:
                continue
            try:
                card = models.read_checkpoint_meta(here)["card"]
            except (ValueError, OSError):
                continue  # not a readable checkpoint: not offered
            if card.get("name") in segment.SEGMENTERS:
                n = card.get("kwargs", {}).get("num_classes")
                found[RUN_PREFIX + run_id] = ModelEntry(
                    RUN_PREFIX + run_id, "run", f"{RUN_PREFIX}{run_id} (segmenter {card['name']}, {_classes(n)})", True,
                    card["name"], list(card["input_size"]), n, "segmenter", path=here)
                continue
            classes = card.get("classes")
            n = len(classes) if classes else card.get("kwargs", {}).get("num_classes")
            try:
                family = models.info(card["name"])["family"]
            except (ValueError, KeyError, TypeError):
                continue  # a checkpoint of a model this version does not know
            found[RUN_PREFIX + run_id] = ModelEntry(
                RUN_PREFIX + run_id, "run", f"{RUN_PREFIX}{run_id} ({card['name']}, {n} classes)", True, family,
                list(card["input_size"]), n, path=here)
        with self._lock:
            self._runs = found
        return found

    def catalog(self, task: str | None = None) -> list[ModelEntry]:
        """Every model the studio offers (runs rescanned), or those of one ``task``."""
        entries = [*self.registry_entries(), *self.scan_runs().values()]
        return entries if task is None else [e for e in entries if e.task == task]

    def entry(self, name: str) -> ModelEntry:
        """The catalogue entry of ``name``; 404 when the studio does not offer it."""
        if not isinstance(name, str):
            raise TypeError(f"model must be a name, got {type(name).__name__}")
        if name.startswith(RUN_PREFIX):
            with self._lock:
                hit = self._runs.get(name)
            if hit is None:
                hit = self.scan_runs().get(name)  # a run that appeared since the last listing
            inside = hit is not None and self.runs_dir is not None and hit.path is not None \
                and hit.path.resolve().is_relative_to(self.runs_dir)  # a link swapped in since the scan is refused
            if not inside:
                known = ", ".join(sorted(self._runs)) or "none"
                raise not_found(f"unknown model {name[:80]!r} (runs: {known})")
            return hit
        for e in self.registry_entries():
            if e.name == name:
                return e
        import difflib

        offered = [e.name for e in self.registry_entries()]
        close = difflib.get_close_matches(name, offered, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; offered: {', '.join(offered)}"
        raise not_found(f"unknown model {name[:80]!r}{hint}")

    # -- loading --------------------------------------------------------------------------------------------
    def get(self, name: str, task: str = "classifier") -> LoadedModel:
        """The loaded model ``name`` (loaded on first use, then cached); a model of another ``task`` than the
        caller serves is a ``ValueError`` (422) naming the panel that takes it."""
        entry = self.entry(name)
        if entry.task != task:
            raise ValueError(f"model {name[:80]!r} is a {entry.task}, not a {task}: "
                             f"{_WHERE[entry.task]}")
        stamp = _stamp(entry)
        with self._lock:
            hit = self._loaded.get(name)
            if hit is not None and hit.stamp == stamp:
                self._loaded.move_to_end(name)
                return hit
        with self._load_lock:
            with self._lock:  # loaded by another thread while this one waited
                hit = self._loaded.get(name)
                if hit is not None and hit.stamp == stamp:
                    return hit
            loaded = LoadedModel(entry, self._load(entry), stamp)
            with self._lock:
                self._loaded[name] = loaded
                self._loaded.move_to_end(name)
                while len(self._loaded) > self.max_models:
                    self._loaded.popitem(last=False)  # a request still holding it finishes with its reference
        return loaded

    def _load(self, entry: ModelEntry) -> nn.Module:
        from cnnlab import models

        if entry.task == "detector":
            from cnnlab import detect

            return detect.load_detector(entry.path, map_location=self.device).eval()
        if entry.task == "segmenter":
            from cnnlab import segment

            return segment.load(entry.path, map_location=self.device).eval()
        if entry.kind == "run":
            return models.load_checkpoint(entry.path, map_location=self.device).eval()
        if entry.pretrained:
            return models.load(entry.name, map_location=self.device).eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same random weights every time the studio starts
            return models.create(entry.name).to(self.device).eval()

    def loaded_names(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def private_copy(self, name: str, task: str = "classifier") -> nn.Module:
        """A deep copy of the model for a long job, which then runs without holding the model's lock."""
        loaded = self.get(name, task)
        with loaded.use() as model:
            return copy.deepcopy(model)


def _stamp(entry: ModelEntry) -> Any:
    """What says a cached model is still current: a run's weights file modification time."""
    if entry.kind != "run" or entry.path is None:
        return None
    try:
        return (entry.path / entry.weights_file).stat().st_mtime_ns
    except OSError:
        return None


_WHERE = {"classifier": "use it in the Predict, Architecture, Explain or Attack panels (or segments from gradients)",
          "detector": "use it in the Detect panel (POST /api/detect)",
          "segmenter": "use it in the Segment panel (POST /api/segment)"}


def _detector_entry(here: Path, name: str) -> ModelEntry | None:
    """The catalogue entry of a detector checkpoint folder, or ``None`` when it is not a readable one."""
    from cnnlab import detect

    try:
        card = detect.read_detector_meta(here)["card"]
        n = len(card["classes"]) if card.get("classes") else int(card["num_classes"])
        arch = str(card["name"])
    except (ValueError, OSError, KeyError, TypeError):
        return None
    return ModelEntry(name, "run", f"{name} (detector {arch}, {_classes(n)})", True, arch, None, n, "detector",
                      path=here)


def _classes(n: int | None) -> str:
    return "1 class" if n == 1 else f"{n} classes"
