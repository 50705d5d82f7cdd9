"""The explain, visualize, features, embed and sanity commands; bad input gives one line and exit code 2."""

import pytest
import torch
from PIL import Image

from cnnlab import data, models
from cnnlab.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A LeNet-5 trained for a few steps on Fashion-MNIST images, saved as a checkpoint."""
    torch.manual_seed(0)
    train = data.fashion_mnist("test").subset(slice(0, 2048))  # the 10k split loads faster
    net = models.create("lenet5", activation="relu")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x, y = train.floats(), train.labels
    for i in range(0, 2048, 64):
        loss = torch.nn.functional.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.cnnlab.classes = list(train.classes)
    return models.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "lenet", net)


@pytest.mark.parametrize("method", ["saliency", "guided", "gradcam", "occlusion"])
def test_explain_writes_overlays_and_prints_the_class(method, tmp_path, capsys, checkpoint):
    assert main(["explain", "sample:camera", "sample:coffee", "--method", method, "--model", str(checkpoint),
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("camera", "coffee"):
        png = tmp_path / f"{name}_{method}.png"
        assert str(png) in out and Image.open(png).size == (28, 28)
    assert any(c in out for c in data.FASHION_MNIST_CLASSES)


def test_explain_a_chosen_class_by_name_and_layer(tmp_path, capsys, checkpoint):
    assert main(["explain", "sample:camera", "--method", "gradcam", "--model", str(checkpoint), "--layer",
                 "features.3", "--target", "Bag", "--out", str(tmp_path)]) == 0
    assert "Bag" in capsys.readouterr().out


def test_visualize_features_sanity(tmp_path, capsys, checkpoint):
    assert main(["visualize", str(checkpoint), "--class", "1", "--steps", "10", "--out",
                 str(tmp_path / "v.png")]) == 0
    assert "class 1 (Trouser)" in capsys.readouterr().out and Image.open(tmp_path / "v.png").size == (28, 28)
    assert main(["features", str(checkpoint), "sample:camera", "--layer", "features.0", "--out",
                 str(tmp_path / "f.png"), "--kernels", str(tmp_path / "k.png")]) == 0
    out = capsys.readouterr().out
    assert "layer features.0: 6 maps of 28x28" in out and (tmp_path / "f.png").exists() and "kernels:" in out
    assert main(["sanity", str(checkpoint), "sample:camera", "--methods", "saliency", "gradcam", "--steps", "2",
                 "--out", str(tmp_path / "s.png")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["randomised", "down", "to", "saliency", "gradcam"]
    assert lines[2].split() == ["none", "1.0", "1.0"] and (tmp_path / "s.png").exists()


def test_embed_a_checkpoint_on_fashion_mnist(tmp_path, capsys, checkpoint):
    assert main(["embed", str(checkpoint), "--data", "fashion-mnist", "--method", "pca", "--limit", "300",
                 "--out", str(tmp_path / "pca.png")]) == 0
    out = capsys.readouterr().out
    assert "pca: 300 samples of fashion-mnist (test), 84-d penultimate features" in out
    assert Image.open(tmp_path / "pca.png").size[0] > 300


@pytest.mark.parametrize("argv, message", [
    (["explain", "sample:chelsea", "--method", "lrp", "--out", "x"], "invalid choice"),
    (["explain", "nothing.png", "--out", "x"], "no such image file"),
    (["explain", "sample:chelsea", "--model", "lenet5", "--target", "cat", "--out", "x"], "--target must be"),
    (["explain", "sample:chelsea", "--model", "lenet5", "--target", "12", "--out", "x"],
     "--target 12 is not a class of model 'lenet5': it has 10 classes (0..9)"),
    (["explain", "sample:chelsea", "--model", "lenet5", "--layer", "features.99", "--method", "gradcam",
      "--out", "x"], "--layer 'features.99' is no layer of model 'lenet5'"),
    (["explain", "sample:chelsea", "--model", "lenet5", "--layer", "features.3", "--method", "saliency",
      "--out", "x"], "--layer applies to"),
    (["visualize", "lenet5", "--class", "3", "--out", "x.jpg"], "must be a .png"),
    (["features", "lenet5", "sample:chelsea", "--layer", "nope"], "no layer 'nope'"),
    (["embed", "missing_ckpt", "--out", "e.png"], "unknown model"),
    (["embed", "lenet5", "--data", "nosuch", "--out", "e.png"], "nosuch"),
    (["sanity", "lenet5", "sample:chelsea", "--methods", "salincy"], "did you mean saliency"),
])
def test_bad_input_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
