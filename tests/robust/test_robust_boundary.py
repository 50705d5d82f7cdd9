"""Issue 12 at the attack boundary: every attack refuses 0..255 pixels and NaN (one check, robust's check_inputs ->
models.check_batch) and classes the model does not have; what `attack` writes reproduces its own table;
`robustness --defences` has one clean accuracy; results are percents, settings in words."""

import re

import pytest
import torch

from cnnlab import models, robust
from cnnlab.cli import main

OPTIONS = {"pgd": {"steps": 1}, "onepixel": {"popsize": 4, "steps": 1}}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return models.create("resnet_small", widths=(4, 4, 8)).eval()


@pytest.mark.parametrize("method", robust.names())
@pytest.mark.parametrize("bad, message", [
    (lambda x: x * 255, r"images must be pixels in \[0, 1\].*0\.\.255 pixels"),
    (lambda x: x.index_fill(0, torch.tensor([1]), float("nan")), "images contain NaN or infinite values"),
    (lambda x: x.repeat(1, 3, 1, 1), "images have 3 channels"),
], ids=["0..255", "nan", "channels"])
def test_every_attack_refuses_bad_pixels(net, method, bad, message):
    with pytest.raises(ValueError, match=message):
        robust.get(method)(net, bad(torch.rand(2, 1, 28, 28)), torch.tensor([0, 1]), **OPTIONS.get(method, {}))


@pytest.mark.parametrize("method", robust.names())
def test_every_attack_checks_classes_against_the_model(net, method):
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"target class 12 is not a class of the model: the model has 10 classes "
                                         r"\(0\.\.9\)"):
        robust.get(method)(net, x, torch.tensor([0, 1]), target=12, **OPTIONS.get(method, {}))
    with pytest.raises(ValueError, match=r"labels must be classes of the model \(0\.\.9\), got values from 0 to 11"):
        robust.get(method)(net, x, torch.tensor([0, 11]), **OPTIONS.get(method, {}))


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """A ResNet checkpoint with a pretrained-style card: photos are resized (shorter side 36) and centre-cropped
    to 32x32, the preprocessing a second pass would repeat on a written PNG."""
    torch.manual_seed(0)
    m = models.create("resnet_small", in_channels=3, widths=(8, 8, 16))
    m.cnnlab.input_size, m.cnnlab.resize_size = (3, 32, 32), 36
    m.cnnlab.classes = [f"c{i}" for i in range(10)]
    return models.save_checkpoint(tmp_path_factory.mktemp("run") / "photo", m)


@pytest.mark.parametrize("method, extra", [("fgsm", ["--eps", "0.05"]), ("pgd", ["--eps", "0.03", "--steps", "3"]),
                                           ("onepixel", ["--steps", "3", "--popsize", "16"])])
def test_predict_on_the_written_png_gives_the_attack_table(photo_run, method, extra, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["attack", "sample:coffee", "sample:chelsea", "--model", str(photo_run), "--method", method, *extra,
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.startswith(("coffee", "chelsea"))]
    assert len(rows) == 2
    for image, clean, clean_p, adv, adv_p, *_ in rows:
        for kind, cls, prob in (("adversarial", adv, adv_p), ("original", clean, clean_p)):
            assert main(["predict", str(out / f"{image}_{kind}.png"), "--model", str(photo_run), "--topk", "1",
                         "--json"]) == 0
            import json

            top = json.loads(capsys.readouterr().out)[0]["topk"][0]
            assert top["class"] == cls and f"{100 * top['prob']:.1f}%" == prob, (image, kind, top, prob)


def test_attack_images_stay_in_the_ball_on_the_8bit_grid(photo_run):
    from cnnlab import data

    m = models.load(str(photo_run))
    r = robust.attack_images(m, [data.sample_image("coffee")], "pgd", eps=3 / 255, steps=2)[0]
    for img in (r.original, r.adversarial):
        assert torch.equal(img, (img * 255).round() / 255)
    assert float(r.perturbation.abs().max()) <= 3 / 255 + 1e-6


def test_the_targeted_class_is_checked_by_the_command(photo_run, capsys):
    for argv in (["attack", str(photo_run), "--data", "digits", "--targeted", "12"],
                 ["attack", "sample:coffee", "--model", str(photo_run), "--targeted", "12", "--out", "x"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--targeted 12 is not a class of model 'resnet_small': it has 10 classes (0..9)" in err


def test_robustness_with_defences_prints_one_clean_accuracy(tmp_path, capsys, monkeypatch):
    """More images than the defence table used to take (512): the curve and the table see the same ones."""
    import torch.nn.functional as F

    from cnnlab import data

    torch.manual_seed(0)
    m = models.create("resnet_small", widths=(4, 4, 8))
    te = data.digits("test")
    x, y = te.floats(), te.labels
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for i in range(0, 448, 32):  # a few steps: above chance (about 22%), far from perfect
        loss = F.cross_entropy(m(x[i:i + 32]), y[i:i + 32])
        opt.zero_grad()
        loss.backward()
        opt.step()
    ck = models.save_checkpoint(tmp_path / "ck", m)
    real = robust.evaluate_defences
    seen = {}

    def only_none(*args, **kwargs):  # the table's rows for the undefended model (JPEG over 600 images is slow)
        seen.update(kwargs)
        return real(*args, **{**kwargs, "defences": [("none", {})]})

    monkeypatch.setattr(robust, "evaluate_defences", only_none)
    assert main(["robustness", str(ck), "--data", "digits", "--split", "train", "--eps", "0,0.1", "--steps", "1",
                 "--limit", "600", "--defences", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert seen["limit"] == 600
    clean = re.search(r"on 600 digits train images; clean accuracy (\d+\.\d%)", out).group(1)
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["none"][1] == clean  # the defence table's undefended clean accuracy is the curve's
    assert rows["0"][1] == clean and float(clean.rstrip("%")) > 15  # eps 0 changes nothing; above chance
    assert "{" not in out and all(v.endswith("%") for v in rows["none"][1:])


def test_slow_attacks_show_progress(net, monkeypatch, capsys):
    from cnnlab import _progress

    monkeypatch.setattr(_progress, "enabled", lambda flag=None: True)
    robust.onepixel(net, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), popsize=4, steps=2)
    assert "one-pixel generations" in capsys.readouterr().err


def test_the_probes_share_the_batch_check(net):
    x = torch.rand(4, 1, 28, 28) * 255
    with pytest.raises(ValueError, match=r"0\.\.255 pixels"):
        robust.translation_equivariance(net, x)
    with pytest.raises(ValueError, match=r"0\.\.255 pixels"):
        robust.invariance_curves(net, (x, torch.arange(4)))
