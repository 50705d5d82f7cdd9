"""Resuming with other settings, a batch larger than the data, images/s, and `cnnlab eval` on another data set
(issue 12)."""

from __future__ import annotations

import json

import pytest
import torch
from _train_helpers import cfg, tiny_data
from PIL import Image

from cnnlab import data, models, train
from cnnlab.cli import main

BASE = ["train", "--model", "lenet5", "--limit", "128", "--batch-size", "32", "--threads", "1", "--quiet",
        "--no-test", "--schedule", "none"]


def _weights(path):
    return {k: v.clone() for k, v in models.load_checkpoint(path).state_dict().items()}


def test_resume_with_more_epochs_continues_exactly_where_a_longer_run_would_be(tmp_path, capsys):
    short, straight = tmp_path / "short", tmp_path / "straight"
    assert main([*BASE, "--epochs", "1", "--out", str(short)]) == 0
    assert main([*BASE, "--epochs", "2", "--out", str(straight)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", "--out", str(short), "--quiet", "--no-test"]) == 0
    out = capsys.readouterr().out
    assert "resumed after epoch 1; trained epochs 2-2" in out
    a, b = _weights(short), _weights(straight)
    assert all(torch.equal(a[k], b[k]) for k in a)  # schedule 'none': the added epoch is the one a 2-epoch run has
    rows = json.loads((short / "model.json").read_text())["extra"]["history"]["rows"]
    assert [r["epoch"] for r in rows] == [1, 2]
    # resuming a finished run says so instead of silently "resuming"
    assert main(["train", "--resume", "--out", str(short), "--quiet", "--no-test"]) == 0
    assert "nothing to train: the run in" in capsys.readouterr().out


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "run"
    assert main([*BASE, "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("extra, message", [
    (["--lr", "0.1"], "lr 0.1 (the run's: 0.05)"),
    (["--optimizer", "adam", "--momentum", "0.5"], "optimizer 'adam' (the run's: 'sgd'), momentum 0.5"),
    (["--limit", "64"], "limit 64 (the run's: 128)"),
    (["--data", "digits"], "data 'digits' (the run's: 'fashion-mnist')"),
    (["--model-option", "activation=relu"], "model_kwargs"),
    (["--recipe", "cpu"], "--recipe cannot be combined"),
])
def test_resume_refuses_settings_that_conflict_with_the_run(extra, message, one_epoch_run, capsys):
    out = one_epoch_run
    before = _weights(out)
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(out), "--quiet", "--no-test", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    after = _weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing trained, nothing overwritten


def test_resume_refuses_more_epochs_for_a_schedule_laid_out_over_the_run(tmp_path, capsys):
    d = tiny_data(64)
    c = cfg(epochs=1, schedule="onecycle", out_dir=str(tmp_path / "oc"))
    train.fit(models.create("lenet5"), d, None, c)
    with pytest.raises(ValueError, match=r"epochs 3 \(the run's: 1; its 'onecycle' schedule is laid out"):
        train.fit(models.create("lenet5"), d, None, c.replace(epochs=3), resume=True)
    # operational settings may change on resume
    train.fit(models.create("lenet5"), d, None, c.replace(eval_batch_size=7, keep_checkpoints=3), resume=True)


def test_a_batch_larger_than_the_data_is_refused_and_images_per_second_count_images(tmp_path, capsys):
    with pytest.raises(ValueError, match="batch_size 512 is larger than the 96 training images"):
        train.fit(models.create("lenet5"), tiny_data(96), None, cfg(batch_size=512))
    with pytest.raises(ValueError, match="after holding out 24 for validation"):
        train.fit(models.create("lenet5"), tiny_data(96), None, cfg(batch_size=80, val_fraction=0.25))
    assert main(["train", "--model", "lenet5", "--limit", "100", "--batch-size", "512", "--quiet",
                 "--out", str(tmp_path / "x")]) == 2
    assert "batch_size 512 is larger than the 100 training images" in capsys.readouterr().err
    hist = train.fit(models.create("lenet5"), tiny_data(100), None, cfg(batch_size=32, epochs=1))
    row = hist.rows[0]
    assert row.images_per_s * row.seconds == pytest.approx(96, rel=1e-6)  # 3 full batches; the partial one dropped


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "digits"
    assert main(["train", "--model", "fastnet_small", "--data", "digits", "--epochs", "1", "--batch-size", "64",
                 "--threads", "1", "--quiet", "--no-test", "--out", str(out)]) == 0
    return out


def test_eval_refuses_another_tasks_classes_and_writes_results_per_data_set(digits_run, tmp_path, capsys):
    # the same ten classes in a folder data set: a result of its own, beside the digits one
    folder = tmp_path / "folder" / "test"
    test = data.digits("test")
    for k in range(10):
        (folder / str(k)).mkdir(parents=True)
        for i, idx in enumerate((test.labels == k).nonzero().flatten()[:2].tolist()):
            Image.fromarray((test.images[idx, 0] * 255).round().byte().numpy()).save(folder / str(k) / f"{i}.png")
    assert main(["eval", str(digits_run), "--data", "digits", "--json"]) == 0
    doc_digits = json.loads(capsys.readouterr().out)
    assert main(["eval", str(digits_run), "--data", f"folder:{tmp_path / 'folder'}", "--json"]) == 0
    doc_folder = json.loads(capsys.readouterr().out)
    assert doc_digits["json"] != doc_folder["json"] and doc_digits["png"] != doc_folder["png"]
    saved = json.loads(open(doc_digits["json"]).read())
    assert saved["data"] == "digits" and saved["n"] == 449 and saved["accuracy"] == doc_digits["accuracy"]
    assert json.loads(open(doc_folder["json"]).read())["n"] == 20
    assert sorted(p.name for p in digits_run.glob("eval-*.json")) == sorted(
        [f"eval-{train.result_stem('digits', 'test')}.json",
         f"eval-{train.result_stem('folder:' + str(tmp_path / 'folder'), 'test')}.json"])
    before = {p: p.read_bytes() for p in digits_run.glob("*-*.*")}
    assert main(["eval", str(digits_run), "--data", "fashion-mnist"]) == 2
    err = capsys.readouterr().err.strip()
    assert "was trained on 10 classes ('0', '1', '2', ...) but fashion-mnist (test) has 10 ('T-shirt/top'" in err
    assert {p: p.read_bytes() for p in digits_run.glob("*-*.*")} == before  # nothing overwritten or added


def test_eval_limit_zero_is_one_line(digits_run, capsys):
    assert main(["eval", str(digits_run), "--data", "digits", "--limit", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "limit must be a positive integer, got 0" in err and len(err.splitlines()) == 1


def test_class_check_names_a_reordering():
    net = models.create("lenet5", num_classes=3)
    net.cnnlab.classes = ["a", "b", "c"]
    train.check_classes(net, ["a", "b", "c"], "x")
    with pytest.raises(ValueError, match="in another order"):
        train.check_classes(net, ["b", "a", "c"], "x")
    net.cnnlab.classes = None
    with pytest.raises(ValueError, match="has 3 classes but x has 4"):
        train.check_classes(net, ["a", "b", "c", "d"], "x")
