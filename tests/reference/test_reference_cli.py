"""conv-demo, saturation and reference-train commands, and the worked example behind conv-demo."""

import itertools
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from cnnlab import reference as ref
from cnnlab.cli import main


@pytest.mark.parametrize("mode, stride, dilation, size, kernel",
                         [(m, s, d, n, k) for m, s, d, n, k in itertools.product(
                             ["valid", "same", "full"], [1, 2, 3], [1, 2], [5, 6], [2, 3])
                          if not (m == "valid" and d * (k - 1) + 1 > n)])
def test_conv_demo_identities_hold_and_gradients_match_torch(mode, stride, dilation, size, kernel):
    d = ref.conv_demo(size=size, kernel=kernel, mode=mode, stride=stride, dilation=dilation)
    assert [i.name for i in d.identities] == ["forward", "kernel gradient", "input gradient", "transposed conv",
                                              "shape"]
    assert all(i.holds for i in d.identities), d.identities
    (t, b), (l, r) = d.padding
    xt = torch.tensor(d.x[None, None], requires_grad=True)
    wt = torch.tensor(d.w[None, None], requires_grad=True)
    yt = F.conv2d(F.pad(xt, (l, r, t, b)), wt, stride=stride, dilation=dilation)
    yt.backward(torch.tensor(d.dy[None, None]))
    np.testing.assert_array_equal(d.y, yt[0, 0].detach().numpy())
    np.testing.assert_array_equal(d.dx, xt.grad[0, 0].numpy())
    np.testing.assert_array_equal(d.dw, wt.grad[0, 0].numpy())
    if mode == "same":
        assert d.y.shape == (-(-size // stride),) * 2


def test_conv_demo_command(capsys):
    assert main(["conv-demo", "--mode", "same", "--stride", "2", "--dilation", "1"]) == 0
    out = capsys.readouterr().out
    assert "padding top 1, bottom 1, left 1, right 1; 5x5 -> 3x3" in out
    assert "dW = x ⋆ dY" in out and "dX = dY * w" in out and "NO" not in out
    assert out.count(" yes") == 5 and "dX (input gradient) 5x5" in out


def test_saturation_command(tmp_path, capsys):
    plot = tmp_path / "sat.png"
    assert main(["saturation", "--depth", "8", "--channels", "4", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    decay = {k: float(v) for k, v in re.findall(r"(sigmoid|relu) ([0-9.e+-]+)", out.split("gradient norm: ")[1])}
    assert decay["sigmoid"] < 1e-2 < decay["relu"]
    assert plot.stat().st_size > 1000


def test_reference_train_command(capsys):
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend
        assert main(["reference-train", "--epochs", "1", "--batch-size", "128", "--lr", "0.1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["epoch", "loss", "train", "acc", "test", "acc"] and len(lines) == 3
    assert float(lines[2].split()[-1].rstrip("%")) > 20  # one epoch is far better than chance (10 %)


@pytest.mark.parametrize("argv, message", [
    (["conv-demo", "--mode", "half"], "invalid choice"),
    (["conv-demo", "--stride", "0"], "argument --stride: must be a positive integer, got '0'"),
    (["conv-demo", "--mode", "valid", "--size", "3", "--kernel", "3", "--dilation", "2"], "kernel extent 5"),
    (["conv-demo", "--kernel", "x"], "argument --kernel: must be an integer, got 'x'"),
    (["conv-demo", "--stride", "9"], "stride must be an integer in [1, 8], got 9"),
    (["saturation", "--depth", "0"], "argument --depth: must be a positive integer, got '0'"),
    (["saturation", "--weight-scale", "-1"], "argument --weight-scale: must be a number > 0, got '-1'"),
    (["reference-train", "--epochs", "0"], "argument --epochs: must be a positive integer, got '0'"),
    (["saturation", "--weight-scale", "nan"], "argument --weight-scale: must be a number (not NaN or infinity)"),
    (["reference-train", "--lr", "nan"], "argument --lr: must be a number (not NaN or infinity), got 'nan'"),
    (["reference-train", "--momentum", "1"], "--momentum must be in [0, 1), got 1"),
])
def test_bad_input_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_demo_report_section(tmp_path, lite0):
    from cnnlab import data
    from cnnlab.report import DemoContext
    from cnnlab.report._section_reference import reference_section

    ctx = DemoContext(model=lite0, model_name="efficientnet_lite0", images={"chelsea": data.sample_image("chelsea")},
                      out_dir=tmp_path)
    section = reference_section(ctx)
    assert "first convolution" in section.body and "(1, 32, 112, 112)" in section.body
    rel = float(re.search(r"largest activation ([0-9.e+-]+)", section.body).group(1))
    assert rel < 1e-5
    assert section.body.count("<tr>") == 6 and "data:image/png;base64," in section.body


@pytest.mark.parametrize("make, message", [
    (lambda: ref.SaturationConfig(weight_scale=float("nan")), "weight_scale must be a number (not NaN"),
    (lambda: ref.SaturationConfig(depth=0), "depth must be a positive integer"),
    (lambda: ref.DigitsConfig(lr=float("nan")), "lr must be a number (not NaN"),
    (lambda: ref.DigitsConfig(momentum=float("inf")), "momentum must be a number (not NaN"),
    (lambda: ref.SGD(lr=float("nan")), "lr must be a number (not NaN"),
])
def test_the_reference_engine_refuses_nan_settings(make, message):
    """NaN compares false with every bound: ``lr <= 0`` let it through and training ran to NaN with exit 0."""
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
