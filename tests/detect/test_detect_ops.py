"""The pieces: box coding vs torchvision's BoxCoder, RoI pooling and IoU vs torchvision.ops and slow loops, RoI
sampling, the YOLO v1 loss vs a slow per-cell loop, SSD's 3:1 hard-negative mining and RetinaNet's prior-probability
bias on constructed cases, selective search, and backbones built from model cards (hooks removed, user's model
untouched)."""

import math
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import box_iou, nms, roi_pool

from cnnlab import data, detect, models


def _boxes(n, g, size=100.0):
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * size / 2 + 1], 1)


def test_box_coding_equals_torchvision_boxcoder_and_inverts():
    g = torch.Generator().manual_seed(0)
    gt, props = _boxes(50, g), _boxes(50, g)
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    torch.testing.assert_close(detect.encode_boxes(gt, props), coder.encode_single(gt, props))
    deltas = torch.randn(50, 4, generator=g)
    torch.testing.assert_close(detect.decode_boxes(deltas, props), coder.decode_single(deltas, props))
    torch.testing.assert_close(detect.decode_boxes(detect.encode_boxes(gt, props), props), gt, atol=1e-3, rtol=1e-4)
    per_class = torch.randn(50, 3, 4, generator=g)  # one box per class
    torch.testing.assert_close(detect.decode_boxes(per_class, props)[:, 1], coder.decode_single(per_class[:, 1], props))


def slow_roi_max_pool(feature, box, out, scale):
    """Fast R-CNN's RoI max pooling as loops (Caffe's rounding: torchvision's roi_pool)."""
    c, h, w = feature.shape
    x1, y1, x2, y2 = (round(v * scale) for v in box.tolist())
    rw, rh = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
    res = torch.zeros(c, out, out)
    for i in range(out):
        for j in range(out):
            hs = min(max(math.floor(i * rh / out) + y1, 0), h)
            he = min(max(math.ceil((i + 1) * rh / out) + y1, 0), h)
            ws = min(max(math.floor(j * rw / out) + x1, 0), w)
            we = min(max(math.ceil((j + 1) * rw / out) + x1, 0), w)
            if he > hs and we > ws:
                res[:, i, j] = feature[:, hs:he, ws:we].amax((1, 2))
    return res


def test_fast_rcnn_pooling_equals_roi_pool_and_a_slow_loop():
    det = detect.create("fast-rcnn", num_classes=2, backbone="efficientnet_lite0", weights=None)
    net = det.net
    feature = torch.randn(1, 8, 20, 24)
    g = torch.Generator().manual_seed(1)
    rois = [_boxes(6, g, size=300.0)]
    pooled = net.pool(feature, rois)
    torch.testing.assert_close(pooled, roi_pool(feature, rois, 7, 1 / 16))
    for k in range(6):
        torch.testing.assert_close(pooled[k], slow_roi_max_pool(feature[0], rois[0][k], 7, 1 / 16))


def test_iou_and_nms_are_torchvision_ops_and_equal_slow_loops():
    g = torch.Generator().manual_seed(2)
    a, b = _boxes(7, g), _boxes(5, g)
    iou = box_iou(a, b)
    for i in range(7):
        for j in range(5):
            iw = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            ih = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            inter = float(iw * ih)
            union = float((a[i, 2:] - a[i, :2]).prod() + (b[j, 2:] - b[j, :2]).prod()) - inter
            assert float(iou[i, j]) == pytest.approx(inter / union, abs=1e-6)
    boxes, scores = _boxes(40, g), torch.rand(40, generator=g)
    keep, order = [], scores.argsort(descending=True).tolist()
    while order:  # greedy NMS
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if float(box_iou(boxes[i:i + 1], boxes[j:j + 1])) <= 0.5]
    assert nms(boxes, scores, 0.5).tolist() == keep


def test_roi_sampling_draws_a_quarter_foreground_and_background_in_its_iou_range():
    gt = torch.tensor([[10.0, 10.0, 50.0, 50.0], [60.0, 60.0, 90.0, 95.0]])
    g = torch.Generator().manual_seed(3)
    props = torch.cat([gt + torch.randn(2, 4, generator=g) * 3 for _ in range(20)] + [_boxes(200, g)])
    rois, labels, matched, iou = detect.sample_rois(props, gt, torch.tensor([1, 2]), num=64, positive_fraction=0.25,
                                                    fg_iou=0.5, bg_iou=(0.1, 0.5), generator=g)
    fg = labels > 0
    assert len(rois) == 64 and int(fg.sum()) == 16
    assert (iou[fg] >= 0.5).all() and (iou[~fg] < 0.5).all()
    torch.testing.assert_close(iou, box_iou(rois, gt).max(1).values)
    assert torch.equal(labels[fg], torch.tensor([1, 2])[box_iou(rois[fg], gt).argmax(1)])


