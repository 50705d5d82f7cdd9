"""Whole jobs behind the CLI: train a detector on a data spec (``cnnlab train-detector``), and the studio's one call
(:func:`detect_image`: boxes on an uploaded image above a score threshold)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnlab.data import DetectionSet
from cnnlab.detect._api import Detector, create, load_detector, predict, read_detector_meta
from cnnlab.detect._fit import DetectConfig, DetectHistory, evaluate, fit
from cnnlab.detect._metrics import DetectionResult

RUN_FILE = "run.json"


@dataclass
class DetectorRun:
    """What :func:`train_detector` did: the trained detector, its history, the data sizes and the test result."""

    model: Detector
    history: DetectHistory
    train_images: int
    val_images: int
    test: DetectionResult | None = None
    out_dir: str | None = None


def _split_available(spec: str, split: str) -> bool:
    """Whether the data spec has a ``split`` of its own (a pinned ``:SPLIT`` in the spec has no other split)."""
    from cnnlab.data import split_detection_spec

    _, pinned = split_detection_spec(spec)
    if pinned is not None:
        return False
    name, _, arg = spec.partition(":")
    if name == "scenes":
        return True
    root = Path(arg)
    if name == "voc":
        return (root / "ImageSets" / "Main" / f"{split}.txt").is_file() or (root / f"{split}.txt").is_file() or \
            (root / "data" / f"{split}_labels.csv").is_file() or (root / f"{split}_labels.csv").is_file()
    if name == "coco":
        return root.is_dir() and (any((root / "annotations").glob(f"instances_{split}*.json"))
                                  or (root / f"{split}.json").is_file())
    return False


def train_detector(arch: str, data_spec: str, config: DetectConfig, *, val_spec: str | None = None,
                   backbone: str = "efficientnet_lite0", weights: str | None = "imagenet",
                   options: dict[str, Any] | None = None, limit: int | None = None, resume: bool = False,
                   test: bool = True) -> DetectorRun:
    """Build ``arch`` for a detection data spec, train it, and evaluate it on the spec's test split.

    Validation data: ``val_spec``, else the spec's ``val`` split when it has one, else ``config.val_fraction`` of
    the training images (a seeded hold-out). With ``resume=True`` the run in ``config.out_dir`` continues with the
    detector its newest state holds (``arch`` must match) and its saved configuration.
    """
    from cnnlab.detect._api import DETECTORS

    DETECTORS.lookup(arch)  # an unknown name fails before any data is read
    old = torch.get_num_threads()
    if config.num_threads:  # the whole job (data, initialisation, training) on the same threads: reproducible
        torch.set_num_threads(config.num_threads)
    try:
        return _train_detector(arch, data_spec, config, val_spec=val_spec, backbone=backbone, weights=weights,
                               options=options, limit=limit, resume=resume, test=test)
    finally:
        torch.set_num_threads(old)


def _train_detector(arch, data_spec, config, *, val_spec, backbone, weights, options, limit, resume, test
                    ) -> DetectorRun:
    from cnnlab.data import load_detection
    from cnnlab.train import latest_state_dir

    card = None
    if resume:
        if config.out_dir is None:
            raise ValueError("--resume needs --out")
        state = latest_state_dir(config.out_dir)
        if state is None:
            raise FileNotFoundError(f"nothing to resume in {config.out_dir!r} (no state/LATEST)")
        doc = read_detector_meta(state)
        card = doc["card"]
        if card["name"] != arch:
            raise ValueError(f"training state {str(state)!r} holds detector {card['name']!r}, not {arch!r}")
        saved = json.loads((state / "train_state.json").read_text())["meta"]["config"]
        config = DetectConfig.from_json(saved).replace(device=config.device, progress=config.progress,
                                                       out_dir=config.out_dir)
    train = load_detection(data_spec, "train", limit=limit)
    if val_spec is not None:
        val = load_detection(val_spec, "val", classes=train.classes)
    elif _split_available(data_spec, "val"):
        val = load_detection(data_spec, "val", classes=train.classes)
    else:
        val = None
    torch.manual_seed(config.seed)  # the heads' initialisation: a run is a function of its arguments
    if card is not None:
        from cnnlab import models

        bb = models.create(card["backbone"]["name"], **card["backbone"]["kwargs"])
        model = create(arch, num_classes=card["num_classes"], backbone=bb, weights=None, classes=card["classes"],
                       **card["options"])
        model.card.backbone["weights"] = card["backbone"].get("weights")
    else:
        model = create(arch, num_classes=train.num_classes, classes=train.classes, backbone=backbone, weights=weights,
                       **dict(options or {}))
    if config.out_dir is not None:
        from cnnlab._io import atomic_write_json

        atomic_write_json(Path(config.out_dir) / RUN_FILE,
                          {"arch": arch, "data": data_spec, "val": val_spec, "backbone": backbone, "weights": weights,
                           "options": model.card.options, "limit": limit, "classes": train.classes})
    hist = fit(model, train, val, config, resume=resume)
    n_val = len(val) if val is not None else int(round(len(train) * config.val_fraction))
    run = DetectorRun(model, hist, len(train) - (0 if val is not None else n_val), n_val, out_dir=config.out_dir)
    if test and _split_available(data_spec, "test"):
        run.test = evaluate(model, load_detection(data_spec, "test", classes=train.classes))
    return run


def detect_image(model: Detector | str, image: Tensor | str, *, score: float = 0.5
                 ) -> tuple[list[dict[str, Any]], Tensor]:
    """One call for a viewer (the studio's panel, ``cnnlab detect``): the detections on one image above ``score``
    and the image with them drawn.

    Args:
        model: a detector or a run directory.
        image: ``Tensor[3, H, W]`` in [0, 1], a file path or ``sample:NAME``.
        score: the score threshold.

    Returns:
        ``(detections, picture)``: a list of ``{"label", "class", "score", "box": [x1, y1, x2, y2]}`` (best first)
        and ``Tensor[3, H, W]`` uint8 with the boxes drawn.
    """
    from cnnlab.data import image_from_spec, to_channels
    from cnnlab.detect._plot import draw_detections

    det = load_detector(model) if isinstance(model, (str, Path)) else model
    img = image_from_spec(str(image)) if isinstance(image, (str, Path)) else image
    img = to_channels(img, 3)
    out = predict(det, [img], score=score)[0]
    rows = [{"label": int(k), "class": det.classes[int(k) - 1], "score": round(float(s), 4),
             "box": [round(float(v), 1) for v in b]}
            for b, k, s in zip(out["boxes"], out["labels"], out["scores"])]
    return rows, draw_detections(img, out, det.classes, score=score)


def detect_images(model: Detector | str, images: Sequence[str], *, score: float = 0.5) -> list[dict[str, Any]]:
    """:func:`detect_image` for several image specs: one ``{"image", "detections", "picture"}`` per image."""
    det = load_detector(model) if isinstance(model, (str, Path)) else model
    out = []
    for spec in images:
        rows, pic = detect_image(det, spec, score=score)
        out.append({"image": spec, "detections": rows, "picture": pic})
    return out


def data_summary(data: DetectionSet) -> dict[str, Any]:
    """Images, objects per class and image sizes of a detection set (for the CLI and reports)."""
    per = {c: 0 for c in data.classes}
    for t in data.targets:
        for k in t["labels"].tolist():
            per[data.classes[k - 1]] += 1
    sizes = {tuple(img.shape[-2:]) for img in data.images}
    return {"images": len(data), "objects": per, "sizes": sorted(sizes)[:5], "distinct_sizes": len(sizes)}
