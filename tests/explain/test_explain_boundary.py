"""Issue 12 at the explanation boundary: every method refuses 0..255 pixels, NaN and sizes the model cannot take
(one check, explain's check_inputs -> models.check_batch); layer methods refuse layers that give no feature map;
occlusion refuses windows larger than the image and strides that leave pixels uncovered; the commands say which
flag is wrong (--layer _fc, --class, embed's data against the model card)."""

import pytest
import torch

from cnnlab import explain, models
from cnnlab.cli import main

OPTIONS = {"occlusion": {"window": 7, "stride": 7}}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return models.create("lenet5", activation="relu").eval()


@pytest.mark.parametrize("method", explain.names())
@pytest.mark.parametrize("bad, message", [
    (lambda x: x * 255, r"inputs must be pixels in \[0, 1\].*0\.\.255 pixels"),
    (lambda x: x.index_fill(0, torch.tensor([1]), float("nan")), "inputs contain NaN or infinite values"),
    (lambda x: x[..., :8, :8], r"model 'lenet5' cannot take inputs 1x8x8; it was built for 1x28x28"),
    (lambda x: x.repeat(1, 3, 1, 1), "inputs have 3 channels"),
], ids=["0..255", "nan", "size", "channels"])
def test_every_method_refuses_inputs_that_give_a_silent_wrong_answer(net, method, bad, message):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=message):
        explain.explain(method, net, bad(x), 1, **OPTIONS.get(method, {}))


@pytest.mark.parametrize("call", [
    lambda n, x: explain.feature_maps(n, x * 255, "features.0"),
    lambda n, x: explain.penultimate_features(n, x.index_fill(0, torch.tensor([0]), float("nan"))),
    lambda n, x: explain.maximize(n, x * 255, target=1, steps=1),
    lambda n, x: explain.cascading_randomization(n, x * 255, methods=("saliency",)),
    lambda n, x: explain.top_patches(n, x * 255, "features.0", 0),
    lambda n, x: explain.explain_images(n, [x[0] * 255]),
])
def test_the_other_entry_points_share_the_check(net, call):
    with pytest.raises(ValueError, match=r"NaN|\[0, 1\]"):
        call(net, torch.rand(2, 1, 28, 28))


@pytest.mark.parametrize("method", ["gradcam", "cam"])
def test_a_linear_layer_is_no_feature_map(net, method):
    with pytest.raises(ValueError, match=r"needs a feature map \(N, C, h, w\) at its layer; layer 'classifier\.3' "
                                         r"\(Linear\) gives output of shape \(2, 10\); feature layers of this model: "
                                         r"features\.1, features\.4, features\.7"):
        explain.explain(method, net, torch.rand(2, 1, 28, 28), 1, layer="classifier.3")


@pytest.mark.parametrize("kwargs, message", [
    ({"window": 64}, "window 64 is larger than the 28x28 image"),
    ({"window": (4, 40)}, "window 4x40 is larger than the 28x28 image"),
    ({"window": 4, "stride": 30}, r"stride 30 is larger than the window 4: pixels between the windows would get no "
                                  "attribution"),
    ({"window": 4, "stride": (2, 5)}, "stride 2x5 is larger than the window 4"),
])
def test_occlusion_never_gives_one_window_and_a_blank_map(net, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain.occlusion(net, torch.rand(1, 1, 28, 28), 1, **kwargs)


def test_every_pixel_is_covered_at_the_largest_allowed_stride(net):
    a = explain.occlusion(net, torch.rand(1, 1, 28, 28), 1, window=6, stride=6)
    assert a.shape == (1, 1, 28, 28) and bool((a != 0).any(-1).all())  # no row is blank


def test_the_explain_command_names_the_layer_and_what_works(lite0, capsys, tmp_path):
    """The issue's case: --layer _fc on EfficientNet-Lite0, whose classifier is named _fc."""
    assert main(["explain", "sample:coffee", "--layer", "_fc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "layer '_fc' (Linear) gives output of shape (1, 1000)" in err and "feature layers of this model: " \
        "_blocks.0" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["visualize", "lenet5", "--class", "12", "--out", "v.png"],
     "--class 12 is not a class of model 'lenet5': it has 10 classes (0..9)"),
    (["visualize", "lenet5", "--class", "cat", "--out", "v.png"], "--class must be a class index"),
    (["visualize", "lenet5", "--class", "1", "--lr", "nan", "--out", "v.png"], "argument --lr: must be a number"),
    (["embed", "lenet5", "--data", "digits", "--out", "e.png"],
     "model 'lenet5' cannot take --data digits images 1x8x8; it was built for 1x28x28"),
    (["explain", "sample:camera", "--model", "lenet5", "--method", "occlusion", "--window", "64", "--out", "x"],
     "--window 64 is larger than the 28x28 image the model sees"),
    (["explain", "sample:camera", "--model", "lenet5", "--method", "occlusion", "--window", "4", "--stride", "30",
      "--out", "x"], "--stride 30 is larger than --window 4"),
    (["explain", "sample:camera", "--model", "lenet5", "--method", "gradcam", "--window", "4", "--out", "x"],
     "--window and --stride apply to occlusion, not gradcam"),
    (["explain", "sample:camera", "--model", "lenet5", "--layer", "_fc", "--out", "x"],
     "--layer '_fc' is no layer of model 'lenet5' (its feature layers: features.1, features.4, features.7)"),
    (["features", "lenet5", "sample:camera", "--layer", "classifier.3"], "--layer 'classifier.3' gives shape (10,)"),
    (["sanity", "lenet5", "sample:camera", "--steps", "0"], "argument --steps: must be a positive integer"),
])
def test_explain_commands_name_the_flag(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "--target" not in err


def test_slow_explanations_show_progress(net, monkeypatch, capsys):
    from cnnlab import _progress

    monkeypatch.setattr(_progress, "enabled", lambda flag=None: True)
    explain.maximize(net, target=1, steps=2)
    explain.cascading_randomization(net, torch.rand(1, 1, 28, 28), methods=("saliency",), max_steps=1)
    explain.penultimate_features(net, torch.rand(4, 1, 28, 28))
    err = capsys.readouterr().err
    assert "activation maximisation" in err and "cascading randomisation" in err and "feature extraction" in err


def test_the_sanity_plot_shows_negative_correlations():
    res = explain.SanityResult(["saliency"], ["none", "fc"], torch.tensor([[1.0], [-0.8]]))
    assert res.plot().axes[0].get_ylim()[0] < -0.8


def test_linear_probe_feature_extraction_shows_progress(net, monkeypatch, capsys):
    from cnnlab import _progress, transfer

    monkeypatch.setattr(_progress, "enabled", lambda flag=None: True)
    feats = transfer.extract_features(net, torch.rand(4, 1, 28, 28), batch_size=2)
    assert feats.shape == (4, 84) and "feature extraction" in capsys.readouterr().err