def slow_yolo_loss(pred, targets, grid, b, c, lc=5.0, ln=0.5):
    """Redmon et al. 2016, equation 3, one cell and one predictor at a time."""
    total = {"box": 0.0, "obj": 0.0, "noobj": 0.0, "cls": 0.0}
    for n, t in enumerate(targets):
        cells = {}
        for box, lab in zip(t["boxes"].tolist(), t["labels"].tolist()):  # the largest box in a cell is its object
            x1, y1, x2, y2 = (v / t["size"] for v in box)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            key = (min(int(cy * grid), grid - 1), min(int(cx * grid), grid - 1))
            area = (x2 - x1) * (y2 - y1)
            if key not in cells or area >= cells[key][0]:
                cells[key] = (area, (x1, y1, x2, y2), lab)
        for i in range(grid):
            for j in range(grid):
                p = pred[n, i, j]
                obj = cells.get((i, j))
                resp, ious = None, []
                if obj is not None:
                    gx1, gy1, gx2, gy2 = obj[1]
                    for k in range(b):
                        x, y, sw, sh = p[5 * k:5 * k + 4].tolist()
                        cx, cy, w, h = (j + x) / grid, (i + y) / grid, sw * sw, sh * sh
                        px1, py1, px2, py2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
                        iw = max(0.0, min(px2, gx2) - max(px1, gx1))
                        ih = max(0.0, min(py2, gy2) - max(py1, gy1))
                        inter = iw * ih
                        union = w * h + (gx2 - gx1) * (gy2 - gy1) - inter
                        ious.append(inter / union if union > 0 else 0.0)
                    resp = max(range(b), key=lambda k: ious[k])
                    tx = ((gx1 + gx2) / 2) * grid - j
                    ty = ((gy1 + gy2) / 2) * grid - i
                    tw, th = math.sqrt(gx2 - gx1), math.sqrt(gy2 - gy1)
                    x, y, sw, sh, conf = p[5 * resp:5 * resp + 5].tolist()
                    total["box"] += lc * ((x - tx) ** 2 + (y - ty) ** 2 + (sw - tw) ** 2 + (sh - th) ** 2)
                    total["obj"] += (conf - ious[resp]) ** 2
                    for q in range(c):
                        total["cls"] += (float(p[5 * b + q]) - (1.0 if q == obj[2] - 1 else 0.0)) ** 2
                for k in range(b):
                    if k != resp:
                        total["noobj"] += ln * float(p[5 * k + 4]) ** 2
    return {k: v / len(targets) for k, v in total.items()}


def test_yolo_loss_equals_a_slow_per_cell_loop():
    g = torch.Generator().manual_seed(4)
    grid, b, c, size = 5, 2, 3, 160
    pred = torch.rand(2, grid, grid, b * 5 + c, generator=g)
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [40.0, 40.0, 60.0, 60.0], [100.0, 90.0, 150.0, 159.0]])
    targets = [{"boxes": boxes,
                "labels": torch.tensor([1, 3, 2]), "size": size},  # boxes 1 and 2 share a cell
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long), "size": size}]
    parts = [detect.yolo_targets(t["boxes"], t["labels"], (size, size), grid, c) for t in targets]
    obj, box, gt, cls = (torch.stack(z) for z in zip(*parts))
    assert int(obj.sum()) == 2  # one object per cell
    loss = detect.yolo_loss(pred, obj, box, gt, cls, boxes_per_cell=b)
    ref = slow_yolo_loss(pred, targets, grid, b, c)
    for k, r in (("loss_box", "box"), ("loss_obj", "obj"), ("loss_noobj", "noobj"), ("loss_class", "cls")):
        assert float(loss[k]) == pytest.approx(ref[r], rel=1e-5, abs=1e-6), k


def test_ssd_hard_negative_mining_keeps_three_negatives_per_positive():
    det = detect.create("ssd", num_classes=2, backbone="efficientnet_lite0", weights=None, size=128)
    ssd = det.net
    a = 40
    g = torch.Generator().manual_seed(5)
    anchors = [_boxes(a, g, size=128.0)]
    matched = torch.full((a,), -1, dtype=torch.long)
    matched[[3, 17]] = torch.tensor([0, 1])  # two foreground anchors
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0], [50.0, 60.0, 90.0, 100.0]]),
                "labels": torch.tensor([1, 2])}]
    head = {"cls_logits": torch.randn(1, a, 3, generator=g), "bbox_regression": torch.randn(1, a, 4, generator=g)}
    out = ssd.compute_loss(targets, head, anchors, [matched])
    cls_t = torch.zeros(a, dtype=torch.long)
    cls_t[[3, 17]] = torch.tensor([1, 2])
    ce = F.cross_entropy(head["cls_logits"][0], cls_t, reduction="none")
    neg = sorted((float(ce[i]) for i in range(a) if cls_t[i] == 0), reverse=True)[:6]  # 3 x 2 hardest negatives
    expected = (float(ce[3]) + float(ce[17]) + sum(neg)) / 2
    assert float(out["classification"]) == pytest.approx(expected, rel=1e-5)


