"""Issue 12 at the models boundary: checkpoints that must not load (NaN weights, a class count that disagrees with
model.json), what a spec names (a registry model, a missing directory, a file that is no checkpoint), images that
must not be classified (0..255 pixels, NaN, wrong channels and sizes) and outputs that must not be ranked."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cnnlab import models


@pytest.fixture()
def ckpt(tmp_path):
    torch.manual_seed(0)
    return models.save_checkpoint(tmp_path / "run", models.create("lenet5"))


def test_a_checkpoint_with_nan_weights_is_refused_naming_it_and_the_tensor(ckpt):
    state = load_file(str(ckpt / "model.safetensors"))
    state["features.3.weight"][0, 0, 0, 0] = float("nan")
    save_file(state, str(ckpt / "model.safetensors"))
    with pytest.raises(ValueError, match=rf"checkpoint '{ckpt}' has NaN or infinite values in tensor "
                                         r"'features\.3\.weight'"):
        models.load_checkpoint(ckpt)


def test_a_class_count_that_disagrees_with_the_weights_is_one_line_naming_both(ckpt):
    doc = json.loads((ckpt / "model.json").read_text())
    doc["card"]["kwargs"]["num_classes"] = 5
    (ckpt / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"checkpoint '{ckpt}': model\.json says 5 classes, its weights have 10 "
                                         r"\(classifier\.3\.weight is 10x84\)"):
        models.load(str(ckpt))


def test_class_names_that_disagree_with_the_outputs_are_refused(ckpt):
    doc = json.loads((ckpt / "model.json").read_text())
    doc["card"]["classes"] = ["a", "b"]
    (ckpt / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="lists 2 class names for a model built with 10 outputs"):
        models.load_checkpoint(ckpt)


def test_a_spec_is_a_path_or_a_registry_name(tmp_path, ckpt):
    with pytest.raises(FileNotFoundError, match=r"^no such checkpoint directory: 'runs/x'$"):
        models.load("runs/x")
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory: 'evil.pkl'"):
        models.load("evil.pkl")  # a dot: a file name, never "unknown model ... did you mean"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"\x80\x04cos\nsystem\n.")
    with pytest.raises(ValueError, match=rf"'{evil}' is a file, not a cnnlab checkpoint directory.*pickled models "
                                         "are never loaded"):
        models.load(str(evil))
    with pytest.raises(ValueError, match="unknown model 'lenet6'; did you mean lenet5"):
        models.load("lenet6")
    assert models.load(str(ckpt / "model.json")).cnnlab.name == "lenet5"  # a file inside a checkpoint is fine


@pytest.mark.parametrize("bad, message", [
    (lambda x: x * 255, r"images must be pixels in \[0, 1\], got values in \[.*\] \(0\.\.255 pixels\? divide by 255\)"),
    (lambda x: x.index_fill(0, torch.tensor([1]), float("nan")), "images contain NaN or infinite values"),
    (lambda x: x.index_fill(0, torch.tensor([0]), float("inf")), "images contain NaN or infinite values"),
    (lambda x: x.repeat(1, 3, 1, 1), r"images have 3 channels .* model 'lenet5' takes 1-channel images"),
    (lambda x: x[..., :8, :8], r"model 'lenet5' cannot take images 1x8x8; it was built for 1x28x28"),
    (lambda x: x.to(torch.uint8), "must be floating-point pixels"),
])
def test_predict_refuses_images_that_would_give_a_silent_wrong_answer(bad, message):
    m = models.create("lenet5").eval()
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=message):
        models.predict(m, bad(x))
    with pytest.raises(ValueError, match=r"images\[0\]"):  # a list of photos: each is checked before resizing
        models.predict(m, [torch.rand(1, 40, 40) * 255])


def test_predict_never_ranks_nan():
    m = models.create("lenet5").eval()
    with torch.no_grad():
        m.classifier[3].bias[2] = float("inf")  # weights that overflow: the outputs are NaN
        m.classifier[3].weight[2] = float("inf")
    with pytest.raises(ValueError, match="outputs are NaN or infinite for image"):
        models.predict(m, torch.rand(2, 1, 28, 28))


def test_an_image_at_the_input_size_is_taken_as_prepared():
    """What cnnlab wrote at the network's resolution is classified as it was, not resized and cropped again."""
    m = models.create("resnet_small", in_channels=3)
    m.cnnlab.resize_size = 32  # a pretrained-style card: resize the shorter side to 32, crop 28
    img = torch.rand(3, 28, 28)
    assert torch.equal(models.preprocess(m, img), img)
    assert models.preprocess(m, torch.rand(3, 40, 50)).shape == (3, 28, 28)
    assert torch.equal(models.preprocess(m, img[:1]), img[:1].expand(3, 28, 28))  # grey -> RGB only


def test_class_indices_are_checked_against_the_card():
    m = models.create("lenet5")
    assert models.check_class(m, 9) == 9 and models.num_classes(m) == 10
    with pytest.raises(ValueError, match=r"--targeted 12 is not a class of model 'lenet5': it has 10 classes "
                                         r"\(0\.\.9\)"):
        models.check_class(m, 12, name="--targeted")
    with pytest.raises(ValueError, match="--class must be a non-negative integer, got -1"):
        models.check_class(m, -1, name="--class")
    assert models.check_class(nn.Linear(2, 2), 12) == 12  # no card: the forward pass checks the rest


def test_prepare_is_the_one_path_for_photos_and_batches():
    m = models.create("lenet5")
    assert models.prepare(m, [torch.rand(3, 50, 60), torch.rand(1, 28, 28)]).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"images\[1\] must be an image Tensor\[C, H, W\], got \(28, 28\)"):
        models.prepare(m, [torch.rand(1, 28, 28), torch.rand(28, 28)])
    with pytest.raises(ValueError, match="non-empty"):
        models.prepare(m, [])
