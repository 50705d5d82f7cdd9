"""cnnlab.train core: config, augmentation, schedules, one fit step against a hand-written torch loop,
the perturb / loss_fn hooks, evaluate against a slow loop and scikit-learn, checkpoints and in-process resume."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _train_helpers import cfg, tiny_data
from torch import nn

from cnnlab import _device, models, train
from cnnlab.train import TrainConfig

# ---------------------------------------------------------------------------------------------- config


def test_config_json_roundtrip_and_validation():
    c = TrainConfig(epochs=3, optimizer="adamw", betas=(0.8, 0.99), out_dir="x", hflip=True)
    doc = json.loads(json.dumps(c.to_json()))
    assert TrainConfig.from_json(doc) == c
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        TrainConfig(label_smoothing=3.0)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(optimizer="adam", nesterov=True)


# ---------------------------------------------------------------------------------------- augmentation


def test_crop_at_matches_a_loop():
    x = torch.rand(5, 3, 8, 7)
    off = torch.tensor([[0, 0], [4, 4], [2, 2], [1, 3], [4, 0]])
    got = train.crop_at(x, 2, off)
    for i in range(5):
        p = F.pad(x[i], (2, 2, 2, 2))
        ref = p[:, off[i, 0]:off[i, 0] + 8, off[i, 1]:off[i, 1] + 7]
        assert torch.equal(got[i], ref)
    assert torch.equal(got[2], x[2])  # the centre offset gives the image back
    assert not torch.equal(got[0], x[0])


def test_flip_and_pca_lighting_match_loops():
    x = torch.rand(4, 3, 5, 6)
    mask = torch.tensor([True, False, True, False])
    f = train.flip_where(x, mask)
    assert torch.equal(f[0], torch.flip(x[0], [2])) and torch.equal(f[2], torch.flip(x[2], [2]))
    assert torch.equal(f[1], x[1])
    # PCA noise against a per-pixel numpy loop of AlexNet's formula: I_xy += [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T
    imgs = torch.rand(6, 3, 4, 4)
    eigval, eigvec = train.rgb_pca(imgs)
    pix = imgs.permute(1, 0, 2, 3).reshape(3, -1).numpy().astype(np.float64)
    ev, evec = np.linalg.eigh(np.cov(pix))
    np.testing.assert_allclose(eigval.numpy(), ev, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.abs(eigvec.numpy()), np.abs(evec), atol=1e-4)  # eigenvectors up to sign
    alpha = torch.randn(4, 3) * 0.1
    small = x * 0.5 + 0.25  # stays inside [0, 1] so the clamp does not hide the shift
    got = train.pca_lighting(small, eigval, eigvec, alpha)
    for n in range(4):
        shift = sum(eigvec[:, j].numpy() * alpha[n, j].item() * eigval[j].item() for j in range(3))
        ref = small[n].numpy() + shift[:, None, None]
        np.testing.assert_allclose(got[n].numpy(), np.clip(ref, 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="3-channel"):
        train.rgb_pca(torch.rand(2, 1, 4, 4))


# ------------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_schedules_match_torch_schedulers(schedule):
    total, per_epoch = 40, 8
    c = TrainConfig(schedule=schedule, lr=0.1, step_epochs=2, step_gamma=0.5, warmup_fraction=0.3)
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    ref = {"step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2 * per_epoch, gamma=0.5),
           "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total),
           "onecycle": lambda o: torch.optim.lr_scheduler.OneCycleLR(
               o, max_lr=0.1, total_steps=total, pct_start=0.3, cycle_momentum=False)}[schedule](opt)
    for step in range(total):
        want = opt.param_groups[0]["lr"]
        assert train.lr_factor(c, step, total, per_epoch) * 0.1 == pytest.approx(want, rel=1e-9, abs=1e-12)
        opt.step()
        ref.step()


# ---------------------------------------------------------------------------------------- fit vs torch


def _reference_loop(model, d, c, steps, opt_cls, **opt_kw):
    """The plain PyTorch loop fit() must equal: same data order, cross-entropy, optimiser step."""
    opt = opt_cls(model.parameters(), **opt_kw)
    order = train.epoch_order(len(d), c.seed, 0)
    for s in range(steps):
        idx = order[s * c.batch_size:(s + 1) * c.batch_size]
        x, y = d.images[idx].float() / 255, d.labels[idx]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name,opt_cls,opt_kw", [
    ("sgd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3, momentum=0.5, weight_decay=0.0)),
    ("adagrad", torch.optim.Adagrad, dict(lr=1e-2)),
    ("adam", torch.optim.Adam, dict(lr=1e-3)),
    ("adamw", torch.optim.AdamW, dict(lr=1e-3, weight_decay=1e-2)),
])
def test_fit_equals_a_plain_torch_loop(name, opt_cls, opt_kw):
    d = tiny_data(96)
    net = models.create("lenet5")
    ref = copy.deepcopy(net)
    kw = dict(optimizer=name, lr=opt_kw["lr"], momentum=opt_kw.get("momentum", 0.0),
              nesterov=opt_kw.get("nesterov", False), weight_decay=opt_kw.get("weight_decay", 0.0))
    c = cfg(**kw)
    hist = train.fit(net, d, None, c)
    _reference_loop(ref, d, c, 3, opt_cls, **opt_kw)
    assert hist.steps == 3 and len(hist.rows) == 1
    for (k, a), b in zip(net.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    assert net.training
    assert not torch.equal(net.features[0].weight, models.create("lenet5").features[0].weight)


def test_cpu_amp_autocasts_to_bfloat16_and_tracks_the_float32_run(monkeypatch):
    monkeypatch.setattr(_device, "cpu_has_native", lambda dtype: True)  # as on an AVX-512 / AMX CPU
    d = tiny_data(96)
    net, ref = models.create("lenet5"), models.create("lenet5")
    ref.load_state_dict(net.state_dict())
    dtypes = []
    hook = net.features[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    try:
        train.fit(net, d, None, cfg(amp=True))
    finally:
        hook.remove()
    train.fit(ref, d, None, cfg())
    assert dtypes == [torch.bfloat16] * 3  # the convolutions ran in bfloat16 ...
    assert net.features[0].weight.dtype == torch.float32  # ... the weights stayed float32
    w, r = net.features[0].weight, ref.features[0].weight
    assert not torch.equal(w, r)  # autocast changed the arithmetic
    assert (w - r).abs().max() < 0.02 * r.abs().max()  # but not the run: bfloat16 rounding only
    with pytest.raises(ValueError, match="amp_dtype='float16' needs CUDA"):
        train.fit(models.create("lenet5"), d, None, cfg(amp=True, amp_dtype="float16"))


def test_cpu_amp_is_refused_where_bfloat16_is_emulated(monkeypatch):
    monkeypatch.setattr(_device, "cpu_has_native", lambda dtype: dtype != torch.bfloat16)
    net = models.create("lenet5")
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match=r"amp \(bfloat16 autocast\) on this CPU \(\w+, no native bfloat16\)"):
        train.fit(net, tiny_data(32), None, cfg(amp=True))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), before.values()))  # no step was taken
    train.fit(net, tiny_data(32), None, cfg())  # float32 trains on the same CPU


def test_native_dtype_probe_answers_what_onednn_reports():
    native = _device.cpu_has_native(torch.bfloat16)
    assert native == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert _device.cpu_has_native(torch.float16) == torch.ops.mkldnn._is_mkldnn_fp16_supported()
    assert _device.cpu_has_native(torch.float32)
    _device.check_autocast(torch.device("meta"), torch.bfloat16)  # only the CPU is checked


def test_perturb_hook_sees_every_batch_and_model_returns_to_train_mode():
    d = tiny_data(64)
    net = models.create("lenet5")
    seen = []

    def perturb(model, images, labels):
        seen.append((model.training, images.min().item(), images.max().item(), images.shape, labels.clone()))
        model.eval()  # an attack may switch to eval; fit must switch back
        return torch.zeros_like(images)  # train on black images: the loss must notice

    hist = train.fit(net, d, None, cfg(epochs=2, batch_size=16), perturb=perturb)
    assert len(seen) == 8 and all(s[0] for s in seen)
    assert all(0 <= s[1] and s[2] <= 1 and s[3] == (16, 1, 28, 28) for s in seen)
    assert net.training
    # with all-black inputs the logits are the same for every image: the net can at best learn the prior
    with torch.no_grad():
        out = net.eval()(torch.zeros(2, 1, 28, 28))
    assert torch.allclose(out[0], out[1])
    assert hist.rows[-1].train_acc <= 0.35


def test_loss_fn_replaces_the_configured_loss():
    d = tiny_data(64)
    calls = []

    def loss_fn(logits, targets):
        calls.append(logits.shape)
        return F.mse_loss(logits.softmax(1), F.one_hot(targets, 10).float())

    net = models.create("lenet5")
    ref = copy.deepcopy(net)
    train.fit(net, d, None, cfg(batch_size=32, optimizer="sgd", momentum=0.0), loss_fn=loss_fn)
    assert calls == [torch.Size([32, 10])] * 2
    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    order = train.epoch_order(64, 0, 0)
    for s in range(2):
        idx = order[s * 32:(s + 1) * 32]
        loss = F.mse_loss(ref(d.images[idx].float() / 255).softmax(1), F.one_hot(d.labels[idx], 10).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_label_smoothing_and_bad_inputs():
    d = tiny_data(32)
    with pytest.raises(TypeError, match="ImageTensors"):
        train.fit(models.create("lenet5"), d.images, None, cfg())
    with pytest.raises(ValueError, match="unknown loss 'hinge2'"):
        train.fit(models.create("lenet5"), d, None, cfg(loss="hinge2"))
    with pytest.raises(ValueError, match="pca_noise needs RGB"):
        train.fit(models.create("lenet5"), d, None, cfg(pca_noise=0.1))
    ce = train.resolve_loss("ce", 0.1)
    logits, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    ref = -(F.log_softmax(logits, 1) * (F.one_hot(y, 4) * 0.9 + 0.1 / 4)).sum(1).mean()
    torch.testing.assert_close(ce(logits, y), ref)


def test_init_schemes_change_weights_with_the_right_scale():
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Flatten(), nn.Linear(64, 300))
    train.init_weights(net, "kaiming")
    std = net[0].weight.std().item()
    assert std == pytest.approx((2 / 27) ** 0.5, rel=0.1)  # He: sqrt(2 / fan_in)
    train.init_weights(net, "xavier")
    bound = (6 / (64 + 300)) ** 0.5  # Glorot: U(-b, b)
    assert net[2].weight.abs().max().item() <= bound and net[2].weight.abs().max().item() > 0.9 * bound
    assert torch.all(net[2].bias == 0)


# -------------------------------------------------------------------------------------------- evaluate


def test_evaluate_matches_a_loop_and_sklearn_and_restores_mode():
    from sklearn.metrics import confusion_matrix

    d = tiny_data(50, k=4)
    net = models.create("lenet5", num_classes=4)
    net.train()
    r = train.evaluate(net, d, batch_size=7)
    assert net.training
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(d.images[i:i + 1].float() / 255) for i in range(50)])
    pred = logits.argmax(1)
    assert r.accuracy == pytest.approx((pred == d.labels).float().mean().item())
    assert r.loss == pytest.approx(F.cross_entropy(logits, d.labels).item(), rel=1e-5)
    np.testing.assert_array_equal(r.confusion.numpy(), confusion_matrix(d.labels, pred, labels=range(4)))
    for k in range(4):
        m = d.labels == k
        assert r.per_class_accuracy[k].item() == pytest.approx((pred[m] == k).float().mean().item())
    assert r.confusion.sum().item() == 50 and r.classes == d.classes


# ------------------------------------------------------------------------------------ checkpoint / resume


def test_checkpoints_load_and_predict_like_the_trained_model(tmp_path):
    d = tiny_data(96)
    net = models.create("lenet5")
    hist = train.fit(net, d, None, cfg(epochs=2, val_fraction=0.25, out_dir=str(tmp_path / "run")))
    assert hist.checkpoint_dir == str(tmp_path / "run") and hist.best_epoch in (1, 2)
    loaded = models.load_checkpoint(tmp_path / "run")
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(loaded(x), net.eval()(x))
    meta = models.read_checkpoint_meta(tmp_path / "run")
    assert meta["extra"]["train"]["epochs"] == 2 and len(meta["extra"]["history"]["rows"]) == 2
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()
    csv = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,train_loss") and len(csv) == 3
    assert train.latest_state_dir(tmp_path / "run").name == f"step-{hist.steps:08d}"


class _Boom(RuntimeError):
    pass


def test_resume_after_a_crash_mid_epoch_is_bit_identical(tmp_path):
    d = tiny_data(128)
    c = cfg(epochs=2, batch_size=16, schedule="onecycle", crop_padding=2, hflip=True, checkpoint_every=3,
            label_smoothing=0.1)
    torch.manual_seed(1)
    full = models.create("resnet_small", widths=(4, 8, 8))
    start = copy.deepcopy(full.state_dict())
    train.fit(full, d, None, c.replace(out_dir=str(tmp_path / "a")))

    calls = {"n": 0}

    def crash_at_step_13(model, images, labels):  # dies in epoch 2 (8 steps per epoch), after step 11
        calls["n"] += 1
        if calls["n"] == 13:
            raise _Boom
        return images

    part = models.create("resnet_small", widths=(4, 8, 8))
    part.load_state_dict(start)
    with pytest.raises(_Boom):
        train.fit(part, d, None, c.replace(out_dir=str(tmp_path / "b")), perturb=crash_at_step_13)
    assert train.latest_state_dir(tmp_path / "b").name == "step-00000011"
    again = models.create("resnet_small", widths=(4, 8, 8))  # fresh weights: all comes from the checkpoint
    hist = train.fit(again, d, None, c.replace(out_dir=str(tmp_path / "b")), resume=True)
    assert [r.epoch for r in hist.rows] == [1, 2] and hist.steps == 16
    for (k, a), b in zip(full.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k

    other = models.create("lenet5")
    with pytest.raises(ValueError, match="holds model 'resnet_small', not 'lenet5'"):
        train.fit(other, d, None, c.replace(out_dir=str(tmp_path / "b")), resume=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    d = tiny_data(64)
    steps = {"n": 0}

    def nan_after_5(logits, targets):
        steps["n"] += 1
        loss = F.cross_entropy(logits, targets)
        return loss * float("nan") if steps["n"] > 5 else loss

    net = models.create("lenet5")
    with pytest.raises(train.TrainingDiverged, match="NaN or infinite at epoch 2.*step-00000004"):
        train.fit(net, d, None, cfg(epochs=3, batch_size=16, checkpoint_every=2, out_dir=str(tmp_path)),
                  loss_fn=nan_after_5)
    good = models.load_checkpoint(train.latest_state_dir(tmp_path))
    assert all(torch.isfinite(p).all() for p in good.parameters())
    assert not (tmp_path / "model.safetensors").exists()


def test_evaluate_restores_train_mode_when_the_model_raises():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, x):
            assert not self.training  # evaluate runs in eval mode
            raise RuntimeError("broken model")

    m = Bad().train()
    with pytest.raises(RuntimeError, match="broken model"):
        train.evaluate(m, tiny_data(4))
    assert m.training
    threads = torch.get_num_threads()
    with pytest.raises((TypeError, AttributeError)):  # a loss_fn returning None cannot be back-propagated
        train.fit(models.create("lenet5"), tiny_data(4), None, cfg(num_threads=3, batch_size=4),
                  loss_fn=lambda a, b: None)
    assert torch.get_num_threads() == threads  # fit restores the thread count when it fails
