"""Average precision: COCO numbers equal pycocotools run by the test itself; VOC AP equals known values and a slow
loop written here."""

import contextlib
import io
import math

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cnnlab import detect


def T(boxes, labels, **extra):
    t = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels).long()}
    t.update({k: torch.tensor(v) for k, v in extra.items()})
    return t


def P(boxes, labels, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels).long(),
            "scores": torch.tensor(scores, dtype=torch.float32)}


def reference_coco(preds, targets, num_classes):
    """pycocotools on a dataset the test builds itself (xywh, areas from the boxes): stats and per-class AP."""
    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": 100 + i})
        for b, c in zip(t["boxes"].tolist(), t["labels"].tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": c, "bbox": [b[0], b[1], w, h],
                         "area": w * h, "iscrowd": 0})
        for b, c, s in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()):
            dets.append({"image_id": 100 + i, "category_id": c, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                         "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": k} for k in range(1, num_classes + 1)]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]
    per = []
    for k in range(num_classes):
        p = prec[:, :, k, 0, -1]
        per.append(float(p[p > -1].mean()) if (p > -1).any() else float("nan"))
    return ev.stats, per


def test_random_predictions_equal_pycocotools():
    g = torch.Generator().manual_seed(0)
    targets, preds = [], []
    for _ in range(12):
        k = int(torch.randint(0, 6, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 200
        wh = torch.rand(k, 2, generator=g) * 120 + 4
        targets.append({"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(1, 4, (k,), generator=g)})
        m = int(torch.randint(0, 15, (1,), generator=g))
        jitter = (torch.rand(m, 4, generator=g) - 0.5) * 30
        pick = torch.randint(0, max(k, 1), (m,), generator=g)
        src = targets[-1]["boxes"][pick] if k else torch.rand(m, 4, generator=g) * 100
        b = src + jitter
        b = torch.cat([b[:, :2], torch.maximum(b[:, 2:], b[:, :2] + 1)], 1)
        labels = torch.randint(1, 4, (m,), generator=g)  # mostly the source object's class, sometimes not
        if k:
            labels = torch.where(torch.rand(m, generator=g) < 0.7, targets[-1]["labels"][pick], labels)
        preds.append({"boxes": b, "labels": labels, "scores": torch.rand(m, generator=g)})
    r = detect.evaluate_predictions(preds, targets, classes=["a", "b", "c"])
    stats, per = reference_coco(preds, targets, 3)
    assert 0.05 < r.map < 0.95  # a case with something to get wrong
    assert r.map == pytest.approx(stats[0], abs=1e-12) and r.map50 == pytest.approx(stats[1], abs=1e-12)
    assert r.map75 == pytest.approx(stats[2], abs=1e-12) and r.mar100 == pytest.approx(stats[8], abs=1e-12)
    assert list(r.per_class_ap.values()) == pytest.approx(per, abs=1e-12)


@pytest.mark.parametrize("case, preds, targets, map50", [
    ("perfect", [P([[0, 0, 10, 10], [20, 20, 40, 50]], [1, 1], [0.9, 0.8])],
     [T([[0, 0, 10, 10], [20, 20, 40, 50]], [1, 1])], 1.0),
    # one of two objects found: precision 1 up to recall 0.5, on COCO's 101 recall points 51/101
    ("missed", [P([[0, 0, 10, 10]], [1], [0.9])], [T([[0, 0, 10, 10], [20, 20, 40, 50]], [1, 1])], 51 / 101),
    # a second, lower-scored detection of a found object is a false positive after recall 1: AP stays 1
    ("duplicate", [P([[0, 0, 10, 10], [1, 0, 10, 10]], [1, 1], [0.9, 0.8])], [T([[0, 0, 10, 10]], [1])], 1.0),
    # the right box with the wrong class finds nothing
    ("wrong class", [P([[0, 0, 10, 10]], [2], [0.9])], [T([[0, 0, 10, 10]], [1])], 0.0),
    # an image without objects: its confident detection is a false positive ranked first -> precision 1/2
    ("empty image", [P([[0, 0, 10, 10]], [1], [0.5]), P([[5, 5, 9, 9]], [1], [0.9])],
     [T([[0, 0, 10, 10]], [1]), T([], [])], 0.5),
    ("nothing detected", [P([], [], []), P([], [], [])], [T([[0, 0, 10, 10]], [1]), T([], [])], 0.0),
])
def test_hand_made_cases(case, preds, targets, map50):
    r = detect.evaluate_predictions(preds, targets, classes=["a", "b"])
    assert r.map50 == pytest.approx(map50, abs=1e-9), case
    assert math.isnan(r.per_class_ap["b"])  # no object of class b anywhere: left out of the mean
    if any(len(p["boxes"]) for p in preds):
        stats, _ = reference_coco(preds, targets, 2)
        assert r.map50 == pytest.approx(stats[1], abs=1e-12) and r.map == pytest.approx(stats[0], abs=1e-12)


def test_voc_ap_known_values():
    # detections TP, FP, TP on two objects: recall .5 .5 1, precision 1 .5 .667
    rec, prec = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert detect.voc_ap(rec, prec) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert detect.voc_ap(rec, prec, eleven_point=True) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert detect.voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def slow_voc_ap(preds, targets, label, eleven):
    """Pascal VOC's devkit (voc_eval.py) as plain loops."""
    gts = {}
    npos = 0
    for i, t in enumerate(targets):
        diff = t.get("difficult", torch.zeros(len(t["labels"]))).tolist()
        rows = [(b, bool(d)) for b, c, d in zip(t["boxes"].tolist(), t["labels"].tolist(), diff) if c == label]
        gts[i] = {"boxes": [r[0] for r in rows], "difficult": [r[1] for r in rows], "seen": [False] * len(rows)}
        npos += sum(not r[1] for r in rows)
    dets = [(s, i, b) for i, p in enumerate(preds)
            for b, c, s in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()) if c == label]
    dets.sort(key=lambda d: -d[0])
    tp, fp = [], []
    for _, i, b in dets:
        best, j_best = 0.0, -1
        for j, g in enumerate(gts[i]["boxes"]):
            iw = min(b[2], g[2]) - max(b[0], g[0])
            ih = min(b[3], g[3]) - max(b[1], g[1])
            if iw > 0 and ih > 0:
                inter = iw * ih
                u = (b[2] - b[0]) * (b[3] - b[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
                if inter / u > best:
                    best, j_best = inter / u, j
        if best >= 0.5:
            if gts[i]["difficult"][j_best]:
                continue
            if not gts[i]["seen"][j_best]:
                gts[i]["seen"][j_best] = True
                tp.append(1)
                fp.append(0)
            else:
                tp.append(0)
                fp.append(1)
        else:
            tp.append(0)
            fp.append(1)
    ctp = cfp = 0
    rec, prec = [], []
    for a, b in zip(tp, fp):
        ctp, cfp = ctp + a, cfp + b
        rec.append(ctp / npos)
        prec.append(ctp / (ctp + cfp))
    if eleven:
        total = 0.0
        for k in range(11):
            ps = [p for r, p in zip(rec, prec) if r >= k / 10]
            total += max(ps) if ps else 0.0
        return total / 11
    mrec, mpre = [0.0] + rec + [1.0], [0.0] + prec + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def test_voc_ap_equals_a_slow_loop_with_difficult_objects():
    g = torch.Generator().manual_seed(3)
    targets, preds = [], []
    for _ in range(10):
        k = int(torch.randint(1, 6, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 100
        boxes = torch.cat([xy, xy + torch.rand(k, 2, generator=g) * 60 + 5], 1).round()
        targets.append({"boxes": boxes, "labels": torch.randint(1, 3, (k,), generator=g),
                        "difficult": torch.rand(k, generator=g) < 0.2})
        m = int(torch.randint(0, 10, (1,), generator=g))
        b = boxes[torch.randint(0, k, (m,), generator=g)] + (torch.rand(m, 4, generator=g) - 0.5) * 16
        b = torch.cat([b[:, :2], torch.maximum(b[:, 2:], b[:, :2] + 2)], 1)
        labels = torch.randint(1, 3, (m,), generator=g)
        preds.append({"boxes": b, "labels": labels, "scores": torch.rand(m, generator=g)})
    r = detect.evaluate_predictions(preds, targets, classes=["a", "b"])
    for k, name in enumerate(["a", "b"], start=1):
        assert r.voc_ap[name] == pytest.approx(slow_voc_ap(preds, targets, k, False), abs=1e-12)
        assert r.voc_ap11[name] == pytest.approx(slow_voc_ap(preds, targets, k, True), abs=1e-12)
    assert 0 < r.voc_map < 1 and r.objects["a"] + r.objects["b"] < sum(len(t["boxes"]) for t in targets)


def test_mask_ap_and_bad_input():
    m = torch.zeros(1, 20, 20, dtype=torch.bool)
    m[0, 2:10, 3:12] = True
    t = T([[3, 2, 12, 10]], [1])
    t["masks"] = m
    p = P([[3, 2, 12, 10]], [1], [0.9])
    p["masks"] = m.clone()
    r = detect.evaluate_predictions([p], [t])
    assert r.mask_map == pytest.approx(1.0) and r.map == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        detect.evaluate_predictions([p, p], [t])
    with pytest.raises(ValueError, match="lacks scores"):
        detect.evaluate_predictions([{"boxes": p["boxes"], "labels": p["labels"]}], [t])
    with pytest.raises(ValueError, match="outside the 1 classes"):
        detect.evaluate_predictions([P([[0, 0, 1, 1]], [2], [0.5])], [t], classes=["a"])


def test_pr_figure_draws_each_class():
    r = detect.evaluate_predictions([P([[0, 0, 10, 10], [30, 30, 40, 40]], [1, 2], [0.9, 0.4])],
                                    [T([[0, 0, 10, 10], [31, 30, 40, 40]], [1, 2])], classes=["cat", "dog"])
    fig = detect.pr_figure(r)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("cat: AP@0.5 1.000") and labels[1].startswith("dog")
