"""Issue 12's tracebacks in the model-loading commands, each now one line and exit code 2 naming the value: sizes
a network cannot take, devices, checkpoint directories and files, checkpoints whose card disagrees with their
weights or that hold NaN; every command's --device goes through one lookup; results are percents."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from cnnlab import models
from cnnlab.cli import main

NO_GPU = "cuda:99" if torch.cuda.is_available() else "cuda"  # a device this machine does not have


def _one_line(capsys, message, code=2):
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    good = models.save_checkpoint(root / "good", models.create("lenet5"))
    count = models.save_checkpoint(root / "count", models.create("lenet5"))
    doc = json.loads((count / "model.json").read_text())
    doc["card"]["kwargs"]["num_classes"] = 12
    (count / "model.json").write_text(json.dumps(doc))
    nan = models.save_checkpoint(root / "nan", models.create("lenet5"))
    state = load_file(str(nan / "model.safetensors"))
    state["classifier.3.bias"][0] = float("nan")
    save_file(state, str(nan / "model.safetensors"))
    (root / "evil.pkl").write_bytes(b"\x80\x04cos\nsystem\n.")
    return root, good, count, nan


def test_summary_of_a_size_the_network_cannot_take(capsys):
    assert main(["summary", "lenet5", "--input", "1x64x64"]) == 2
    _one_line(capsys, "model 'lenet5' cannot take --input 1x64x64; it was built for 1x28x28")


@pytest.mark.parametrize("device, message", [
    (NO_GPU, f"--device '{NO_GPU}'"),
    ("tpu9", "unknown --device 'tpu9' (use auto, cpu, cuda, cuda:N or mps)"),
])
@pytest.mark.parametrize("argv", [
    ["predict", "sample:camera", "--model", "lenet5"],
    ["explain", "sample:camera", "--model", "lenet5", "--out", "x"],
    ["visualize", "lenet5", "--class", "1", "--out", "x.png"],
    ["features", "lenet5", "sample:camera"],
    ["embed", "lenet5", "--out", "x.png"],
    ["sanity", "lenet5", "sample:camera"],
    ["attack", "lenet5", "--data", "digits"],
    ["attack", "sample:camera", "--model", "lenet5", "--out", "x"],
    ["robustness", "lenet5", "--data", "digits"],
    ["invariance", "lenet5", "--data", "digits"],
    ["adversarial-train", "lenet5", "--data", "digits"],
], ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else None)
def test_every_device_goes_through_one_lookup(argv, device, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--device", device]) == 2
    _one_line(capsys, message)


def test_missing_directories_and_files_are_named(runs, capsys, tmp_path, monkeypatch):
    root, *_ = runs
    monkeypatch.chdir(root)
    assert main(["predict", "sample:camera", "--model", "runs/x"]) == 2
    _one_line(capsys, "no such checkpoint directory: 'runs/x'")
    assert main(["predict", "sample:camera", "--model", "evil.pkl"]) == 2
    err = _one_line(capsys, "'evil.pkl' is a file, not a cnnlab checkpoint directory")
    assert "pickled models are never loaded" in err and "'.'" not in err
    assert main(["summary", "./nothere"]) == 2
    _one_line(capsys, "no such checkpoint directory: './nothere'")


def test_checkpoints_that_disagree_with_themselves_or_hold_nan(runs, capsys):
    _, _, count, nan = runs
    assert main(["predict", "sample:camera", "--model", str(count)]) == 2
    _one_line(capsys, f"checkpoint '{count}': model.json says 12 classes, its weights have 10")
    assert main(["predict", "sample:camera", "--model", str(nan)]) == 2
    _one_line(capsys, f"checkpoint '{nan}' has NaN or infinite values in tensor 'classifier.3.bias'")


def test_predict_prints_percents_and_json_fractions(runs, capsys):
    _, good, *_ = runs
    assert main(["predict", "sample:camera", "--model", str(good), "--topk", "3"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 3 and all(r[-1].endswith("%") for r in rows)
    assert main(["predict", "sample:camera", "--model", str(good), "--topk", "1", "--json"]) == 0
    assert 0 < json.loads(capsys.readouterr().out)[0]["topk"][0]["prob"] <= 1


def test_no_internal_argument_names_leak_into_messages(capsys):
    cases = [
        (["predict", "sample:camera", "--model", "lenet5", "--topk", "0"], "argument --topk"),
        (["attack", "lenet5", "--data", "digits", "--batch-size", "0"], "argument --batch-size"),
        (["attack", "lenet5", "--data", "digits", "--limit", "-3"], "argument --limit"),
        (["attack", "lenet5", "--data", "digits", "--eps", "nan"], "argument --eps"),
        (["robustness", "lenet5", "--data", "digits", "--eps", "0,nan"], "--eps values must be in [0, 1], got nan"),
        (["embed", "lenet5", "--limit", "2", "--out", "x.png"], "argument --limit: must be an integer >= 3"),
        (["invariance", "lenet5", "--data", "digits", "--limit", "0"], "argument --limit"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = _one_line(capsys, message)
        assert "batch_size" not in err and "topk must" not in err.replace("--topk", "")
