"""The attack, robustness and invariance commands; bad input gives one line on stderr and exit code 2."""

import csv

import pytest
import torch

from cnnlab import models
from cnnlab.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "resnet"
    models.save_checkpoint(path, models.create("resnet_small", in_channels=1, widths=(8, 16, 32)))
    return str(path)


def test_attack_dataset_table(ckpt, capsys):
    assert main(["attack", ckpt, "--data", "digits", "--method", "pgd", "--eps", "0.1", "--steps", "2",
                 "--limit", "24"]) == 0
    out = capsys.readouterr().out
    assert "robust accuracy" in out and "success rate" in out and "on 24 digits test images" in out
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith(("clean", "robust"))}
    assert rows["clean"].endswith("%") and float(rows["robust"].rstrip("%")) <= float(rows["clean"].rstrip("%"))
    assert "{" not in out and "'" not in out  # settings in words, no dict repr


def test_attack_targeted_fgsm_and_onepixel(ckpt, capsys):
    assert main(["attack", ckpt, "--data", "digits", "--method", "fgsm", "--eps", "0.05", "--targeted", "3",
                 "--limit", "8"]) == 0
    assert "fgsm (eps 0.05, target 3) on 8 digits" in capsys.readouterr().out
    assert main(["attack", ckpt, "--data", "digits", "--method", "onepixel", "--steps", "2", "--popsize", "8",
                 "--limit", "8"]) == 0
    out = capsys.readouterr().out
    l0 = float(next(line.split()[-1] for line in out.splitlines() if line.startswith("mean L0")))
    assert l0 <= 1


def test_attack_images_writes_three_pngs(tmp_path, capsys):
    from PIL import Image

    m = models.create("lenet5", in_channels=3)
    models.save_checkpoint(tmp_path / "lenet", m)
    assert main(["attack", "sample:coffee", "--model", str(tmp_path / "lenet"), "--method", "fgsm",
                 "--eps", "0.01", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "coffee" in out and "wrote 3 PNGs" in out
    for kind in ("original", "perturbation", "adversarial"):
        assert Image.open(tmp_path / "out" / f"coffee_{kind}.png").size == (28, 28)


def test_robustness_writes_curve(ckpt, tmp_path, capsys):
    assert main(["robustness", ckpt, "--data", "digits", "--eps", "0,0.2", "--steps", "2", "--limit", "16",
                 "--out", str(tmp_path), "--defences", "--defence-eps", "0.1"]) == 0
    rows = list(csv.DictReader((tmp_path / "robustness.csv").open()))
    assert [float(r["eps"]) for r in rows] == [0.0, 0.2]
    assert (tmp_path / "robustness.png").stat().st_size > 1000
    assert "adaptive attack" in capsys.readouterr().out


def test_invariance_writes_probes(ckpt, tmp_path, capsys):
    assert main(["invariance", ckpt, "--data", "digits", "--limit", "16", "--shift", "2",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "circular" in out and "rotate" in out
    rows = list(csv.DictReader((tmp_path / "equivariance.csv").open()))
    assert float(rows[0]["error_circular"]) < 1e-5 < float(rows[0]["error_zeros"])


@pytest.mark.parametrize("argv, message", [
    (["attack", "CKPT", "--data", "digits", "--eps", "3"], "--eps must be in [0, 1] for the L-inf ball"),
    (["attack", "CKPT", "--data", "digits", "--method", "cw"], "--method must be one of fgsm, pgd, onepixel, got 'cw'"),
    (["attack", "CKPT", "--data", "digits", "--method", "fgsm", "--steps", "3"], "--steps does not apply"),
    (["attack", "CKPT", "--data", "nosuch"], "unknown dataset"),
    (["attack", "CKPT", "CKPT", "--data", "digits"], "give one MODEL"),
    (["attack", "sample:coffee"], "needs --out"),
    (["attack", "missing.png", "--out", "x"], "no such image file"),
    (["attack", "nosuchmodel", "--data", "digits"], "unknown model"),
    (["robustness", "CKPT", "--data", "digits", "--eps", "a,b"], "--eps must be comma-separated"),
    (["robustness", "CKPT", "--data", "digits", "--method", "onepixel"], "has no epsilon"),
    (["invariance", "CKPT", "--data", "digits", "--shift", "0"], "--shift: must be a positive"),
])
def test_bad_input_one_line_exit_2(ckpt, argv, message, capsys):
    argv = [ckpt if a == "CKPT" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_adversarial_train_command(tmp_path, capsys):
    assert main(["adversarial-train", "resnet_small", "--data", "digits", "--method", "fgsm", "--epochs", "1",
                 "--limit", "256", "--probe", "32", "--out", str(tmp_path / "adv")]) == 0
    out = capsys.readouterr().out
    assert "catastrophic overfitting" in out and "PGD-10" in out
    assert any((tmp_path / "adv").rglob("model.safetensors"))  # the engine wrote its checkpoint
