"""cnnlab summary: every format, checkpoints, and one-line errors."""

import csv
import io
import json

import pytest

from cnnlab import models
from cnnlab.cli import main


def test_summary_json_fields(capsys):
    assert main(["summary", "resnet50", "--input", "3x224x224", "--format", "json", "--depth", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_params"] == 25_557_032 and doc["total_flops"] > 2 * 4e9 and doc["activation_bytes"] > 0
    layer4 = next(la for la in doc["layers"] if la["name"] == "layer4")
    assert layer4["rf"]["size"] == 427 and layer4["rf"]["stride"] == 32 and layer4["output_shape"] == [1, 2048, 7, 7]
    assert {"name", "type", "output_shape", "params", "memory_bytes", "flops", "rf"} <= set(layer4)


def test_summary_table_markdown_csv(capsys):
    assert main(["summary", "lenet5"]) == 0  # default input: the model's own, 1x28x28
    out = capsys.readouterr().out
    assert "features.0" in out and "1x6x28x28" in out and "1 MAC = 2 FLOPs" in out and "conv" in out
    assert main(["summary", "lenet5", "--format", "markdown"]) == 0
    assert "| layer | type |" in capsys.readouterr().out
    assert main(["summary", "lenet5", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    conv = next(r for r in rows if r["name"] == "features.0")
    assert int(conv["params"]) == (5 * 5 * 1 + 1) * 6 and conv["rf_size"] == "5"


def test_summary_of_a_checkpoint(tmp_path, capsys):
    m = models.create("resnet_small", in_channels=3)
    models.save_checkpoint(tmp_path / "ck", m)
    assert main(["summary", str(tmp_path / "ck"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_size"] == [1, 3, 28, 28] and doc["total_params"] == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("argv, message", [
    (["summary", "lenet5", "--input", "1x0x28"], "--input must look like"),
    (["summary", "lenet5", "--input", "abc"], "--input must look like"),
    (["summary", "lenet5", "--input", "3x28x28"], "1-channel images"),
    (["summary", "lenet5", "--depth", "-1"], "argument --depth: must be a non-negative integer, got '-1'"),
    (["summary", "lenet5", "--format", "xml"], "invalid choice"),
    (["summary", "resnt50"], "unknown model"),
])
def test_bad_input_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_demo_architecture_section(lite0, tmp_path):
    from cnnlab.report import DemoContext
    from cnnlab.report._section_architecture import architecture_section

    sec = architecture_section(DemoContext(model=lite0, model_name="efficientnet_lite0", images={},
                                           out_dir=tmp_path))
    html = sec.body
    assert sec.title == "Architecture" and "4,652,008" in html and "_blocks.15" in html and "conv" in html
