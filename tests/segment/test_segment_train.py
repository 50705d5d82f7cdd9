"""Training segmenters through the engine (run directory, resume, refusals), the losses, recipes, and segmenting
users' images of any size."""

import json

import pytest
import torch
import torch.nn.functional as F
from _segment_helpers import hook_count, tiny

from cnnlab import data, losses, segment, train


def _cfg(out=None, **kw):
    base = dict(epochs=1, batch_size=8, optimizer="adam", lr=1e-2, schedule="none", weight_decay=0.0, device="cpu",
                progress=False, tensorboard=False, eval_batch_size=16, out_dir=None if out is None else str(out))
    return train.TrainConfig(**{**base, **kw})


def test_train_segmenter_writes_a_run_that_loads_and_evaluates_the_same(tmp_path):
    out = tmp_path / "run"
    run = segment.train_segmenter("unet", "scenes", _cfg(out), model_kwargs={"base": 4, "depth": 1}, size=32,
                                  limit=16, options=segment.SegmentConfig(scale=(0.9, 1.1)))
    doc = json.loads((out / "segmenter.json").read_text())
    assert doc["arch"] == "unet" and doc["size"] == [32, 32] and doc["classes"] == ["background", "0", "1", "7"]
    assert doc["class_weights"] == run.class_weights and len(run.class_weights) == 4
    assert (out / "metrics.csv").is_file() and (out / "best").is_dir() and run.test.n == 32
    back = segment.load(out)
    assert back.cnnlab.input_size == (3, 32, 32) and back.cnnlab.classes == doc["classes"]
    again = segment.evaluate(back, data.load_segmentation("scenes", "test", size=32))
    assert torch.equal(again.metrics.confusion, run.test.metrics.confusion)
    assert segment.load_run_options(out)["data"] == "scenes"
    with pytest.raises(ValueError, match="trains 'unet', not 'segnet_basic'"):
        segment.train_segmenter("segnet_basic", "scenes", _cfg(out), resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        segment.train_segmenter("unet", "scenes", _cfg(tmp_path / "empty"), resume=True)


def test_fit_segmenter_refuses_what_would_misalign_or_overwrite():
    ds = data.load_segmentation("scenes", "train", n=8, size=32, min_scale=12, max_scale=20)
    with pytest.raises(ValueError, match="move the images but not their labels"):
        segment.fit_segmenter(tiny("unet", num_classes=4), ds, None, _cfg(hflip=True))
    with pytest.raises(ValueError, match="would overwrite 'fcn8s'"):
        segment.fit_segmenter(tiny("fcn8s", num_classes=4), ds, None, _cfg(init="kaiming"))
    with pytest.raises(ValueError, match="train_data has 4 classes but segmenter 'unet' has 3 outputs"):
        segment.fit_segmenter(tiny("unet", num_classes=3), ds, None, _cfg())
    with pytest.raises(TypeError, match="must be a SegmentationSet"):
        segment.fit_segmenter(tiny("unet", num_classes=4), data.digits("train"), None, _cfg())


def test_segmentation_losses_are_cnnlab_losses_with_ignore_index_and_weights():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 5, 6, generator=g), torch.randint(0, 3, (2, 5, 6), generator=g)
    y[0, 0] = 11
    w = [0.5, 1.0, 2.0]
    torch.testing.assert_close(segment.segmentation_loss("ce", ignore_index=11, weight=w)(x, y),
                               F.cross_entropy(x, y, weight=torch.tensor(w), ignore_index=11))
    torch.testing.assert_close(segment.segmentation_loss("focal", ignore_index=11, weight=w, gamma=1.0)(x, y),
                               losses.focal_loss(x, y, gamma=1.0, alpha=w, ignore_index=11))
    both = segment.segmentation_loss("ce+dice", ignore_index=11)(x, y)
    torch.testing.assert_close(both, F.cross_entropy(x, y, ignore_index=11) + losses.dice_loss(x, y, ignore_index=11))
    with pytest.raises(ValueError, match="loss must be one of"):
        segment.segmentation_loss("hinge", ignore_index=11)


def test_recipes_and_training_settings():
    arch, model, tr, seg = segment.training_settings(None, "unet_lite0-camvid", train={"lr": 5e-4, "epochs": None})
    assert arch == "unet_lite0" and tr["lr"] == 5e-4 and tr["epochs"] == segment.DEFAULT_TRAIN["epochs"]
    assert tr["lr_multipliers"] == {"encoder": 0.1} and seg["scale"] == (0.75, 1.25)
    train.TrainConfig(**tr)  # every recipe field is a TrainConfig field
    for name in segment.recipe_names():
        r = segment.recipe(name)
        assert r.arch in segment.names()
        train.TrainConfig(**r.train)
        segment.SegmentConfig(**r.segment)
    with pytest.raises(ValueError, match="recipe 'unet_lite0-camvid' trains 'unet_lite0', not 'fcn8s'"):
        segment.training_settings("fcn8s", "unet_lite0-camvid")