def test_retinanet_classification_bias_starts_at_minus_log_99():
    det = detect.create("retinanet", num_classes=3, backbone="efficientnet_lite0", weights=None,
                        min_size=96, max_size=96)
    head = det.net.head.classification_head
    assert torch.allclose(head.cls_logits.bias, torch.full_like(head.cls_logits.bias, -math.log(99)))
    feats = [torch.randn(1, det.net.backbone.out_channels, 8, 8)]
    probs = torch.sigmoid(head(feats))  # every anchor starts as foreground with probability ~0.01
    assert probs.mean().item() == pytest.approx(0.01, abs=2e-3)
    other = detect.create("retinanet", num_classes=3, backbone="efficientnet_lite0", weights=None,
                          prior_probability=0.1).net.head.classification_head.cls_logits.bias
    assert torch.allclose(other, torch.full_like(other, -math.log(9)))


def test_selective_search_gives_boxes_inside_the_image_and_is_deterministic():
    img = data.sample_image("coffee")
    a = detect.selective_search(img, max_side=200, max_proposals=300)
    b = detect.selective_search(img, max_side=200, max_proposals=300)
    assert torch.equal(a, b) and 50 <= len(a) <= 300 and a.dtype == torch.float32
    h, w = img.shape[1:]
    assert (a[:, 0] >= 0).all() and (a[:, 2] <= w).all() and (a[:, 3] <= h).all()
    assert ((a[:, 2:] - a[:, :2]) >= 8).all()
    assert len(torch.unique(a, dim=0)) == len(a)
    cache = detect.ProposalCache(max_side=200, max_proposals=300)
    assert torch.equal(cache(img), a) and cache(img) is cache(img) and len(cache) == 1


def test_selective_search_without_ximgproc_says_how_to_fix_it(monkeypatch):
    fake = types.ModuleType("cv2")
    fake.__version__, fake.__file__ = "5.0.0", "/somewhere/cv2/__init__.py"
    monkeypatch.setitem(sys.modules, "cv2", fake)
    with pytest.raises(ImportError, match="lacks the contrib module cv2.ximgproc.*opencv-contrib-python-headless"):
        detect.selective_search(data.sample_image("coffee"))


def test_backbone_maps_follow_the_model_card_the_head_is_gone_and_no_hook_is_left():
    net = models.create("efficientnet_lite0", weights=None)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    det = detect.create("faster-rcnn", num_classes=2, backbone=net, weights=None)
    assert net._fc.weight.shape == (1000, 1280)  # the user's model is untouched: the detector has its own copy
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert [m.training for m in net.modules()] == modes
    fb = det.backbone
    assert fb.layers == ["_blocks.4", "_blocks.10", "_blocks.15"] and fb.strides == [8, 16, 32]
    assert not any(n.startswith(("_fc", "_conv_head", "_bn1")) for n, _ in fb.body.named_parameters())
    x = torch.rand(1, 3, 96, 128)
    ref = {}
    hooks = [net.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: ref.__setitem__(n, o)) for n in fb.layers]
    net.eval()
    fb.eval()
    with torch.no_grad():
        net(x)
        maps = fb(x)
    for h in hooks:
        h.remove()
    assert [tuple(m.shape) for m in maps.values()] == [(1, 40, 12, 16), (1, 112, 6, 8), (1, 320, 3, 4)]
    for k, n in enumerate(fb.layers):
        torch.testing.assert_close(maps[str(k)], ref[n])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in fb.modules())

    class Boom(Exception):
        pass

    def boom(*_):
        raise Boom

    h = fb.body.get_submodule("_blocks.10").register_forward_pre_hook(boom)
    with pytest.raises(Boom):
        fb(x)
    h.remove()
    assert all(not m._forward_hooks for m in fb.modules())  # removed after an exception too


def test_pretrained_backbones_freeze_batchnorm_and_the_first_stages():
    det = detect.create("yolo", num_classes=1, size=96)
    body = det.backbone.body
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())
    frozen = {n for n, p in body.named_parameters() if not p.requires_grad}
    assert "_conv_stem.weight" in frozen and "_blocks.2._project_conv.weight" in frozen
    assert "_blocks.3._expand_conv.weight" not in frozen  # stride 8 onwards trains (3 of 5 stages)
    assert det.card.options["trainable_layers"] == 3 and det.card.options["freeze_bn"] is True
    with pytest.raises(ValueError, match="not a recorded feature map"):
        detect.create("yolo", num_classes=1, layers=["_blocks.3"])
    with pytest.raises(ValueError, match="takes 1-channel images"):
        detect.create("yolo", num_classes=1, backbone=models.create("lenet5"), weights=None)
