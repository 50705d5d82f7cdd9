"""The style, texture, deepdream and shape-bias commands, their bad inputs (one line, exit 2), and the demo
section."""

import json

import pytest

from cnnlab import data, style
from cnnlab.cli import main
from cnnlab.report import DemoContext

STIMULI = "/work/shared/data/texture-vs-shape"
STARRY = "/work/shared/data/neural-style/examples/inputs/starry_night.jpg"


def test_style_command_writes_the_image_and_snapshots(tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = ["style", "sample:chelsea", STARRY, "sample:brick", "--style-weights", "2,1", "--out", str(out),
            "--size", "64", "--steps", "3", "--snapshots", str(tmp_path / "snaps"), "--snapshot-every", "2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "3 steps" in text and f"image: {out}" in text and "style layers: normalize" in text
    img = data.load_image(out)
    assert img.shape == (3, 43, 64)
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == ["step_00002.png", "step_00003.png"]


def test_texture_and_deepdream_commands(tmp_path, capsys):
    assert main(["texture", "sample:brick", "--out", str(tmp_path / "t.png"), "--size", "64x80", "--steps", "2"]) == 0
    assert data.load_image(tmp_path / "t.png").shape == (3, 64, 80)
    assert main(["deepdream", "sample:coffee", "--out", str(tmp_path / "d.jpg"), "--size", "96", "--octaves", "2",
                 "--steps", "1", "--layer", "_blocks.4"]) == 0
    assert "layer _blocks.4: 2 octaves x 1 steps on 64x96" in capsys.readouterr().out
    assert data.load_image(tmp_path / "d.jpg").shape == (3, 64, 96)


def test_shape_bias_command_json_and_plot(tmp_path, capsys):
    """A cue-conflict folder of its own (one image per class, no silhouettes) and the paper's raw data."""
    import shutil
    from pathlib import Path

    from cnnlab import style

    for c in style.CATEGORIES:
        src = next((Path(STIMULI) / "stimuli" / "style-transfer-preprocessed-512" / c).iterdir())
        (tmp_path / "cue" / c).mkdir(parents=True)
        shutil.copy(src, tmp_path / "cue" / c / src.name)
    plot = tmp_path / "sb.png"
    assert main(["shape-bias", "efficientnet_lite0", "--stimuli", str(tmp_path / "cue"), "--raw-data",
                 f"{STIMULI}/raw-data", "--json", "--out", str(plot)]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [d["name"] for d in doc]
    assert names == ["efficientnet_lite0", "AlexNet", "GoogLeNet", "VGG-16", "ResNet-50", "humans"]
    assert doc[0]["silhouette_accuracy"] is None and round(100 * doc[-1]["shape_bias"], 1) == 95.9
    assert plot.stat().st_size > 10_000
    assert main(["shape-bias", "efficientnet_lite0", "--stimuli", str(tmp_path / "cue")]) == 0
    assert "efficientnet_lite0" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["style", "sample:chelsea", "sample:brick", "--out", "x.gif"], "--out must be a .png or .jpg file"),
    (["style", "sample:chelsea", "missing.jpg", "--out", "o.png"], "no such image file"),
    (["style", "sample:chelsea", "sample:brick", "--out", "o.png", "--style-layers", "nope"],
     "model has no layer 'nope'"),
    (["style", "sample:chelsea", "sample:brick", "--out", "o.png", "--size", "16"], "too small for layer"),
    (["style", "sample:chelsea", "sample:brick", "--out", "o.png", "--size", "a,b"], "--size must be an integer"),
    (["style", "sample:chelsea", "sample:brick", "--out", "o.png", "--style-weights", "1,2"],
     "one weight per style image"),
    (["texture", "sample:brick", "--out", "o.png", "--size", "3x4x5"], "--size must be an integer or HxW"),
    (["deepdream", "sample:chelsea", "--out", "o.png", "--layer", "layer9"], "model has no layer 'layer9'"),
    (["shape-bias", "efficientnet_lite0", "--stimuli", "/tmp"], "has neither style-transfer-preprocessed-512/"),
    (["shape-bias", "lenet5", "--stimuli", STIMULI, "--max-per-class", "1"], "1000 ImageNet outputs"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_out_may_not_overwrite_an_input(tmp_path, capsys):
    from cnnlab.cli._cmd_style import write_image

    photo = write_image(data.sample_image("coffee"), tmp_path / "photo.png")
    before = photo.read_bytes()
    assert main(["style", str(photo), "sample:brick", "--out", str(photo), "--size", "64", "--steps", "1"]) == 2
    assert "is one of the input images" in capsys.readouterr().err and photo.read_bytes() == before


def test_demo_section_shows_transfer_texture_and_dream(lite0, tmp_path, monkeypatch):
    from cnnlab.report import _section_style as sec

    monkeypatch.setattr(sec, "TRANSFER", {"size": 64, "steps": 2})
    monkeypatch.setattr(sec, "TEXTURE", {"size": 64, "steps": 2})
    monkeypatch.setattr(sec, "DREAM", {"octaves": 1, "steps": 1})
    ctx = DemoContext(model=lite0, model_name="efficientnet_lite0", images={"chelsea": data.sample_image("chelsea")},
                      out_dir=tmp_path)
    s = sec.style_section(ctx)
    assert s.body.count("data:image/png;base64,") == 6 and "immunohistochemistry" in s.body and "_blocks.10" in s.body
    from cnnlab import models

    small = DemoContext(model=models.create("lenet5"), model_name="lenet5", images={}, out_dir=tmp_path)
    assert "Skipped" in sec.style_section(small).body


def test_the_cli_offers_every_starting_image_of_the_library(capsys):
    with pytest.raises(SystemExit):
        main(["style", "--help"])
    assert "{" + ",".join(style.INITS) + "}" in capsys.readouterr().out  # the CLI's literal list kept in step
