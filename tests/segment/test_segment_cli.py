"""cnnlab train-segmenter / eval-segmenter / segment / segment-from-gradients, and their one-line errors (exit 2)."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import _device, data, models, segment
from cnnlab.cli import main

TRAIN = ["train-segmenter", "--arch", "unet", "--data", "scenes", "--size", "32", "--epochs", "1", "--batch-size",
         "8", "--limit", "16", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "run"
    # unet's options other than --backbone are not flags: a recipe gives them. --amp as on a CPU with native
    # bfloat16 (on one without, it is refused: test_amp_is_refused_where_bfloat16_is_emulated)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_device, "cpu_has_native", lambda dtype: True)
        assert main([*TRAIN, "--recipe", "unet-scenes", "--out", str(out), "--amp", "--channels-last", "--json"]) == 0
    return out


def test_amp_is_refused_where_bfloat16_is_emulated(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_device, "cpu_has_native", lambda dtype: dtype != torch.bfloat16)
    assert main([*TRAIN, "--recipe", "unet-scenes", "--out", str(tmp_path / "run"), "--amp"]) == 2
    err = capsys.readouterr().err.strip()
    assert "amp (bfloat16 autocast) on this CPU" in err and "run without it" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "state").exists()  # refused before the first step
    assert main([*TRAIN, "--recipe", "unet-scenes", "--out", str(tmp_path / "run")]) == 0  # the same run in float32


def test_train_flags_reach_the_engine(run_dir):
    state = run_dir / "state"
    config = json.loads((state / (state / "LATEST").read_text().strip() / "train_state.json").read_text())
    config = config["meta"]["config"]
    assert config["amp"] is True and config["amp_dtype"] == "bfloat16" and config["channels_last"] is True
    assert config["epochs"] == 1 and config["batch_size"] == 8 and config["num_threads"] == 1


def test_train_then_eval_segment_and_read_the_outputs(run_dir, capsys, tmp_path):
    capsys.readouterr()
    assert main(["eval-segmenter", str(run_dir), "--limit", "8", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ref = segment.evaluate(segment.load(run_dir), data.load_segmentation("scenes", "test", size=32).subset(slice(0, 8)))
    assert doc["miou"] == pytest.approx(ref.metrics.miou) and doc["n"] == 8 and doc["size"] == [32, 32]
    assert set(doc["iou"]) == {"background", "0", "1", "7"}
    for key in ("iou_png", "examples_png"):
        assert open(doc[key], "rb").read(4) == b"\x89PNG"
    assert main(["eval-segmenter", str(run_dir), "--limit", "8", "--hflip", "--json"]) == 0
    flipped = json.loads(capsys.readouterr().out)
    ref = segment.evaluate(segment.load(run_dir), data.load_segmentation("scenes", "test", size=32).subset(slice(0, 8)),
                           hflip=True)
    assert flipped["hflip"] is True and flipped["miou"] == pytest.approx(ref.metrics.miou)

    photo = tmp_path / "street.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "seg"
    assert main(["segment", str(photo), "sample:coffee", "--model", str(run_dir), "--out", str(out), "--json"]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["image"] for d in docs] == [str(photo), "sample:coffee"]
    lab = data.read_label_png(out / "street-labels.png")
    assert lab.shape == (50, 70) and int(lab.max()) < 4
    assert Image.open(out / "coffee-overlay.png").size == (600, 400)
    assert abs(sum(c["fraction"] for c in docs[0]["classes"]) - 1) < 1e-6
    assert main(["segment", str(photo), "--model", str(run_dir), "--out", str(out)]) == 0
    assert "street.jpg" in capsys.readouterr().out


def test_segment_from_gradients_writes_mask_and_figure(tmp_path, capsys):
    assert main(["segment-from-gradients", "sample:chelsea", "--refine", "threshold", "--out", str(tmp_path),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)[0]
    assert doc["class"] in ("tiger cat", "Egyptian cat", "tabby") and doc["found"] and len(doc["box"]) == 4
    mask = np.asarray(Image.open(tmp_path / "chelsea-mask.png"))
    assert mask.shape == (300, 451) and abs((mask > 127).mean() - doc["mask_fraction"]) < 1e-3
    assert (tmp_path / "chelsea-segment.png").read_bytes()[:4] == b"\x89PNG"


def _folder(root, *, bad=None):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("sky\nroad\n")
    for i in range(2):
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(root / "images" / f"f{i}.png")
        Image.fromarray(np.full((24, 32), i, np.uint8)).save(root / "labels" / f"f{i}.png")
    if bad == "size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "labels" / "f1.png")
    elif bad == "values":
        Image.fromarray(np.full((24, 32), 9, np.uint8)).save(root / "labels" / "f0.png")
    elif bad == "pair":
        (root / "labels" / "f1.png").unlink()
    elif bad == "not-image":
        (root / "images" / "f0.png").write_text("plain text")
    return root


@pytest.mark.parametrize("bad, message", [
    ("size", r"label '.*labels/f1.png' is 10x10 but its image '.*images/f1.png' is 24x32"),
    ("values", r"label '.*labels/f0.png' holds values \[9\] outside the 2 classes"),
    ("pair", r"image '.*images/f1.png' has no label file"),
    ("not-image", r"'.*images/f0.png' is not an image file Pillow can read"),
])
def test_bad_folders_give_one_line_naming_the_file_and_exit_2(tmp_path, capsys, bad, message):
    root = _folder(tmp_path / "set", bad=bad)
    assert main(["train-segmenter", "--arch", "unet", "--data", f"segfolder:{root}", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("cnnlab train-segmenter: error: ")
    assert re.search(message, err), err


def test_other_bad_inputs_exit_2(run_dir, tmp_path, capsys):
    models.save_checkpoint(tmp_path / "lenet", models.create("lenet5"))
    (tmp_path / "notes.txt").write_text("hello")
    cases = [
        (["segment", str(tmp_path / "notes.txt"), "--model", str(run_dir), "--out", str(tmp_path)],
         "is not an image file"),
        (["segment", "sample:coffee", "--model", str(tmp_path / "lenet"), "--out", str(tmp_path)],
         "holds 'lenet5', not a segmenter"),
        (["segment", "sample:coffee", "--model", str(tmp_path / "nope"), "--out", str(tmp_path)],
         "no such segmenter run"),
        (["segment", "sample:coffee", "--model", str(run_dir), "--out", str(tmp_path), "--size", "big"],
         "--size must be H or HxW"),
        (["eval-segmenter", str(run_dir), "--data", "camvid"], "camvid needs a directory"),
        (["train-segmenter", "--data", "scenes", "--out", str(tmp_path / "x")], "name an architecture"),
        (["train-segmenter", "--arch", "unet9", "--data", "scenes", "--out", str(tmp_path / "x")],
         "unknown segmenter 'unet9'"),
        (["segment-from-gradients", "sample:coffee", "--method", "gradcams", "--out", str(tmp_path)],
         "unknown explanation method"),
        (["segment-from-gradients", "sample:coffee", "--model", "lenet5", "--out", str(tmp_path)],
         "model 'lenet5' cannot take an image resized to 224x336"),
        # numeric flags are checked while parsing, the message names the flag
        (["train-segmenter", "--arch", "unet", "--data", "scenes", "--out", str(tmp_path / "x"), "--epochs", "0"],
         "argument --epochs: must be a positive integer, got '0'"),
        (["train-segmenter", "--arch", "unet", "--data", "scenes", "--out", str(tmp_path / "x"), "--lr", "nan"],
         "argument --lr: must be a number (not NaN or infinity)"),
        (["segment", "sample:coffee", "--model", str(run_dir), "--out", str(tmp_path), "--alpha", "1.5"],
         "argument --alpha: must be in [0, 1], got '1.5'"),
        (["eval-segmenter", str(run_dir), "--batch-size", "-1"], "argument --batch-size: must be a positive integer"),
        (["segment-from-gradients", "sample:coffee", "--threshold", "2", "--out", str(tmp_path)],
         "argument --threshold: must be in [0, 1]"),
        (["eval-segmenter", str(run_dir), "--undo-weights", "2"], "--undo-weights must be in [0, 1], got 2"),
        (["eval-segmenter", str(run_dir), "--undo-weights", "some"],
         "--undo-weights must be a number in [0, 1] or auto, got 'some'"),
        (["segment", "sample:coffee", "--model", str(run_dir), "--out", str(tmp_path), "--undo-weights", "-1"],
         "argument --undo-weights: must be in [0, 1]"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (argv, err)


def test_eval_and_segment_undo_the_class_weights(run_dir, capsys, tmp_path):
    weights = segment.load_run_options(run_dir)["class_weights"]  # unet-scenes trains with median-frequency weights
    net = segment.load(run_dir)
    test = data.load_segmentation("scenes", "test", size=tuple(net.cnnlab.input_size[1:])).subset(slice(0, 8))
    capsys.readouterr()
    assert main(["eval-segmenter", str(run_dir), "--limit", "8", "--undo-weights", "1", "--json",
                 "--out", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    ref = segment.evaluate(net, test, adjustment=segment.undo_weights(weights, 1.0)).metrics
    assert doc["undo_weights"] == 1.0 and doc["adjusted"] is True and doc["miou"] == pytest.approx(ref.miou)
    assert doc["global_accuracy"] == pytest.approx(ref.global_accuracy)
    assert main(["eval-segmenter", str(run_dir), "--limit", "8", "--undo-weights", "auto", "--json",
                 "--out", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    sweep = doc["undo_weights_val"]  # chosen on the first 8 val images, never on test
    assert [d["tau"] for d in sweep] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert doc["undo_weights"] == max(sweep, key=lambda d: d["miou"])["tau"]
    val = data.load_segmentation("scenes", "val", size=tuple(net.cnnlab.input_size[1:])).subset(slice(0, 8))
    assert sweep[2]["miou"] == pytest.approx(segment.evaluate(net, val, adjustment=segment.undo_weights(weights, 0.5))
                                             .metrics.miou)
    assert main(["segment", "sample:coffee", "--model", str(run_dir), "--out", str(tmp_path / "seg"),
                 "--undo-weights", "1", "--json"]) == 0
    capsys.readouterr()
    best = run_dir / "best"  # the best-validation checkpoint reads the options of the run it sits in
    assert (best / "model.safetensors").is_file() and not (best / "segmenter.json").exists()
    assert segment.load_run_options(best) == segment.load_run_options(run_dir)
    assert segment.run_class_weights(best) == weights
    assert main(["segment", "sample:coffee", "--model", str(best), "--out", str(tmp_path / "seg-best"),
                 "--undo-weights", "1", "--json"]) == 0
    capsys.readouterr()
    assert segment.load_run_options(tmp_path) == {}  # a folder that is no run: no options
    plain = tmp_path / "plain"  # a run without class weights has none to undo: one line, exit 2
    assert main([*TRAIN, "--recipe", "unet-scenes", "--class-weighting", "none", "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["eval-segmenter", str(plain), "--undo-weights", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "was trained without class weights" in err and len(err.splitlines()) == 1
