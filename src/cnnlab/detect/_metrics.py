"""Average precision of detections: COCO's (through pycocotools) and Pascal VOC's (written here).

Which number is which:

- ``map``: COCO mAP@[.5:.95], the mean over the classes of the AP averaged over the IoU thresholds 0.50, 0.55, ...,
  0.95, each AP the mean of the interpolated precision at 101 recall points, at most 100 detections per image
  (pycocotools' ``stats[0]``).
- ``map50`` / ``map75``: the same at IoU 0.5 / 0.75 only (``stats[1]``, ``stats[2]``); ``per_class_ap`` and
  ``per_class_ap50`` are their per-class terms.
- ``voc_map`` / ``voc_map11``: Pascal VOC's mAP at IoU 0.5: all-point interpolated AP (the area under the
  precision envelope, VOC 2010 onwards) and the 11-point AP (mean of the best precision at recall >= 0, 0.1, ...,
  1; VOC 2007). Objects marked ``difficult`` are ignored (neither found nor missed), as in the VOC devkit; in the
  COCO numbers they are crowd regions (``iscrowd=1``). IoU is computed on continuous coordinates (no "+1").
- ``mask_map`` / ``mask_map50``: COCO's mask AP, when predictions and targets both have masks.

Classes without a ground-truth object in the data get NaN and are left out of the means, as pycocotools does.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import box_iou


@dataclass
class DetectionResult:
    """What :func:`evaluate_predictions` measured (see the module docstring for each AP's definition).

    Attributes:
        map, map50, map75: COCO box mAP@[.5:.95], @0.5, @0.75.
        map_small, map_medium, map_large: COCO mAP@[.5:.95] by object area (< 32^2, < 96^2, larger pixels).
        mar100: COCO mean recall with at most 100 detections per image.
        per_class_ap, per_class_ap50: class name -> COCO AP@[.5:.95] / AP@0.5.
        voc_map, voc_map11: VOC mAP@0.5, all-point and 11-point.
        voc_ap, voc_ap11: class name -> VOC AP@0.5.
        pr_curves: class name -> (recall, precision) arrays of the VOC matching at IoU 0.5, in score order.
        mask_map, mask_map50: COCO mask AP (``None`` without masks).
        classes, objects (class name -> ground-truth objects, difficult excluded), images, detections.
        seconds, ms_per_image: inference time when :func:`evaluate` ran the model.
    """

    map: float
    map50: float
    map75: float
    map_small: float
    map_medium: float
    map_large: float
    mar100: float
    per_class_ap: dict[str, float]
    per_class_ap50: dict[str, float]
    voc_map: float
    voc_map11: float
    voc_ap: dict[str, float]
    voc_ap11: dict[str, float]
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    classes: list[str]
    objects: dict[str, int]
    images: int
    detections: int
    mask_map: float | None = None
    mask_map50: float | None = None
    seconds: float | None = None
    ms_per_image: float | None = None

    def summary(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict (NaN as ``None``)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float):
                return None if math.isnan(v) else round(v, 6)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        keys = ("map", "map50", "map75", "map_small", "map_medium", "map_large", "mar100", "voc_map", "voc_map11",
                "mask_map", "mask_map50", "per_class_ap", "per_class_ap50", "voc_ap", "voc_ap11", "objects", "images",
                "detections", "seconds", "ms_per_image")
        return {k: clean(getattr(self, k)) for k in keys}

    def __repr__(self) -> str:
        return (f"DetectionResult(map={self.map:.4f}, map50={self.map50:.4f}, voc_map={self.voc_map:.4f}, "
                f"images={self.images}, detections={self.detections})")


def _nan_mean(values) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.mean(v)) if v else float("nan")


# --------------------------------------------------------------------------------------------------- VOC


def voc_ap(recall: np.ndarray, precision: np.ndarray, *, eleven_point: bool = False) -> float:
    """Pascal VOC average precision from a recall/precision curve (detections in score order).

    ``eleven_point``: the mean over ``t = 0, 0.1, ..., 1`` of the highest precision at recall >= t (VOC 2007);
    otherwise the area under the precision envelope (the highest precision at any higher recall), VOC 2010+.
    """
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if eleven_point:
        total = 0.0
        for t in np.linspace(0, 1, 11):
            p = precision[recall >= t - 1e-12]
            total += float(p.max()) if p.size else 0.0
        return total / 11
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the envelope: best precision at recall >= r
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_matches(predictions: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Tensor]], label: int,
                iou: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:
    """VOC's greedy matching for one class: detections in descending score order take the unmatched
    ground-truth box of the same image they overlap most if that IoU >= ``iou`` (a true positive), else they are
    false positives (also a second detection of a found object); a best match on a difficult object counts as
    neither.

    Returns:
        ``(tp, fp, npos)``: 0/1 arrays in score order and the number of non-difficult objects.
    """
    dets = []  # (score, image, box)
    gts, used, difficult = [], [], []
    npos = 0
    for i, (p, t) in enumerate(zip(predictions, targets)):
        m = t["labels"] == label
        g = t["boxes"][m].float()
        d = t.get("difficult")
        d = d[m].bool() if d is not None else torch.zeros(len(g), dtype=torch.bool)
        gts.append(g)
        difficult.append(d)
        used.append(torch.zeros(len(g), dtype=torch.bool))
        npos += int((~d).sum())
        pm = p["labels"] == label
        for s, b in zip(p["scores"][pm].tolist(), p["boxes"][pm].float()):
            dets.append((s, i, b))
    order = sorted(range(len(dets)), key=lambda k: -dets[k][0])  # stable: ties keep their input order
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for rank, k in enumerate(order):
        _, i, b = dets[k]
        g = gts[i]
        if len(g) == 0:
            fp[rank] = 1
            continue
        ov = box_iou(b[None], g)[0]
        best, j = ov.max(0)
        if float(best) >= iou:
            if difficult[i][j]:
                continue
            if not used[i][j]:
                tp[rank], used[i][j] = 1, True
            else:
                fp[rank] = 1
        else:
            fp[rank] = 1
    return tp, fp, npos


def _voc(predictions, targets, classes: list[str]):
    ap, ap11, curves = {}, {}, {}
    for k, name in enumerate(classes, start=1):
        tp, fp, npos = voc_matches(predictions, targets, k)
        keep = (tp + fp) > 0  # difficult matches take no place in the curve
        tp, fp = np.cumsum(tp[keep]), np.cumsum(fp[keep])
        if npos == 0:
            ap[name] = ap11[name] = float("nan")
            curves[name] = (np.zeros(0), np.zeros(0))
            continue
        rec = tp / npos
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        ap[name], ap11[name] = voc_ap(rec, prec), voc_ap(rec, prec, eleven_point=True)
        curves[name] = (rec, prec)
    return ap, ap11, curves


# -------------------------------------------------------------------------------------------------- COCO


def _coco_eval(predictions, targets, classes: list[str], iou_type: str) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' ``stats`` (12 numbers) and ``eval['precision']`` (T x R x K x A x M)."""
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def rle(m: Tensor) -> dict:
        r = mask_utils.encode(np.asfortranarray(m.cpu().numpy().astype(np.uint8)))
        r["counts"] = r["counts"].decode("ascii")
        return r

    images, anns = [], []
    for i, t in enumerate(targets):
        h = w = 1
        if len(t["boxes"]):
            w, h = int(math.ceil(float(t["boxes"][:, 2].max()))), int(math.ceil(float(t["boxes"][:, 3].max())))
        if "masks" in t and t["masks"].dim() == 3:
            h, w = t["masks"].shape[1:]
        images.append({"id": i + 1, "width": max(w, 1), "height": max(h, 1)})
        crowd = None
        for key in ("difficult", "iscrowd"):  # both mean "do not count": a crowd region for pycocotools
            if key in t:
                crowd = t[key].bool() if crowd is None else crowd | t[key].bool()
        for j, (b, lab) in enumerate(zip(t["boxes"].tolist(), t["labels"].tolist())):
            x1, y1, x2, y2 = b
            a = {"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab), "bbox": [x1, y1, x2 - x1, y2 - y1],
                 "area": (x2 - x1) * (y2 - y1), "iscrowd": int(bool(crowd[j])) if crowd is not None else 0}
            if iou_type == "segm":
                a["segmentation"] = rle(t["masks"][j])
                a["area"] = float(t["masks"][j].sum())
            anns.append(a)
    gt_doc = {"images": images, "annotations": anns,
              "categories": [{"id": k, "name": n} for k, n in enumerate(classes, start=1)]}
    dets = []
    for i, p in enumerate(predictions):
        for j, (b, lab, s) in enumerate(zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist())):
            x1, y1, x2, y2 = b
            d = {"image_id": i + 1, "category_id": int(lab), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)}
            if iou_type == "segm":
                d["segmentation"] = rle(p["masks"][j])
            dets.append(d)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = gt_doc
        gt.createIndex()
        if not dets:
            k = len(classes)
            return np.array([0.0] * 12), np.zeros((10, 101, k, 4, 3))
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64), ev.eval["precision"]


