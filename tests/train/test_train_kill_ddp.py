"""A real SIGKILL mid-epoch, then --resume: bit-identical final weights. DDP with 2 gloo processes against one
process on the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from cnnlab import models, train
from cnnlab.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")
ARGS = ["train", "--model", "lenet5", "--limit", "1024", "--epochs", "2", "--batch-size", "32", "--threads", "1",
        "--checkpoint-every", "4", "--crop-padding", "2", "--hflip", "--label-smoothing", "0.1", "--no-test",
        "--val-fraction", "0.125"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", *ARGS, "--out", str(killed)], env=_env(),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines = []
    try:
        for line in proc.stderr:  # log lines arrive as they are written; kill at the first mid-epoch checkpoint
            lines.append(line)   # of epoch 2, so the resumed run must also restore epoch 1's history
            if "(epoch 2, step 4, mid-epoch)" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=300)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    assert not (killed / "model.safetensors").exists()  # it really died before the end
    assert train.latest_state_dir(killed) is not None

    assert main([*ARGS, "--out", str(killed), "--resume", "--quiet"]) == 0
    assert main([*ARGS, "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    a = load_file(str(killed / "model.safetensors"))
    b = load_file(str(tmp_path / "straight" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ha = (killed / "metrics.csv").read_text().splitlines()
    hb = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert len(ha) == len(hb) == 3
    # the epoch's loss and accuracy columns survive the kill too (time columns differ)
    assert [r.split(",")[:5] for r in ha] == [r.split(",")[:5] for r in hb]


def test_ddp_two_gloo_processes_match_one_process(tmp_path):
    common = ["train", "--model", "lenet5", "--limit", "256", "--epochs", "1", "--batch-size", "64",
              "--val-fraction", "0", "--no-test", "--crop-padding", "2", "--hflip", "--schedule", "cosine",
              "--lr", "0.3", "--quiet"]
    env = _env()
    env["OMP_NUM_THREADS"] = "1"
    ddp = subprocess.run([sys.executable, "-m", "cnnlab", *common, "--nproc", "2", "--out", str(tmp_path / "ddp")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert main([*common, "--threads", "1", "--out", str(tmp_path / "one")]) == 0
    a = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    b = load_file(str(tmp_path / "one" / "model.safetensors"))
    torch.manual_seed(0)  # what run_training starts from
    start = models.create("lenet5", num_classes=10, in_channels=1).state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    moved = max((a[k] - start[k]).abs().max().item() for k in a)
    assert moved > 1e-2  # the processes trained: equality is not just the shared initialisation
    rows = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2
    # only rank 0 wrote: one state directory per checkpoint, no duplicates
    assert train.latest_state_dir(tmp_path / "ddp").name == "step-00000004"