def test_segment_images_of_any_size_give_overlays_legends_and_leave_the_model_as_found(tmp_path):
    net = tiny("unet", num_classes=4, classes=["background", "a", "b", "c"], input_size=(32, 48))
    net.train()
    flags = [p.requires_grad for p in net.parameters()]
    imgs = [torch.rand(3, 37, 53), torch.rand(1, 20, 70)]
    out = segment.segment_images(net, imgs, alpha=0.3)
    assert net.training and [p.requires_grad for p in net.parameters()] == flags and hook_count(net) == 0
    for img, r in zip(imgs, out):
        h, w = img.shape[-2:]
        assert r.labels.shape == (h, w) and r.overlay.shape == r.colors.shape == r.image.shape == (3, h, w)
        assert sum(r.fractions.values()) == pytest.approx(1.0)
        torch.testing.assert_close(r.overlay, (0.7 * r.image + 0.3 * r.colors).clamp(0, 1))
        assert (r.confidence > 0).all() and (r.confidence <= 1).all()
        leg = r.legend()
        assert leg[0]["color"].startswith("#") and leg[0]["class"] in r.classes
    path = segment.save_label_png(out[0].labels, out[0].palette, tmp_path / "lab.png")
    assert torch.equal(data.read_label_png(path), out[0].labels)
    with pytest.raises(ValueError, match="--size 3x30000x30000 is too large for model 'fcn8s'"):
        segment.segment_images(tiny("fcn8s"), imgs, size=(30000, 30000))  # probed on the meta device: no memory


def test_flip_test_time_augmentation_averages_the_mirror_images_probabilities():
    torch.manual_seed(0)
    net = tiny("unet", num_classes=4, classes=["background", "a", "b", "c"], input_size=(32, 48)).eval()
    with torch.no_grad():
        net.head.weight.mul_(40)  # an untrained net says one class everywhere; a sharper head varies per pixel
    ds = data.load_segmentation("scenes", "test", size=32).subset(slice(0, 6))
    x = ds.images.float() / 255 if ds.images.dtype == torch.uint8 else ds.images.float()
    with torch.no_grad():  # the reference, written out: mean of softmax(model(x)) and softmax(model(mirror)) mirrored
        p = (F.softmax(net(x), 1) + F.softmax(net(x.flip(-1)), 1).flip(-1)) / 2
    ref = p.argmax(1)
    with torch.no_grad():  # a random net is not mirror-symmetric, so the averaging changes answers: the test can fail
        assert ref.unique().numel() > 1 and not torch.equal(ref, net(x).argmax(1))
    torch.testing.assert_close(segment.class_scores(net, x, hflip=True).exp(), p)
    assert torch.equal(segment.predict_labels(net, ds.images, hflip=True), ref)
    r = segment.evaluate(net, ds, hflip=True, keep=6)
    assert torch.equal(r.predictions, ref) and r.summary()["hflip"] is True
    cm = segment.metrics(ref, ds.labels, num_classes=ds.num_classes, ignore_index=ds.ignore_index)
    assert r.metrics.miou == pytest.approx(cm.miou, nan_ok=True)
    out = segment.segment_images(net, list(x), size=(32, 32), hflip=True)  # no resize at the images' own size
    assert torch.equal(torch.stack([o.labels for o in out]), ref)
    torch.testing.assert_close(torch.stack([o.confidence for o in out]), p.max(1).values, atol=1e-5, rtol=1e-5)


def test_a_resumed_segmenter_run_ends_where_an_unbroken_one_does_and_may_change_its_threads(tmp_path):
    kw = dict(model_kwargs={"base": 4, "depth": 1}, size=32, limit=16, test=False, validate=False,
              options=segment.SegmentConfig(scale=(0.9, 1.1)))
    whole = segment.train_segmenter("unet", "scenes", _cfg(tmp_path / "whole", epochs=2, num_threads=1), **kw)
    broken = tmp_path / "broken"
    segment.train_segmenter("unet", "scenes", _cfg(broken, epochs=2, num_threads=1), **kw)
    state = broken / "state"
    steps = sorted(p.name for p in state.iterdir() if p.name.startswith("step-"))
    assert len(steps) == 2
    (state / "LATEST").write_text(steps[0])  # as if killed after the first epoch
    again = segment.train_segmenter("unet", "scenes", _cfg(broken, epochs=2, num_threads=2, lr=1.0), resume=True,
                                    **kw)  # threads are the caller's; the learning rate stays the run's
    for a, b in zip(whole.model.state_dict().values(), again.model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), atol=1e-4, rtol=1e-3)  # 2 threads sum in another order
    assert [r["epoch"] for r in again.history.to_json()["rows"]] == [1, 2]