def _class_ap(precision: np.ndarray, k: int, t: slice | int) -> float:
    p = precision[t, :, k, 0, -1]
    p = p[p > -1]
    return float(p.mean()) if p.size else float("nan")


def evaluate_predictions(predictions: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Tensor]], *,
                         classes: Sequence[str] | None = None) -> DetectionResult:
    """COCO and VOC average precision of ``predictions`` (one dict per image: ``boxes``, ``labels``, ``scores``,
    optional ``masks``) against ``targets`` (``boxes``, ``labels``, optional ``difficult``, ``iscrowd``,
    ``masks``). Boxes are x1y1x2y2 pixels; labels ``1..C``.

    Args:
        predictions, targets: aligned lists, one entry per image (images without objects or without detections
            are fine).
        classes: class names (label ``k`` = ``classes[k - 1]``); default: ``"1"``, ... up to the largest label.

    Returns:
        :class:`DetectionResult`.

    Example:
        >>> t = [{"boxes": torch.tensor([[0., 0., 10., 10.]]), "labels": torch.tensor([1])}]
        >>> p = [{"boxes": torch.tensor([[0., 0., 10., 10.]]), "labels": torch.tensor([1]), "scores": torch.ones(1)}]
        >>> round(evaluate_predictions(p, t).map, 3)
        1.0
    """
    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets (one each per image)")
    for i, p in enumerate(predictions):
        missing = [k for k in ("boxes", "labels", "scores") if k not in p]
        if missing:
            raise ValueError(f"prediction {i} lacks {', '.join(missing)}")
    top = max([int(t["labels"].max()) for t in targets if len(t["labels"])] +
              [int(p["labels"].max()) for p in predictions if len(p["labels"])] + [1])
    classes = list(classes) if classes is not None else [str(k) for k in range(1, top + 1)]
    if top > len(classes):
        raise ValueError(f"a label {top} is outside the {len(classes)} classes {classes}")
    predictions = [{k: (v.detach().cpu() if isinstance(v, Tensor) else v) for k, v in p.items()} for p in predictions]
    targets = [{k: (v.detach().cpu() if isinstance(v, Tensor) else v) for k, v in t.items()} for t in targets]
    objects = {}
    for k, n in enumerate(classes, start=1):
        cnt = 0
        for t in targets:
            m = t["labels"] == k
            for key in ("difficult", "iscrowd"):
                if key in t:
                    m = m & ~t[key].bool()
            cnt += int(m.sum())
        objects[n] = cnt
    stats, prec = _coco_eval(predictions, targets, classes, "bbox")
    if not any(len(p["boxes"]) for p in predictions):  # nothing detected: AP 0 where there is something to find
        ap = {n: 0.0 if objects[n] else float("nan") for n in classes}
        ap50 = dict(ap)
        stats = np.zeros(12) if any(objects.values()) else np.full(12, np.nan)
    else:
        ap = {n: _class_ap(prec, k, slice(None)) for k, n in enumerate(classes)}
        ap50 = {n: _class_ap(prec, k, 0) for k, n in enumerate(classes)}
    stats = np.where(stats < 0, np.nan, stats)
    v_ap, v_ap11, curves = _voc(predictions, targets, classes)
    mask_map = mask_map50 = None
    if predictions and all("masks" in p for p in predictions) and all("masks" in t for t in targets):
        ms, _ = _coco_eval(predictions, targets, classes, "segm")
        ms = np.where(ms < 0, np.nan, ms)
        mask_map, mask_map50 = float(ms[0]), float(ms[1])
    return DetectionResult(map=float(stats[0]), map50=float(stats[1]), map75=float(stats[2]), map_small=float(stats[3]),
                           map_medium=float(stats[4]), map_large=float(stats[5]), mar100=float(stats[8]),
                           per_class_ap=ap, per_class_ap50=ap50, voc_map=_nan_mean(v_ap.values()),
                           voc_map11=_nan_mean(v_ap11.values()), voc_ap=v_ap, voc_ap11=v_ap11, pr_curves=curves,
                           classes=classes, objects=objects, images=len(targets),
                           detections=sum(len(p["boxes"]) for p in predictions), mask_map=mask_map,
                           mask_map50=mask_map50)


def pr_figure(result: DetectionResult, *, title: str = ""):
    """Precision-recall curves (VOC matching at IoU 0.5) of every class, with its all-point AP."""
    from cnnlab._plot import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    for name in result.classes:
        rec, prec = result.pr_curves[name]
        if len(rec) == 0:
            continue
        env = np.maximum.accumulate(prec[::-1])[::-1]
        line, = ax.plot(rec, prec, lw=1, alpha=0.45)
        ax.plot(rec, env, lw=2, color=line.get_color(),
                label=f"{name}: AP@0.5 {result.voc_ap[name]:.3f} ({result.objects[name]} objects)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or f"precision-recall at IoU 0.5 (thin: raw, thick: envelope); VOC mAP {result.voc_map:.3f}",
                 fontsize=9)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
