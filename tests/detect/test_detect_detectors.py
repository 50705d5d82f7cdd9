"""Every registered detector: one signature (torchvision's), named losses, a few training steps on generated scenes
make the loss fall, eval output well-formed (also for empty images), checkpoints round-trip, bad input is refused."""

import pytest
import torch
from _detect_helpers import OPTIONS, SIZE, build

from cnnlab import data, detect

LOSSES = {
    "rcnn": {"loss_classifier", "loss_box_reg"},
    "fast-rcnn": {"loss_classifier", "loss_box_reg"},
    "faster-rcnn": {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"},
    "mask-rcnn": {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"},
    "retinanet": {"loss_classification", "loss_bbox_regression"},
    "ssd": {"loss_classification", "loss_bbox_regression"},
    "yolo": {"loss_box", "loss_obj", "loss_noobj", "loss_class"},
}


def test_the_registry_holds_the_seven_methods():
    assert detect.names() == ["rcnn", "fast-rcnn", "faster-rcnn", "mask-rcnn", "retinanet", "ssd", "yolo"]
    assert set(OPTIONS) == set(detect.names())


@pytest.fixture(scope="module")
def scenes():
    return data.generate_scenes(4, size=SIZE, classes=[0, 1], max_objects=2, min_scale=28, max_scale=48, seed=2)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_detector_trains_and_predicts(name, scenes, tmp_path):
    det = build(name)
    images, targets = scenes.images[:2], scenes.targets[:2]
    opt = torch.optim.SGD([p for p in det.parameters() if p.requires_grad], lr=0.01 if name != "ssd" else 0.002,
                          momentum=0.9)
    det.train()
    first = None
    for _ in range(5):
        losses = det(images, targets)
        assert set(losses) == LOSSES[name] and all(torch.isfinite(v) for v in losses.values())
        loss = sum(losses.values())
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = float(sum(det(images, targets).values()).detach())
    assert last < first, (first, last)
    blank = torch.full((3, SIZE, SIZE + 16), 0.5)
    # an image without objects is a valid training sample
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    if name == "mask-rcnn":
        empty["masks"] = torch.zeros(0, SIZE, SIZE + 16, dtype=torch.bool)
    assert torch.isfinite(sum(det([blank, images[0]], [empty, targets[0]]).values()))
    det.eval()
    with torch.no_grad():
        out = det([scenes.images[2], blank])
    assert len(out) == 2
    for o, img in zip(out, [scenes.images[2], blank]):
        n = len(o["boxes"])
        assert o["boxes"].shape == (n, 4) and o["labels"].shape == (n,) and o["scores"].shape == (n,)
        assert o["labels"].dtype == torch.int64 and o["boxes"].dtype == torch.float32
        if n:
            assert ((o["labels"] >= 1) & (o["labels"] <= 2)).all()
            assert ((o["scores"] >= 0) & (o["scores"] <= 1)).all()
            h, w = img.shape[1:]
            assert (o["boxes"][:, 0] >= -1e-3).all() and (o["boxes"][:, 2] <= w + 1e-3).all()
            assert (o["boxes"][:, 3] <= h + 1e-3).all() and (o["boxes"][:, 2:] >= o["boxes"][:, :2]).all()
        if name == "mask-rcnn":
            assert o["masks"].dtype == torch.bool and o["masks"].shape == (n, *img.shape[1:])
    with torch.no_grad():
        ref = det([scenes.images[2]])[0]
    detect.save_detector(tmp_path / name, det)
    back = detect.load_detector(tmp_path / name)
    assert back.card == det.card and not back.training
    with torch.no_grad():
        again = back([scenes.images[2]])[0]
    assert torch.equal(again["boxes"], ref["boxes"]) and torch.equal(again["scores"], ref["scores"])


def test_predict_filters_by_score_and_restores_the_mode(scenes):
    det = build("yolo")
    det.train()
    out = detect.predict(det, scenes.images[:2], score=0.0)
    high = detect.predict(det, scenes.images[:2], score=0.3)
    assert det.training
    for o, h in zip(out, high):
        assert (h["scores"] >= 0.3).all() and len(h["scores"]) == int((o["scores"] >= 0.3).sum())
        assert torch.equal(o["scores"], o["scores"].sort(descending=True).values)
    rows, picture = detect.detect_image(det, scenes.images[0], score=0.0)
    assert picture.dtype == torch.uint8 and picture.shape == scenes.images[0].shape
    assert rows and set(rows[0]) == {"label", "class", "score", "box"} and rows[0]["class"] in det.classes


@pytest.mark.parametrize("images, targets, expected", [
    ([torch.rand(3, 32, 32) * 2], None, r"finite values in \[0, 1\]"),
    ([torch.rand(1, 32, 32)], None, r"must be a Tensor\[3, H, W\]"),
    (torch.rand(3, 32, 32), None, "wrap it in a list"),
    ([torch.rand(3, 32, 32)], [{"boxes": torch.tensor([[5.0, 5.0, 2.0, 9.0]]), "labels": torch.tensor([1])}],
     "x2 <= x1"),
    ([torch.rand(3, 32, 32)], [{"boxes": torch.tensor([[1.0, 1.0, 9.0, 9.0]]), "labels": torch.tensor([3])}],
     r"labels must be in 1..2"),
    ([torch.rand(3, 32, 32)], [], "targets must be a list of 1 dicts"),
])
def test_bad_input_is_refused_in_one_line(images, targets, expected):
    det = build("yolo")
    if targets is None:
        det.eval()
    with pytest.raises(ValueError, match=expected):
        det(images, targets) if targets is not None else det(images)
    if targets is not None:
        with pytest.raises(ValueError, match="needs targets"):
            det([torch.rand(3, 32, 32)])


def test_mask_rcnn_asks_for_masks():
    det = build("mask-rcnn")
    with pytest.raises(ValueError, match="has no 'masks'"):
        det([torch.rand(3, SIZE, SIZE)], [{"boxes": torch.tensor([[1.0, 1.0, 30.0, 30.0]]),
                                           "labels": torch.tensor([1])}])
