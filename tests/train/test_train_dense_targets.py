"""The engine's hooks for dense targets (labels [N, H, W]): a metric hook for the reported accuracy, a seeded joint
augmentation hook, batch-wise validation through loss_fn and metric, and exact resume with both."""

import json

import pytest
import torch

from cnnlab import data, segment, train


def _set(n=16, seed=0):
    return data.load_segmentation("scenes", "train", n=n, size=32, min_scale=12, max_scale=20, seed=seed)


def _cfg(**kw):
    base = dict(epochs=2, batch_size=4, optimizer="adam", lr=1e-2, schedule="none", weight_decay=0.0, device="cpu",
                progress=False, tensorboard=False, eval_batch_size=5)
    return train.TrainConfig(**{**base, **kw})


def _net(ds):
    torch.manual_seed(0)
    return segment.create("unet", num_classes=ds.num_classes, base=4, depth=1, classes=ds.classes)


def _pixel_hits(logits, labels):
    keep = labels != 255
    return ((logits.argmax(1) == labels) & keep).sum(), keep.sum()


def test_metric_hook_reports_pixel_accuracy_and_validation_runs_batchwise():
    tr, val = _set(), _set(n=7, seed=1)
    net = _net(tr)
    loss_fn = segment.segmentation_loss("ce", ignore_index=255)
    hist = train.fit(net, tr, val, _cfg(), loss_fn=loss_fn, metric=_pixel_hits)
    row = hist.rows[-1]
    assert 0 <= row.train_acc <= 1  # pixels, not images: top-1 over images would exceed 1 here
    net.eval()
    with torch.no_grad():
        logits = net(val.floats())
    hits, counted = _pixel_hits(logits, val.labels)
    assert row.val_acc == pytest.approx(int(hits) / int(counted), rel=1e-12)
    assert row.val_loss == pytest.approx(_batched_loss(loss_fn, logits, val), rel=1e-5)


def _batched_loss(loss_fn, logits, val):
    # the engine's validation loss: the mean over batches of 5 and 2 images, weighted by their sizes
    return float((loss_fn(logits[:5], val.labels[:5]) * 5 + loss_fn(logits[5:], val.labels[5:]) * 2) / 7)


def test_augment_hook_gets_a_generator_seeded_per_step():
    tr = _set(n=8)
    draws = []

    def augment(x, y, gen):
        draws.append(float(torch.rand(1, generator=gen)))
        return x.flip(-1), y.flip(-1)

    for _ in range(2):
        train.fit(_net(tr), tr, None, _cfg(epochs=1), loss_fn=segment.segmentation_loss("ce", ignore_index=255),
                  metric=_pixel_hits, augment=augment)
    assert len(draws) == 4 and draws[:2] == draws[2:] and draws[0] != draws[1]


def test_resume_with_dense_targets_continues_exactly(tmp_path):
    tr = _set()
    aug = segment.joint_augment(segment.SegmentConfig(scale=(0.8, 1.2)), 255)
    kw = dict(loss_fn=segment.segmentation_loss("ce", ignore_index=255), metric=_pixel_hits, augment=aug)
    straight = _net(tr)
    train.fit(straight, tr, None, _cfg(epochs=2, out_dir=str(tmp_path / "a")), **kw)
    first = _net(tr)
    train.fit(first, tr, None, _cfg(epochs=1, out_dir=str(tmp_path / "b")), **kw)
    # a state written before the metric hook existed has no "counted": resume must still work
    state = train.latest_state_dir(tmp_path / "b")
    doc = json.loads((state / "train_state.json").read_text())
    doc["meta"].pop("counted")
    (state / "train_state.json").write_text(json.dumps(doc))
    resumed = _net(tr)
    hist = train.fit(resumed, tr, None, _cfg(epochs=2, out_dir=str(tmp_path / "b")), resume=True, **kw)
    assert [r.epoch for r in hist.rows] == [1, 2]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
