"""Segmentation metrics from one confusion matrix: equal to torchmetrics (ignore_index), to a hand count, and the
same whatever the batching of the split."""

import pytest
import torch
from _segment_helpers import hook_count, tiny
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from cnnlab import data, segment


def _preds(n=6, k=5, hw=(9, 11), seed=0, ignore=255):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n, *hw), generator=g)
    p = torch.where(torch.rand(n, *hw, generator=g) < 0.6, y, torch.randint(0, k, (n, *hw), generator=g))
    y[torch.rand(n, *hw, generator=g) < 0.1] = ignore
    return p, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_torchmetrics_with_ignore_index(seed):
    k, ignore = 5, 255
    p, y = _preds(k=k, seed=seed, ignore=ignore)
    m = segment.metrics(p, y, num_classes=k, ignore_index=ignore)
    kw = {"num_classes": k, "ignore_index": ignore}
    glob = MulticlassAccuracy(average="micro", **kw)(p, y)
    cls = MulticlassAccuracy(average="macro", **kw)(p, y)
    per_cls = MulticlassAccuracy(average="none", **kw)(p, y)
    iou = MulticlassJaccardIndex(average="none", **kw)(p, y)
    miou = MulticlassJaccardIndex(average="macro", **kw)(p, y)
    assert m.global_accuracy == pytest.approx(float(glob), abs=1e-6)
    assert m.class_accuracy == pytest.approx(float(cls), abs=1e-6)
    assert m.miou == pytest.approx(float(miou), abs=1e-6)
    torch.testing.assert_close(m.per_class_accuracy, per_cls.float())
    torch.testing.assert_close(m.iou, iou.float())


def test_a_class_absent_from_truth_and_prediction_has_no_iou():
    y = torch.tensor([[[0, 0, 1, 1, 255]]])
    p = torch.tensor([[[0, 1, 1, 1, 2]]])
    m = segment.metrics(p, y, num_classes=4, ignore_index=255, classes=list("abcd"))
    # class a: TP 1, FN 1 -> IoU 1/2; class b: TP 2, FP 1 -> 2/3; c predicted only on void: no pixel; d absent
    assert m.iou[:2].tolist() == pytest.approx([0.5, 2 / 3]) and m.iou[2:].isnan().all()
    assert m.miou == pytest.approx((0.5 + 2 / 3) / 2)
    assert m.global_accuracy == pytest.approx(3 / 4) and m.class_accuracy == pytest.approx((0.5 + 1) / 2)
    assert m.confusion.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    s = m.summary()
    assert s["iou"]["c"] is None and s["pixels"] == 4
    miou_tm = MulticlassJaccardIndex(num_classes=4, ignore_index=255, average="macro")(p, y)
    assert m.miou == pytest.approx(float(miou_tm))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"labels must be classes in \[0, 2\]"):
        segment.metrics(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 7), num_classes=3)
    with pytest.raises(ValueError, match="differ in shape"):
        segment.confusion_matrix(torch.zeros(2, 2), torch.zeros(2, 3), num_classes=3)


def test_evaluate_accumulates_one_matrix_over_the_split_whatever_the_batching():
    ds = data.load_segmentation("scenes", "test", n=5, size=32, min_scale=12, max_scale=20)
    net = tiny("unet", num_classes=ds.num_classes)
    net.train()
    a = segment.evaluate(net, ds, batch_size=1, keep=2)
    b = segment.evaluate(net, ds, batch_size=4)
    assert torch.equal(a.metrics.confusion, b.metrics.confusion) and a.n == 5 and a.size == (32, 32)
    preds = segment.predict_labels(net, ds.images, batch_size=2)
    ref = segment.metrics(preds, ds.labels, num_classes=ds.num_classes, ignore_index=ds.ignore_index)
    assert torch.equal(ref.confusion, a.metrics.confusion) and torch.equal(a.predictions, preds[:2])
    assert net.training and hook_count(net) == 0  # the model's mode is restored
    with pytest.raises(ValueError, match="has 4 classes but segmenter 'unet' has 3 outputs"):
        segment.evaluate(tiny("unet", num_classes=3), ds)
