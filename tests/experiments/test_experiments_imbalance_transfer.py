"""The imbalance experiment's data preparation, and tiny runs of both experiments through the CLI."""

import json

import pytest
import torch

from cnnlab import data, experiments
from cnnlab.cli import main


def test_long_tailed_counts_hand_computed():
    assert experiments.long_tailed_counts(3, 100, 100.0) == [100, 10, 1]
    counts = experiments.long_tailed_counts(10, 6000, 100.0)
    assert counts[0] == 6000 and counts[-1] == 60 and counts == sorted(counts, reverse=True)
    assert counts[3] == round(6000 * 100 ** (-3 / 9))


def test_make_imbalanced_takes_the_asked_counts():
    ds = data.digits("train")
    sub = experiments.make_imbalanced(ds, [50, 20, 5, 1, 1, 1, 1, 1, 1, 1], seed=1)
    assert torch.bincount(sub.labels, minlength=10).tolist() == [50, 20, 5, 1, 1, 1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="samples"):
        experiments.make_imbalanced(ds, [10_000] + [1] * 9)


def test_cli_experiment_imbalance_tiny(capsys, tmp_path):
    argv = ["experiment", "imbalance", "--data", "digits", "--n-max", "40", "--ratio", "10", "--epochs", "2",
            "--model", "resnet_small",
            "--losses", "ce", "class_balanced_focal", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["loss"] for r in doc["rows"]] == ["ce", "class_balanced_focal"]
    assert doc["counts"][0] == 40 and doc["counts"][-1] == 4
    for r in doc["rows"]:
        recalls = r["per_class_recall"]
        assert r["balanced_accuracy"] == pytest.approx(sum(recalls) / 10, abs=1e-3)
        assert r["rarest_recall"] == recalls[-1]
    assert (tmp_path / "imbalance.csv").read_text().startswith("loss,accuracy,balanced_accuracy")


def test_cli_experiment_transfer_tiny(capsys, tmp_path):
    argv = ["experiment", "transfer", "--data", "digits", "--sizes", "20", "--methods", "linear", "finetune",
            "--resize", "16", "--eval-subset", "40", "--min-epochs", "1", "--min-steps", "1", "--max-epochs", "1",
            "--target", "0.05", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "linear" in out and "finetune" in out and "epochs_to_0.05" in out
    doc = json.loads((tmp_path / "transfer.json").read_text())
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["finetune"]["epochs_to_target"] == 1 and rows["linear"]["epochs"] == 0
    assert doc["curves"]["digits/20/finetune"] == [rows["finetune"]["test_acc"]]
    assert (tmp_path / "transfer.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, message", [
    (["experiment", "imbalance", "--losses", "ce", "focl"], "unknown loss 'focl'"),
    (["experiment", "transfer", "--methods", "scratch", "probe"], "method must be one of"),
    (["experiment", "transfer", "--sizes", "5"], "at least 10 images"),
    (["experiment", "transfer", "--threads", "0"], "--threads must be >= 1"),
    (["experiment"], "required"),
    (["experiment", "imbalance", "--model", "vgg16", "--quick"],
     "model 'vgg16' cannot take fashion-mnist images 1x28x28; it was built for 1x224x224"),
])
def test_cli_experiment_bad_input(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_experiment_transfer_lpft_starts_from_the_probe(capsys, tmp_path):
    """LP-FT keeps the probe's classifier: its epoch-0 accuracy is the probe's, measured on the same images."""
    argv = ["experiment", "transfer", "--data", "digits", "--sizes", "40", "--methods", "linear", "lpft",
            "--resize", "16", "--eval-subset", "60", "--min-epochs", "1", "--min-steps", "1", "--max-epochs", "1",
            "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["method"]: r for r in doc["rows"]}
    assert rows["lpft"]["start_acc"] == rows["linear"]["test_acc"]
    assert rows["lpft"]["batch_size"] == 32 and doc["settings"]["lpft"]["kept_head_lr_scale"] == 0.1
    assert doc["settings"]["machine"]["cores"] >= 1
