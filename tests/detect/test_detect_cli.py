"""The detection commands: train-detector, eval-detector, detect, anchors; bad input is one line and exit 2."""

import json

import pytest
from PIL import Image

from cnnlab.cli import main

TRAIN = ["train-detector", "--arch", "faster-rcnn", "--data", "scenes:digits:6:64", "--weights", "none",
         "--size", "64", "--max-size", "64", "--set", "fpn_channels=16", "--set", "representation=32",
         "--set", "anchor_sizes=[16,32,64,128]", "--epochs", "1", "--batch-size", "2", "--threads", "1", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def test_train_detector_writes_a_run(run_dir, capsys):
    assert (run_dir / "detector.json").is_file() and (run_dir / "metrics.csv").is_file()
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["arch"] == "faster-rcnn" and doc["options"]["min_size"] == 64 and doc["options"]["fpn_channels"] == 16


def test_eval_detector_prints_per_class_ap_and_writes_pr_curves(run_dir, capsys):
    assert main(["eval-detector", str(run_dir), "--limit", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["per_class_ap50"]) == {str(d) for d in range(10)} and doc["images"] == 4
    assert (run_dir / "pr-test.png").is_file()
    assert main(["eval-detector", str(run_dir), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "AP@[.5:.95]" in out and "VOC AP 11pt" in out and "mean" in out


def test_detect_draws_boxes_and_writes_json(run_dir, tmp_path, capsys):
    img = tmp_path / "photo.png"
    Image.new("RGB", (90, 70), (120, 60, 30)).save(img)
    out = tmp_path / "boxes"
    assert main(["detect", str(img), "sample:coffee", "--model", str(run_dir), "--score", "0", "--out", str(out),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["image"] for d in doc] == [str(img), "sample:coffee"] and doc[0]["size"] == [70, 90]
    assert Image.open(out / "photo.png").size == (90, 70) and (out / "coffee.png").is_file()
    assert json.loads((out / "detections.json").read_text()) == doc
    for d in doc[1]["detections"]:
        assert set(d) == {"label", "class", "score", "box"} and 0 <= d["score"] <= 1


def test_anchors_for_a_run_and_for_a_bare_detector_name(run_dir, tmp_path, capsys):
    assert main(["anchors", str(run_dir), "sample:coffee", "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "anchors" and [lv["stride"] for lv in doc["levels"]] == [8, 16, 32, 64]
    assert all(len(lv["boxes"]) == 3 for lv in doc["levels"]) and len(doc["proposals"]) == 20
    assert (tmp_path / "anchors-coffee.png").is_file()
    assert main(["anchors", "yolo", "sample:coffee", "--out", str(tmp_path), "--point", "10", "10"]) == 0
    assert "grid" in capsys.readouterr().out


def _one_line_error(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err


def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, capsys):
    _one_line_error(capsys, ["train-detector", "--arch", "yolo2", "--data", "scenes", "--out", str(tmp_path / "x")],
                    "unknown detector 'yolo2'; did you mean yolo")
    bad = tmp_path / "voc" / "Annotations"
    bad.mkdir(parents=True)
    (bad / "a.xml").write_text("<annotation><object>")
    _one_line_error(capsys, ["train-detector", "--arch", "yolo", "--data", f"voc:{bad.parent}", "--out",
                             str(tmp_path / "y")], "a.xml: malformed or truncated XML")
    _one_line_error(capsys, ["train-detector", "--arch", "yolo", "--data", f"voc:{tmp_path / 'none'}", "--out",
                             str(tmp_path / "y")], "no such directory")
    _one_line_error(capsys, ["detect", "sample:coffee", "--model", str(tmp_path / "nothing"), "--out",
                             str(tmp_path)], "no such detector run")
    _one_line_error(capsys, ["detect", "sample:coffee", "--model", str(run_dir), "--score", "2", "--out",
                             str(tmp_path)], "--score must be in [0, 1]")
    _one_line_error(capsys, ["eval-detector", str(run_dir), "--data", "scenes:digits:4:64", "--split", "dev"],
                    "scenes have the splits train, val, test")
    _one_line_error(capsys, ["anchors", str(run_dir), "sample:coffee", "--out", str(tmp_path), "--point", "9999",
                             "1"], "outside the 600x400 image")
    _one_line_error(capsys, ["train-detector", "--arch", "ssd", "--data", "scenes", "--out", str(tmp_path / "z"),
                             "--max-size", "100"], "--max-size does not apply to ssd")
