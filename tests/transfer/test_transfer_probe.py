"""The linear probe (features, logistic regression against scikit-learn), transfer() end to end, the CLI."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab import data, models, transfer
from cnnlab.cli import main
from cnnlab.train import evaluate


@pytest.fixture
def tiny_net():
    torch.manual_seed(0)
    return models.create("resnet_small", in_channels=1, num_classes=10, widths=(4, 8, 8))


def test_features_are_the_classifier_input(tiny_net):
    x = torch.rand(10, 1, 16, 16)
    ref_net = copy.deepcopy(tiny_net).eval()
    ref_net.fc = nn.Identity()  # the reference: the same network without its classifier
    tiny_net.train()
    feats = transfer.extract_features(tiny_net, x, batch_size=4)
    torch.testing.assert_close(feats, ref_net(x))
    assert tiny_net.training and not tiny_net.fc._forward_hooks  # mode restored, hook removed


def test_no_hook_left_and_mode_restored_when_the_forward_raises(tiny_net):
    tiny_net.train()
    with pytest.raises(ValueError, match="1-channel images"):
        transfer.extract_features(tiny_net, torch.rand(2, 3, 16, 16))
    assert tiny_net.training
    assert all(not m._forward_hooks for m in tiny_net.modules())


def test_feature_cache_is_reused(tiny_net, tmp_path):
    ds = data.ImageTensors((torch.rand(6, 1, 12, 12) * 255).to(torch.uint8), torch.arange(6) % 2, ["a", "b"])
    first = transfer.extract_features(tiny_net, ds, cache_dir=tmp_path)
    files = list(tmp_path.glob("features-*.safetensors"))
    assert len(files) == 1
    with torch.no_grad():  # change the weights: a cache hit must still return the stored features
        tiny_net.conv1.weight.zero_()
    again = transfer.extract_features(tiny_net, ds, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 2  # different weights, different key
    assert not torch.equal(first, again)
    torch.testing.assert_close(transfer.extract_features(tiny_net, ds, cache_dir=tmp_path), again)


def test_logistic_regression_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    n, d, k = 300, 12, 4
    centers = torch.randn(k, d, generator=g) * 1.5
    y = torch.randint(0, k, (n,), generator=g)
    x = centers[y] + torch.randn(n, d, generator=g) * 2 + 3  # offset and scale: the scaling matters
    x[:, 0] *= 10  # features of different sizes keep their relative size
    l2 = 0.01
    w, b = transfer.fit_logistic_regression(x, y, k, l2=l2)
    z = ((x - x.mean(0)) / x.var(0, unbiased=False).mean().sqrt()).double().numpy()  # one scale for all features
    ref = LogisticRegression(C=1 / (l2 * n), max_iter=5000, tol=1e-10).fit(z, y.numpy())
    ours = (x.double() @ w.double().T + b.double()).softmax(1).numpy()
    np.testing.assert_allclose(ours, ref.predict_proba(z), atol=2e-4)


def test_linear_probe_on_imagenet_features_beats_chance_on_digits(tmp_path):
    train = data.stratified_subset(data.digits("train"), 100)
    test = data.stratified_subset(data.digits("test"), 60, seed=1)
    cfg = transfer.TransferConfig(mode="linear", resize=24)
    r = transfer.transfer("efficientnet_lite0", train, config=cfg, eval_data=test, out_dir=tmp_path / "probe")
    assert r.eval_accuracy > 0.6  # chance is 0.1
    assert r.trainable_params == 1280 * 10 + 10 and r.extra["feature_dim"] == 1280
    back = models.load_checkpoint(r.checkpoint)
    assert evaluate(back, test).accuracy == pytest.approx(r.eval_accuracy)
    meta = models.read_checkpoint_meta(r.checkpoint)
    assert meta["extra"]["transfer"]["config"]["mode"] == "linear"
    assert meta["card"]["kwargs"]["input_adapter"]["size"] == [24, 24]


def test_finetune_from_a_checkpoint_learns(tmp_path, tiny_net):
    src = models.save_checkpoint(tmp_path / "src", tiny_net)
    train = data.stratified_subset(data.digits("train"), 160)
    test = data.stratified_subset(data.digits("test"), 60, seed=1)
    cfg = transfer.TransferConfig(mode="finetune", resize=None, epochs=3, lr=2e-2, backbone_lr_mult=0.5,
                                  batch_size=32, loss="focal")
    r = transfer.transfer(str(src), train, config=cfg, eval_data=test)
    losses = [h["train_loss"] for h in r.history]
    assert len(r.history) == 3 and losses[-1] < losses[0]
    assert r.eval_accuracy > 0.15  # chance is 0.1


def test_freeze_and_finetune_train_through_fit_with_a_slower_backbone(tiny_net):
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    ds = data.stratified_subset(data.digits("train"), 40)
    cfg = transfer.TransferConfig(mode="freeze:1", resize=None, epochs=2, lr=1e-2, backbone_lr_mult=0.25,
                                  batch_size=16, warmup_steps=2)
    seen = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: seen.append([(g["lr"], g["params"]) for g in opt.param_groups]))
    try:
        r = transfer.transfer(tiny_net, ds, config=cfg)
    finally:
        handle.remove()
    tc = r.extra["train"]
    assert tc["lr_multipliers"] == {"": 0.25, "fc": 1.0} and tc["schedule"] == "onecycle"
    assert tc["warmup_fraction"] == 0.5 and tc["bn_recalibrate"] == 512  # 2 of 4 steps (40 // 16 per epoch)
    assert len(seen) == 4 and len(r.history) == 2 and "eval_acc" not in r.history[0]
    trainable = [p for p in r.model.parameters() if p.requires_grad]
    for (backbone_lr, backbone), (head_lr, head) in seen:
        assert backbone_lr == pytest.approx(0.25 * head_lr)
        assert head == list(r.model.fc.parameters()) and len(backbone) + 2 == len(trainable)
    assert seen[0][1][0] == pytest.approx(1e-2 / 25) and seen[1][1][0] == pytest.approx(1e-2)  # warm-up, peak
    assert sum(p.numel() for p in trainable) == r.trainable_params and r.frozen_params > 0


def test_stratified_subset_keeps_class_proportions():
    ds = data.ImageTensors(torch.zeros(1000, 1, 2, 2), torch.tensor([0] * 800 + [1] * 150 + [2] * 50), list("abc"))
    sub = data.stratified_subset(ds, 100, seed=3)
    assert torch.bincount(sub.labels).tolist() == [80, 15, 5]
    assert torch.bincount(data.stratified_subset(ds, 5).labels, minlength=3).min() >= 1


def test_cli_transfer_freeze_and_checkpoint(tmp_path, tiny_net, capsys):
    src = models.save_checkpoint(tmp_path / "src", tiny_net)
    out = tmp_path / "run"
    assert main(["transfer", "--from", str(src), "--data", "digits", "--mode", "freeze:3", "--subset", "60",
                 "--eval-subset", "40", "--epochs", "1", "--resize", "16", "--batch-size", "32", "--out", str(out),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["train_images"] == 60 and doc["eval_images"] == 40 and 0 <= doc["eval_accuracy"] <= 1
    assert doc["frozen_params"] > 0 and doc["trainable_params"] > 0
    assert models.load_checkpoint(out).cnnlab.input_size == (1, 8, 8)


@pytest.mark.parametrize("argv, message", [
    (["--mode", "freeze:x"], "mode must be"),
    (["--mode", "freeze:50"], "more blocks than the model has"),
    (["--from", "no/such/dir"], "no such checkpoint directory: 'no/such/dir'"),
    (["--data", "cifar10:/no/such"], "does not exist"),
    (["--subset", "0"], "subset must be"),
])
def test_cli_transfer_bad_input(argv, message, tmp_path, tiny_net, capsys):
    src = models.save_checkpoint(tmp_path / "src", tiny_net)
    base = ["transfer", "--from", str(src), "--data", "digits", "--out", str(tmp_path / "o"), "--epochs", "1",
            "--resize", "16", "--subset", "20"]
    assert main(base + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
