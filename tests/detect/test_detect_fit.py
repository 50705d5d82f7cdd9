"""detect.fit: named losses in metrics.csv, safetensors checkpoints, the backbone's lower learning rate, early stopping
on validation mAP, and a real SIGKILL mid-epoch then resume giving identical weights."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _detect_helpers import build
from safetensors.torch import load_file

from cnnlab import data, detect, train

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def scenes():
    return data.generate_scenes(8, size=64, classes=[0, 1], max_objects=2, min_scale=24, max_scale=40, seed=4)


def test_fit_writes_named_losses_checkpoints_and_validation_ap(scenes, tmp_path):
    det = build("faster-rcnn", min_size=64, max_size=64)
    cfg = detect.DetectConfig(epochs=2, batch_size=2, lr=0.01, device="cpu", progress=False, out_dir=str(tmp_path),
                              crop=0.5, scale=(0.9, 1.1))
    hist = detect.fit(det, scenes.subset(range(6)), scenes.subset([6, 7]), cfg)
    assert hist.steps == 6 and len(hist.rows) == 2 and hist.best_epoch in (1, 2)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 2
    for k in ("loss", "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "val_map",
              "val_map50", "lr", "seconds"):
        assert k in rows[0] and rows[0][k] != "", k
    for d in (tmp_path, tmp_path / "best"):
        assert (d / "detector.safetensors").is_file() and (d / "detector.json").is_file()
    state = train.latest_state_dir(tmp_path)
    assert state is not None and (state / "detector.safetensors").is_file()
    back = detect.load_detector(tmp_path)
    best = load_file(str(tmp_path / "best" / "detector.safetensors"))
    assert all(torch.equal(best[k], v) for k, v in back.state_dict().items())  # restore_best


def test_the_backbone_learns_at_a_tenth_of_the_rate(scenes):
    det = build("yolo", size=64)
    cfg = detect.DetectConfig(lr=0.02, backbone_lr=0.1, schedule="none")
    from cnnlab.train import build_optimizer

    opt = build_optimizer(det, cfg.optim_config(det.backbone_prefix))
    by_id = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for name, p in det.named_parameters():
        if p.requires_grad:
            expected = 0.002 if name.startswith("net.backbone.body.") else 0.02
            assert by_id[id(p)] == pytest.approx(expected), name


def test_early_stopping_on_validation_map(scenes):
    det = build("yolo", size=64, freeze_bn=True)
    # lr ~0 and frozen batch-norm statistics: validation AP cannot improve after the first evaluation, so
    # patience 1 stops after epoch 2
    cfg = detect.DetectConfig(epochs=5, batch_size=4, lr=1e-12, device="cpu", progress=False, patience=1,
                              schedule="none")
    hist = detect.fit(det, scenes.subset(range(4)), scenes.subset([4, 5]), cfg)
    assert hist.stopped_early and len(hist.rows) == 2 and hist.best_epoch == 1


def test_fit_refuses_mismatched_data(scenes):
    det = build("yolo", num_classes=3, size=64)
    with pytest.raises(ValueError, match="3 classes but the training data has 2"):
        detect.fit(det, scenes, None, detect.DetectConfig(epochs=1))
    with pytest.raises(TypeError, match="DetectionSet"):
        detect.fit(build("yolo", size=64), [1, 2], None)
    with pytest.raises(ValueError, match="monitor must be one of"):
        detect.DetectConfig(monitor="accuracy")


ARGS = ["train-detector", "--arch", "yolo", "--data", "scenes:digits:10:64", "--backbone", "efficientnet_lite0",
        "--weights", "none", "--size", "64", "--set", "hidden=16", "--epochs", "2", "--batch-size", "2",
        "--threads", "1", "--checkpoint-every", "2", "--no-test", "--eval-every", "2", "--lr", "0.01"]


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", *ARGS, "--out", str(killed)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines = []
    try:
        for line in proc.stderr:  # kill at the first mid-epoch checkpoint of epoch 2 (5 steps an epoch)
            lines.append(line)
            if "(epoch 2, step 1, mid-epoch)" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=600)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    assert not (killed / "detector.safetensors").exists()
    from cnnlab.cli import main

    assert main([*ARGS, "--out", str(killed), "--resume", "--quiet"]) == 0
    assert main([*ARGS, "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    a = load_file(str(killed / "detector.safetensors"))
    b = load_file(str(tmp_path / "straight" / "detector.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (
        (killed / "metrics.csv").read_text(), (tmp_path / "straight" / "metrics.csv").read_text())
    ra = list(csv.DictReader(open(killed / "metrics.csv")))
    rb = list(csv.DictReader(open(tmp_path / "straight" / "metrics.csv")))
    assert len(ra) == len(rb) == 2
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb] and ra[1]["val_map50"] == rb[1]["val_map50"]
