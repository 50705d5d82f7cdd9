"""Claim 3: networks are biased towards texture, humans towards shape (Geirhos et al., ICLR 2019), measured with
:func:`cnnlab.style.shape_bias` on the paper's cue-conflict images and scored for the paper's own observers
(its CNNs and ten human subjects) from its raw decision files."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.experiments._claims import ClaimContext, ClaimResult, Quote, register_claim
from cnnlab.experiments._claims_stats import Verdict, combine, part, wilson_interval

FOLDER = "texture-vs-shape"


@dataclass
class ShapeBiasSettings:
    """cnnlab's ImageNet classifiers on the cue-conflict stimuli, beside the paper's observers.

    Attributes:
        models: cnnlab registry models with ImageNet weights, measured here.
        max_per_class: cue-conflict (and silhouette / edge) images per class; ``None``: all 1,280 (the full
            setting; a subset gives another number, it is the quick check only).
        paper_observers: observers scored from the paper's raw decisions (``"humans"`` pools its ten subjects).
        stimuli: the ``texture-vs-shape`` folder; ``None``: ``DATA_DIR/texture-vs-shape`` of the claims' data
            folder (``--data-dir``), else ``$CNNLAB_DATA/texture-vs-shape``.
        seeds: unused (the measurement is deterministic: eval mode, fixed images); one entry.
    """

    models: tuple[str, ...] = ("efficientnet_lite0",)
    max_per_class: int | None = None
    paper_observers: tuple[str, ...] = ("humans", "AlexNet", "GoogLeNet", "VGG-16", "ResNet-50")
    stimuli: str | None = None
    seeds: tuple[int, ...] = (0,)


def stimuli_folder(s: ShapeBiasSettings, ctx: ClaimContext) -> Path:
    """Where the stimuli are (see :class:`ShapeBiasSettings`); ``ValueError`` saying how to name them."""
    tried = []
    for cand in ([s.stimuli] if s.stimuli else []) + [
            os.path.join(ctx.data_dir, FOLDER) if ctx.data_dir else None,
            os.path.join(os.environ["CNNLAB_DATA"], FOLDER) if os.environ.get("CNNLAB_DATA") else None]:
        if cand is None:
            continue
        if Path(cand).is_dir():
            return Path(cand)
        tried.append(str(cand))
    raise ValueError("claim 3 needs Geirhos et al.'s texture-vs-shape folder: pass --data-dir DIR (the folder "
                     f"holding {FOLDER}/) or set CNNLAB_DATA" + (f"; not found: {', '.join(tried)}" if tried else ""))


def _counts(r) -> dict[str, Any]:
    conflict = [d for d in r.decisions if d.shape != d.texture]
    kinds = [d.kind for d in conflict]
    per_class = {k: None if v != v else v for k, v in r.per_class.items()}  # None: no decision there (JSON)
    return {"shape": kinds.count("shape"), "texture": kinds.count("texture"), "other": kinds.count("other"),
            "shape_bias": r.shape_bias, "per_class": per_class, "silhouette_accuracy": r.silhouette_accuracy,
            "edge_accuracy": r.edge_accuracy}


def shape_bias_verdict(numbers: dict[str, Any]) -> Verdict:
    parts = []
    for name, c in {**numbers["models"], **numbers["paper"]}.items():
        est = wilson_interval(c["shape"], c["shape"] + c["texture"], unit="shape-or-texture decisions")
        if name == "humans":
            parts.append(part("humans (the paper's 10 subjects): shape bias", est, 0.5, unit="%"))
        else:
            who = "cnnlab" if name in numbers["models"] else "the paper's"
            parts.append(part(f"{name} ({who}): shape bias", est, 0.5, claim="below", unit="%"))
    return combine(parts)


def plot_shape_bias_claim(result: ClaimResult):
    from cnnlab import style

    n = result.numbers
    rows = []
    for name, c in {**n["models"], **n["paper"]}.items():
        per_class = {k: math.nan if v is None else v for k, v in c["per_class"].items()}
        rows.append(style.ShapeBiasResult(name=name, decisions=[], shape_bias=c["shape_bias"], per_class=per_class,
                                          shape_fraction=0.0, texture_fraction=0.0, other_fraction=0.0,
                                          conflict_images=c["shape"] + c["texture"] + c["other"]))
    return style.plot_shape_bias(rows, title="shape vs texture decisions on cue-conflict images",
                                 note=f"cnnlab: {n['images']} cue-conflict images; the paper's observers from its "
                                 "raw decisions")


@register_claim(
    "shape-bias", number="3",
    title="Networks are biased towards texture, humans towards shape",
    quotes=(Quote("Humans are biased towards shape (will see cat)", "002_920654089f751d73.txt"),
            Quote("Neural Networks are biased towards texture (will classify cat as elephant, likely)",
                  "002_920654089f751d73.txt")),
    tested="Geirhos et al.'s (ICLR 2019) 1,280 cue-conflict images (a shape of one of 16 classes with the texture "
           "of another, made by style transfer): the shape bias of an observer is its shape decisions / (shape + "
           "texture decisions) over the 1,200 images whose classes differ. cnnlab's pretrained EfficientNet-Lite0 "
           "is measured here (cnnlab.style.shape_bias: 16-class decision from the mean softmax probability of each "
           "class's ImageNet classes); the paper's AlexNet, GoogLeNet, VGG-16, ResNet-50 and ten human subjects are "
           "scored from its raw per-image decisions (the same scoring reproduces its published figures). The notes' "
           "'Neural Networks' is read as ImageNet-trained CNNs; 'biased towards texture' as a shape bias below 50%.",
    rule="Supported when every network's shape bias lies below 50% and the humans' above 50% (95% intervals).",
    uncertainty="Wilson 95% interval over the shape-or-texture decisions (images; humans: trials of ten subjects)",
    settings=ShapeBiasSettings, quick={"max_per_class": 5}, verdict=shape_bias_verdict, plot=plot_shape_bias_claim)
def shape_bias_claim(s: ShapeBiasSettings, ctx: ClaimContext) -> dict[str, Any]:
    from cnnlab import models, style

    root = stimuli_folder(s, ctx)
    paper = style.paper_results(root / "raw-data")
    unknown = [o for o in s.paper_observers if o not in paper]
    if unknown:
        raise ValueError(f"paper_observers: unknown {unknown}; the paper's raw data has {sorted(paper)}")
    ours = {}
    images = 0
    for name in s.models:
        net = ctx.memo(("pretrained", name), lambda name=name: models.create(name, weights="imagenet"))
        r = style.shape_bias(net.to(ctx.device), root, max_per_class=s.max_per_class, name=name)
        ours[name] = _counts(r)
        images = r.conflict_images + sum(d.shape == d.texture for d in r.decisions)
    return {"models": ours, "paper": {o: _counts(paper[o]) for o in s.paper_observers}, "images": images,
            "stimuli": str(root)}
