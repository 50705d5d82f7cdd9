"""The demo report runs for any registry model or checkpoint: every section renders or says, visibly, what it
skipped and why; the text describes the model actually used; small inputs are shown enlarged (issue 12)."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from cnnlab import data, models, train
from cnnlab.report import run_demo
from cnnlab.report._demo import section_names


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A fastnet_small checkpoint trained (briefly) on the 8x8 digits: `demo --model RUN`."""
    out = tmp_path_factory.mktemp("demo") / "run"
    tr = data.digits("train")
    net = models.create("fastnet_small", num_classes=10, in_channels=1)
    net.cnnlab.input_size, net.cnnlab.classes = tuple(tr.images.shape[1:]), list(tr.classes)
    train.fit(net, tr, None, train.TrainConfig(epochs=1, batch_size=64, lr=0.1, device="cpu", progress=False,
                                               tensorboard=False, out_dir=str(out)))
    return str(out)


def _sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section id="[^"]*"><h2>', html)[1:]
    return {p.split("</h2>", 1)[0]: p.split("</h2>", 1)[1] for p in parts}


def _image_sizes(body: str) -> list[tuple[int, int]]:
    sizes = []
    for b64 in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", body):
        sizes.append(Image.open(io.BytesIO(base64.b64decode(b64))).size)
    return sizes


# the training section trains its own networks on the digits, whatever the demo model is: it runs once, for lenet5,
# on a budget cut for the test (two members, one epoch of the digits recipe)
CASES = [("lenet5", None), ("resnet_small", "not-training"), ("RUN", "not-training"),
         ("efficientnet_lite0", "not-training")]


@pytest.mark.parametrize("model, which", CASES, ids=[c[0] for c in CASES])
def test_every_section_renders_or_says_why_not(model, which, trained_run, tmp_path, monkeypatch):
    from cnnlab.report import _section_training

    recipe = train.recipe
    monkeypatch.setattr(_section_training, "MEMBERS", 2)
    monkeypatch.setattr(train, "recipe", lambda name, **kw: recipe(name, **{**kw, "epochs": 1}))
    spec = trained_run if model == "RUN" else model
    names = section_names() if which is None else [n for n in section_names() if n != "training"]
    res = run_demo(tmp_path, model=spec, images=["chelsea"], sections=names)
    html = res.path.read_text()
    secs = _sections(html)
    assert len(secs) == len(names)
    for title, body in secs.items():
        # rendered (an image or a table) or a visible skip note, never empty
        assert "<img" in body or "<table" in body or 'class="note"' in body, title
    card = models.load(spec).cnnlab
    expl = secs["Explanations"]
    if card.pool is None:
        assert "<b>CAM</b> skipped: CAM needs global average pooling" in expl
    else:
        assert "skipped" not in expl
    # the text names the model actually used, not the default's ImageNet story
    assert card.name in html
    if model != "efficientnet_lite0":
        assert "1280-d" not in html and "ImageNet" not in secs["Predictions"]
        assert re.search(r"The \d+-d features of", secs["Losses and transfer learning"])
    if model in ("lenet5", "resnet_small"):
        assert "random weights" in secs["Predictions"] and 'class="note"' in secs["Predictions"]
    if model == "RUN":
        assert f"checkpoint {trained_run}" in html and "trained on 10 classes" in html
    # small inputs are upscaled for display (nearest-neighbour), not shown at 8x8 / 28x28
    side = card.input_size[1]
    if side < 100:
        assert min(min(s) for s in _image_sizes(expl)) >= 4 * side
        assert min(min(s) for s in _image_sizes(secs["Adversarial examples"])) >= 4 * side
