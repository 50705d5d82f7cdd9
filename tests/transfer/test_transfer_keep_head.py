"""Fine-tuning a checkpoint that already classifies the data keeps its classifier and starts from its accuracy;
the boundary checks of `cnnlab transfer` (issue 12)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from cnnlab import data, models, transfer
from cnnlab.cli import main
from cnnlab.train import evaluate


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    """A linear probe of ImageNet EfficientNet-Lite0 on 300 digits at 24x24 (the issue's case, made small)."""
    out = tmp_path_factory.mktemp("probe") / "digits-probe"
    tr = data.stratified_subset(data.digits("train"), 300)
    transfer.transfer("efficientnet_lite0", tr, config=transfer.TransferConfig(mode="linear", resize=24),
                      out_dir=out)
    return out


def test_finetuning_a_probe_starts_from_its_accuracy(probe_dir, capsys):
    test = data.stratified_subset(data.digits("test"), 200, seed=1)
    probe_acc = evaluate(models.load_checkpoint(probe_dir), test).accuracy
    assert probe_acc > 0.6
    tr = data.stratified_subset(data.digits("train"), 300)
    cfg = transfer.TransferConfig(mode="finetune", resize=24, epochs=1, batch_size=64)
    r = transfer.transfer(str(probe_dir), tr, config=cfg, eval_data=test)
    assert r.extra["kept_head"] is True
    assert r.extra["start_accuracy"] == pytest.approx(probe_acc)  # the kept classifier, unchanged, scores the same
    # the first epoch starts where the probe is (it was 10-25% when the classifier was thrown away, chance level)
    assert r.history[0]["eval_acc"] >= probe_acc - 0.05
    assert r.extra["train"]["lr"] == pytest.approx(cfg.lr * cfg.kept_head_lr_scale)
    assert all(isinstance(m, transfer.FrozenStatsBatchNorm2d) for m in r.model.modules()
               if isinstance(m, torch.nn.BatchNorm2d))  # statistics frozen: the classifier was fitted on them
    assert all(m.p == 0 for m in r.model.modules() if isinstance(m, torch.nn.Dropout))
    # a new classifier on request: training starts from scratch-level accuracy
    new = transfer.transfer(str(probe_dir), tr, config=dataclasses.replace(cfg, keep_head=False), eval_data=test)
    assert new.extra["kept_head"] is False and "start_accuracy" not in new.extra


def test_cli_finetune_from_a_probe_prints_epoch_0(probe_dir, tmp_path, capsys):
    assert main(["transfer", "--from", str(probe_dir), "--data", "digits", "--mode", "finetune", "--subset", "128",
                 "--resize", "24", "--epochs", "1", "--eval-subset", "100", "--out", str(tmp_path / "ft")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2].split()[0] == "0" and lines[2].strip().endswith("-")  # epoch 0: the probe, before training
    assert "kept the source's classifier" in out and lines[2].split()[3].endswith("%")
    meta = models.read_checkpoint_meta(tmp_path / "ft")
    assert meta["card"]["classes"] == [str(i) for i in range(10)]


def test_keep_head_true_needs_the_same_classes(probe_dir):
    fm = data.fashion_mnist("test").subset(slice(0, 64))
    with pytest.raises(ValueError, match="keep_head=True needs a source that classifies the same classes"):
        transfer.transfer_model(str(probe_dir), num_classes=10, classes=fm.classes, in_channels=1,
                                input_size=(28, 28), keep_head=True)
    m = transfer.transfer_model(str(probe_dir), num_classes=10, classes=fm.classes, in_channels=1,
                                input_size=(28, 28), resize=24)
    assert m.cnnlab_source["kept_head"] is False  # other classes: a new classifier


def test_probe_weights_stay_small_on_nearly_constant_features():
    """One feature scale for all features: a feature that barely varies gets no huge weight (per-feature
    standardisation gave weights in the hundreds on ImageNet features of upsampled digits)."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (200,), generator=g)
    x = torch.randn(200, 8, generator=g) + torch.nn.functional.one_hot(y, 8)[:, :8].float() * 2
    x = torch.cat([x, 1e-4 * torch.randn(200, 4, generator=g) + 1e-4 * y[:, None]], 1)  # tiny, still informative
    w, b = transfer.fit_logistic_regression(x, y, 3, l2=1e-3)
    assert w[:, 8:].abs().max() < 5 * w[:, :8].abs().max()


@pytest.mark.parametrize("argv, message", [
    (["--from", "resnet18"], "model 'resnet18' has no pretrained weights in cnnlab"),
    (["--resize", "0"], "--resize must be an integer >= 8, got 0"),
    (["--resize", "100000"], "resize 3x100000x100000 is too large for model 'efficientnet_lite0'"),
    (["--from", "vgg16", "--allow-random", "--resize", "8"], "model 'vgg16' cannot take resize 3x8x8"),
    (["--eval-subset", "-1"], "--eval-subset must be"),
    (["--subset", "20", "--mode", "finetune"], "batch_size 64 is larger than the 20 training images"),
])
def test_cli_transfer_boundary_checks(argv, message, tmp_path, capsys):
    assert main(["transfer", "--data", "digits", "--out", str(tmp_path / "o"), "--epochs", "1", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_allow_random_is_a_scratch_baseline(tmp_path, capsys):
    assert main(["transfer", "--from", "resnet_small", "--allow-random", "--data", "digits", "--mode", "finetune",
                 "--subset", "64", "--batch-size", "32", "--resize", "16", "--epochs", "1", "--eval-subset", "50",
                 "--out", str(tmp_path / "s"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kept_head"] is False and doc["train_images"] == 64
