"""The shape-vs-texture bias of ImageNet classifiers (Geirhos, Rubisch, Michaelis, Bethge, Wichmann & Brendel,
"ImageNet-trained CNNs are biased towards texture; increasing shape bias improves accuracy and robustness",
ICLR 2019).

A cue-conflict image has the shape of one of 16 entry-level classes and the texture of another (a cat with
elephant skin, made by style transfer). A classifier's decision among the 16 classes is the class whose ImageNet
classes have the highest *mean* softmax probability. Over the images whose shape and texture classes differ,
``shape bias = shape decisions / (shape decisions + texture decisions)``; decisions that are neither are counted
apart. The class -> ImageNet indices mapping below is the paper's (``code/helper/human_categories.py``, the
``*_indices`` lists), re-typed here; the paper's own raw decisions reproduce its figures with
:func:`shape_bias_from_decisions`.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab import models
from cnnlab._checks import check_int

# the 16 entry-level classes (sorted, as the paper's code orders them: ties go to the first)
CATEGORIES = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck")

# ImageNet-1k output indices of each class (Geirhos et al., code/helper/human_categories.py)
IMAGENET_INDICES: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 94,
             95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140, 141, 142, 143,
             144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": tuple(range(152, 192)) + tuple(range(193, 204)) + tuple(range(205, 227)) + tuple(range(228, 242))
    + tuple(range(243, 251)) + tuple(range(252, 258)) + (259,) + tuple(range(261, 264)) + tuple(range(265, 269)),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}

CUE_CONFLICT_DIR = "style-transfer-preprocessed-512"
_IMAGE_EXT = (".png", ".jpg", ".jpeg")
_NAME = re.compile(r"^([a-z]+)\d+-([a-z]+)\d+$")


@dataclass
class Decision:
    """One cue-conflict image: its shape and texture classes and the 16-class decision."""

    image: str
    shape: str
    texture: str
    decision: str

    @property
    def kind(self) -> str:
        """``"shape"``, ``"texture"`` or ``"other"``."""
        return "shape" if self.decision == self.shape else "texture" if self.decision == self.texture else "other"


@dataclass
class ShapeBiasResult:
    """Shape bias of one observer (a model, or a pool of human subjects).

    Attributes:
        name: the observer.
        decisions: every cue-conflict image's :class:`Decision` (also those whose shape and texture agree).
        shape_bias: shape / (shape + texture) decisions over the conflict images (shape != texture).
        per_class: the same per shape class (NaN where a class has no shape or texture decision).
        shape_fraction, texture_fraction, other_fraction: shares of all conflict decisions.
        conflict_images: how many images had shape != texture.
        silhouette_accuracy, edge_accuracy: 16-class accuracy on the filled silhouettes and the edge images (None
            when not measured: the paper's raw files hold cue-conflict decisions only).
    """

    name: str
    decisions: list[Decision]
    shape_bias: float
    per_class: dict[str, float]
    shape_fraction: float
    texture_fraction: float
    other_fraction: float
    conflict_images: int
    silhouette_accuracy: float | None = None
    edge_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v:.1%}" for k, v in (("silhouettes", self.silhouette_accuracy),
                                                       ("edges", self.edge_accuracy)) if v is not None)
        return (f"ShapeBiasResult({self.name!r}: shape bias {self.shape_bias:.1%} over {self.conflict_images} "
                f"conflict images, neither {self.other_fraction:.1%}{extra})")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape_bias": self.shape_bias, "per_class": self.per_class,
                "shape_fraction": self.shape_fraction, "texture_fraction": self.texture_fraction,
                "other_fraction": self.other_fraction, "conflict_images": self.conflict_images,
                "silhouette_accuracy": self.silhouette_accuracy, "edge_accuracy": self.edge_accuracy,
                "notes": list(self.notes)}


def category_probabilities(probabilities: Tensor) -> Tensor:
    """``Tensor[N, 1000]`` ImageNet softmax probabilities -> ``Tensor[N, 16]``: the mean probability of each
    class's ImageNet indices (columns in :data:`CATEGORIES` order)."""
    if not isinstance(probabilities, Tensor) or probabilities.dim() != 2 or probabilities.shape[1] != 1000:
        got = tuple(probabilities.shape) if isinstance(probabilities, Tensor) else type(probabilities).__name__
        raise ValueError(f"probabilities must be ImageNet softmax outputs Tensor[N, 1000], got {got}")
    return torch.stack([probabilities[:, list(IMAGENET_INDICES[c])].mean(1) for c in CATEGORIES], 1)


def decisions_from_probabilities(probabilities: Tensor) -> list[str]:
    """The 16-class decision of each row of ImageNet probabilities ``Tensor[N, 1000]`` (argmax of
    :func:`category_probabilities`; a tie goes to the first class alphabetically, as in the paper's code)."""
    return [CATEGORIES[int(i)] for i in category_probabilities(probabilities).argmax(1)]


def parse_stimulus(name: str) -> tuple[str, str]:
    """``"cat1-elephant2.png"`` (or the paper's ``"0001_s5n_dnn_0_cat_00_cat1-elephant2.png"``) -> ``("cat",
    "elephant")``: the shape and the texture class."""
    stem = Path(name).stem.rsplit("_", 1)[-1]
    m = _NAME.match(stem)
    if not m or m.group(1) not in CATEGORIES or m.group(2) not in CATEGORIES:
        raise ValueError(f"{name!r} is not a cue-conflict stimulus name '<shape><i>-<texture><j>' of the 16 classes")
    return m.group(1), m.group(2)


def score(decisions: Sequence[Decision], name: str) -> ShapeBiasResult:
    """Shape bias, per-class shape bias and decision shares of a list of decisions."""
    conflict = [d for d in decisions if d.shape != d.texture]
    if not conflict:
        raise ValueError(f"{name}: no cue-conflict decisions (every image has shape == texture)")
    kinds = [d.kind for d in conflict]
    n_s, n_t = kinds.count("shape"), kinds.count("texture")
    per_class = {}
    for c in CATEGORIES:
        k = [d.kind for d in conflict if d.shape == c]
        s, t = k.count("shape"), k.count("texture")
        per_class[c] = s / (s + t) if s + t else math.nan
    n = len(conflict)
    return ShapeBiasResult(name=name, decisions=list(decisions),
                           shape_bias=n_s / (n_s + n_t) if n_s + n_t else math.nan, per_class=per_class,
                           shape_fraction=n_s / n, texture_fraction=n_t / n, other_fraction=(n - n_s - n_t) / n,
                           conflict_images=n)


def shape_bias_from_decisions(csv_path: str | os.PathLike | Sequence[str | os.PathLike], *,
                              name: str | None = None) -> ShapeBiasResult:
    """Score decision files in the paper's raw-data format (columns ``object_response``, ``category``,
    ``imagename``; one row per trial); several files are pooled (the paper's humans: ten subjects).

    Example:
        >>> r = shape_bias_from_decisions("raw-data/.../..._vgg_session_1.csv")  # doctest: +SKIP
        >>> round(100 * r.shape_bias, 1)  # doctest: +SKIP
        17.2
    """
    paths = [csv_path] if isinstance(csv_path, (str, os.PathLike)) else list(csv_path)
    if not paths:
        raise ValueError("csv_path must name at least one decisions file")
    decisions = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise FileNotFoundError(f"no such decisions file: {str(p)!r}")
        with open(p, newline="") as f:
            reader = csv.DictReader(f)
            need = {"object_response", "category", "imagename"}
            if not reader.fieldnames or not need <= set(reader.fieldnames):
                raise ValueError(f"{str(p)!r} is not a decisions file in the paper's format (columns "
                                 f"{', '.join(sorted(need))}; got {', '.join(reader.fieldnames or [])})")
            for row in reader:
                shape, tex = parse_stimulus(row["imagename"])
                if shape != row["category"]:
                    raise ValueError(f"{str(p)!r}: image {row['imagename']!r} has category {row['category']!r}")
                decisions.append(Decision(row["imagename"], shape, tex, row["object_response"]))
    if name is None:
        subj = {Path(p).name.split("_")[1] for p in paths if "_" in Path(p).name}
        name = "humans" if len(paths) > 1 and all(s.startswith("subject") for s in subj) else Path(paths[0]).stem
    return score(decisions, name)


def paper_results(raw_dir: str | os.PathLike) -> dict[str, ShapeBiasResult]:
    """The paper's observers from its ``raw-data`` folder: AlexNet, VGG-16, GoogLeNet (Caffe), ResNet-50
    (torchvision) and the ten human subjects pooled."""
    raw = Path(raw_dir)
    main = raw / "style-transfer-512-nomask-experiment"
    cnns = raw / "style-transfer-512-nomask-experiment-trained-CNNs"
    if not main.is_dir():
        raise ValueError(f"{str(raw)!r} has no style-transfer-512-nomask-experiment/ folder (the paper's raw-data)")
    files = {"AlexNet": main / "style-transfer-512-nomask-experiment_alexnet_session_1.csv",
             "GoogLeNet": main / "style-transfer-512-nomask-experiment_googlenet_session_1.csv",
             "VGG-16": main / "style-transfer-512-nomask-experiment_vgg_session_1.csv",
             "ResNet-50": cnns / "style-transfer-512-nomask-experiment_resnet50_session-1.csv"}
    out = {k: shape_bias_from_decisions(v, name=k) for k, v in files.items()}
    humans = sorted(main.glob("style-transfer-512-nomask-experiment_subject-*_session_1.csv"))
    if not humans:
        raise ValueError(f"{str(main)!r} has no subject-*.csv decision files")
    out["humans"] = shape_bias_from_decisions(humans, name="humans")
    return out


@dataclass
class Stimuli:
    """Where the three stimulus sets lie: cue-conflict ``<shape>/<shape><i>-<texture><j>.<ext>`` files, and
    (when present) filled silhouettes and edge images ``<class>/<class><i>.<ext>``."""

    cue_conflict: dict[str, list[Path]]
    silhouettes: dict[str, list[Path]] | None
    edges: dict[str, list[Path]] | None


def _class_folders(root: Path, what: str) -> dict[str, list[Path]]:
    missing = [c for c in CATEGORIES if not (root / c).is_dir()]
    if missing:
        raise ValueError(f"{what} folder {str(root)!r} lacks the class folders {', '.join(missing)} (expected "
                         f"one folder per class: {', '.join(CATEGORIES)})")
    out = {c: sorted(p for p in (root / c).iterdir() if p.suffix.lower() in _IMAGE_EXT) for c in CATEGORIES}
    empty = [c for c, v in out.items() if not v]
    if empty:
        raise ValueError(f"{what} folder {str(root)!r} has no images in {', '.join(empty)}")
    return out


def find_stimuli(stimuli_dir: str | os.PathLike) -> Stimuli:
    """Locate Geirhos et al.'s stimuli: the data set's root (with ``stimuli/``), its ``stimuli/`` folder (with
    ``style-transfer-preprocessed-512/``, ``filled-silhouettes/``, ``edges/``) or the cue-conflict folder itself
    (16 class folders). Anything else is a ``ValueError`` saying what was expected."""
    root = Path(stimuli_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no such stimuli folder: {str(root)!r}")
    if (root / "stimuli").is_dir():
        root = root / "stimuli"
    if (root / CUE_CONFLICT_DIR).is_dir():
        cue_root, base = root / CUE_CONFLICT_DIR, root
    elif all((root / c).is_dir() for c in CATEGORIES[:2]):
        cue_root, base = root, root.parent
    else:
        raise ValueError(f"stimuli folder {str(root)!r} has neither {CUE_CONFLICT_DIR}/ nor the 16 class folders "
                         f"({', '.join(CATEGORIES[:3])}, ...): expected Geirhos et al.'s layout, e.g. "
                         "texture-vs-shape/stimuli")
    cue = _class_folders(cue_root, "cue-conflict")
    for c, files in cue.items():
        for p in files:
            shape, _ = parse_stimulus(p.name)
            if shape != c:
                raise ValueError(f"cue-conflict image {str(p)!r} has shape {shape!r} but lies in folder {c!r}")
    extra = {}
    for key, sub in (("silhouettes", "filled-silhouettes"), ("edges", "edges")):
        extra[key] = _class_folders(base / sub, sub) if (base / sub).is_dir() else None
    return Stimuli(cue_conflict=cue, **extra)


def _take(files: dict[str, list[Path]], per_class: int | None) -> list[tuple[str, Path]]:
    return [(c, p) for c in CATEGORIES for p in (files[c] if per_class is None else files[c][:per_class])]


@torch.no_grad()
def _classify(model: nn.Module, paths: list[Path], batch_size: int, progress: Callable[[int], None] | None
              ) -> list[str]:
    from cnnlab.data import load_image
    from cnnlab.style._transfer import as_rgb

    card = models.card_of(model)
    c, h, w = card.input_size
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    out: list[str] = []
    for i in range(0, len(paths), batch_size):
        imgs = []
        for p in paths[i:i + batch_size]:
            img = as_rgb(load_image(p), str(p))
            if tuple(img.shape[-2:]) != (h, w):  # the 224x224 stimuli at the network's own input size, no crop
                img = F.interpolate(img[None], size=(h, w), mode="bicubic", antialias=True,
                                    align_corners=False)[0].clamp(0, 1)
            imgs.append(img)
        probs = model(torch.stack(imgs).to(dev)).float().softmax(-1).cpu()
        out += decisions_from_probabilities(probs)
        if progress is not None:
            progress(len(imgs))
    return out


def shape_bias(model: nn.Module | str, stimuli_dir: str | os.PathLike, *, max_per_class: int | None = None,
               batch_size: int = 32, progress: Callable[[int], None] | None = None,
               name: str | None = None) -> ShapeBiasResult:
    """Measure a cnnlab ImageNet classifier's shape bias on Geirhos et al.'s cue-conflict images, and its 16-class
    accuracy on the filled silhouettes and the edge images when the folder has them.

    Each 224x224 stimulus is resized (bicubic) to the model's input size without cropping (Lite1: 240, Lite2: 260;
    the paper fed 224 to its CNNs) and classified under :func:`models.frozen` (the model is given back as it was).

    Args:
        model: a model with 1000 ImageNet outputs (registry name, checkpoint or module with a cnnlab card).
        stimuli_dir: see :func:`find_stimuli`.
        max_per_class: use only the first this many images of each class (quick checks; default all 1,280).
        batch_size: images per forward pass.
        progress: called with the number of images done after each batch.

    Note:
        The copy of the stimuli in ``../shared/data/texture-vs-shape`` is a JPEG re-encoding (quality 95) of the
        paper's PNGs; measured on a pretrained classifier it moves the shape bias by under one point.
    """
    from cnnlab.style._transfer import resolve_model

    net = resolve_model(model)
    card = models.card_of(net)
    outputs = len(card.classes) if card.classes is not None else card.kwargs.get("num_classes")
    if outputs != 1000:
        raise ValueError(f"shape bias needs a classifier with the 1000 ImageNet outputs; model {card.name!r} has "
                         f"{outputs}")
    if card.input_size[0] != 3:
        raise ValueError(f"shape bias needs an RGB model; {card.name!r} takes {card.input_size[0]}-channel images")
    if max_per_class is not None:
        check_int("max_per_class", max_per_class)
    check_int("batch_size", batch_size)
    stim = find_stimuli(stimuli_dir)
    items = _take(stim.cue_conflict, max_per_class)
    with models.frozen(net):
        answers = _classify(net, [p for _, p in items], batch_size, progress)
        decisions = [Decision(p.name, *parse_stimulus(p.name), a) for (_, p), a in zip(items, answers)]
        result = score(decisions, name or card.name)
        for attr, files in (("silhouette_accuracy", stim.silhouettes), ("edge_accuracy", stim.edges)):
            if files is not None:
                pairs = _take(files, max_per_class)
                got = _classify(net, [p for _, p in pairs], batch_size, progress)
                setattr(result, attr, sum(g == c for g, (c, _) in zip(got, pairs)) / len(pairs))
    result.notes.append(f"{len(items)} cue-conflict images from {str(Path(stimuli_dir))!r}")
    return result


# marker and colour per observer in the paper's figure style; cnnlab's models get the remaining ones
_PAPER_STYLE = {"humans": ("D", "#d62728"), "AlexNet": ("o", "#9467bd"), "GoogLeNet": ("o", "#8c564b"),
                "VGG-16": ("o", "#1f77b4"), "ResNet-50": ("o", "#7f7f7f")}
_OWN_STYLE = [("s", "#2ca02c"), ("^", "#ff7f0e"), ("v", "#17becf"), ("P", "#bcbd22"), ("X", "#e377c2")]


def plot_shape_bias(results: Sequence[ShapeBiasResult], *, title: str | None = None, note: str | None = None):
    """The paper's figure: one row per class, the fraction of shape decisions of each observer (markers), and each
    observer's overall shape bias (a vertical line); texture on the right, shape on the left as in the paper.

    Returns the matplotlib figure (save it with ``cnnlab._plot.save_figure``)."""
    from cnnlab._plot import pyplot

    if not results:
        raise ValueError("plot_shape_bias needs at least one result")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 7.2))
    rows = list(range(len(CATEGORIES)))
    own = iter(_OWN_STYLE)
    for r in results:
        marker, colour = _PAPER_STYLE.get(r.name) or next(own, ("o", "#333333"))
        xs = [r.per_class[c] for c in CATEGORIES]
        ax.scatter(xs, rows, marker=marker, color=colour, s=46, alpha=0.85, zorder=3,
                   label=f"{r.name} ({r.shape_bias:.1%})", edgecolors="white", linewidths=0.5)
        ax.axvline(r.shape_bias, color=colour, lw=1.2, ls="--", alpha=0.8)
    ax.set_yticks(rows, CATEGORIES)
    ax.set_ylim(len(CATEGORIES) - 0.5, -0.5)
    ax.set_xlim(1.02, -0.02)  # shape on the left, texture on the right (the paper's orientation)
    ax.set_xlabel("fraction of 'shape' decisions")
    top = ax.secondary_xaxis("top", functions=(lambda x: 1 - x, lambda x: 1 - x))
    top.set_xlabel("fraction of 'texture' decisions")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), ncol=3, fontsize=8, frameon=False,
              title="observer (overall shape bias)", title_fontsize=8)
    if title:
        ax.set_title(title, fontsize=10, pad=28)
    if note:
        fig.text(0.01, 0.005, note, fontsize=7, color="#555555")
    fig.tight_layout()
    return fig
