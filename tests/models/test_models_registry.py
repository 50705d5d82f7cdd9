"""Every registered model: shape, finiteness, backward, eval determinism; parameter counts vs torchvision."""

import pytest
import torch
import torchvision

from cnnlab import models

# ImageNet-size models run at a reduced resolution here (adaptive pooling keeps them valid) to stay fast.
TEST_SIZE = {"alexnet": 96, "alexnet_tv": 96, "vgg11": 64, "vgg16": 64, "googlenet": 64, "resnet18": 64,
             "resnet34": 64, "resnet50": 64, "efficientnet_lite0": 64,
             "efficientnet_lite1": 64, "efficientnet_lite2": 64}


def _input(name, n=2, channels=None):
    c, h, w = models.info(name)["input_size"]
    s = TEST_SIZE.get(name, h)
    return torch.rand(n, channels or c, s, s)


@pytest.mark.parametrize("name", models.names())
def test_forward_backward_finite(name):
    m = models.create(name, num_classes=7)
    x = _input(name).requires_grad_()
    y = m(x)
    assert y.shape == (2, 7)
    assert torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


@pytest.mark.parametrize("name", models.names())
def test_eval_is_deterministic_and_card(name):
    m = models.create(name).eval()
    x = _input(name)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    card = m.cnnlab
    assert card.name == name and card.kwargs["num_classes"] == (10 if models.info(name)["small"] else 1000)
    assert isinstance(m.normalize, models.Normalize)


@pytest.mark.parametrize("name", [n for n in models.names() if models.info(n)["small"]])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_small_variants_take_28_and_32(name, shape):
    kw = {"image_size": shape[1]} if name == "lenet5" else {}
    m = models.create(name, in_channels=shape[0], num_classes=10, **kw)
    assert m(torch.rand(3, *shape)).shape == (3, 10)


def _count(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "ours, kw, theirs",
    [
        ("alexnet_tv", {}, torchvision.models.alexnet),
        ("vgg11", {}, torchvision.models.vgg11),
        ("vgg16", {}, torchvision.models.vgg16),
        ("googlenet", {"fivebyfive": 3}, lambda: torchvision.models.googlenet(aux_logits=False,
                                                                             init_weights=False)),
        ("resnet18", {}, torchvision.models.resnet18),
        ("resnet34", {}, torchvision.models.resnet34),
        ("resnet50", {}, torchvision.models.resnet50),
    ],
)
def test_parameter_counts_equal_torchvision(ours, kw, theirs):
    assert _count(models.create(ours, **kw)) == _count(theirs())


def test_resnet_state_dict_fits_torchvision():
    tv = torchvision.models.resnet18().eval()
    ours = models.create("resnet18", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)).eval()
    ours.load_state_dict(tv.state_dict(), strict=True)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), tv(x), rtol=1e-5, atol=1e-5)


def test_known_parameter_counts():
    # The paper's AlexNet on one device: conv 96-256-384-384-256, FC 4096-4096-1000.
    expected = (3 * 121 + 1) * 96 + (96 * 25 + 1) * 256 + (256 * 9 + 1) * 384 + (384 * 9 + 1) * 384 \
        + (384 * 9 + 1) * 256 + (9216 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * 1000
    assert _count(models.create("alexnet")) == expected
    # LeNet-5: ((5*5*1)+1)*6 + ((5*5*6)+1)*16 + ((5*5*16)+1)*120 + (120+1)*84 + (84+1)*10
    assert _count(models.create("lenet5")) == 156 + 2416 + 48120 + 10164 + 850
    assert _count(models.create("efficientnet_lite0")) == 4_652_008


def test_googlenet_uses_real_5x5_by_default():
    m = models.create("googlenet")
    assert m.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert models.create("googlenet", fivebyfive=3).inception3a.branch3[1].conv.kernel_size == (3, 3)


def test_create_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        models.create("resnet5")
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        models.create("lenet5", num_classes=0)
    with pytest.raises(ValueError, match="has no weights"):
        models.create("lenet5", weights="imagenet")
    with pytest.raises(ValueError, match="1000 classes"):
        models.create("efficientnet_lite0", weights="imagenet", num_classes=10)
    with pytest.raises(ValueError, match="expected a batch of 1-channel images"):
        models.create("lenet5")(torch.rand(2, 3, 28, 28))


def test_model_table_counts_match_real_models():
    rows = {r["name"]: r for r in models.model_table()}
    assert set(rows) == set(models.names())
    assert rows["resnet50"]["params"] == _count(models.create("resnet50"))
    assert rows["efficientnet_lite0"]["weights"] == ["imagenet"]


def test_frozen_restores_modes_and_flags_also_on_error():
    m = models.create("resnet_small")
    m.layer1.eval()  # mixed modes must come back as they were
    m.fc.weight.requires_grad_(False)
    before = [(mod.training) for mod in m.modules()], [p.requires_grad for p in m.parameters()]
    try:
        with models.frozen(m):
            assert not any(mod.training for mod in m.modules())
            assert not any(p.requires_grad for p in m.parameters())
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert ([mod.training for mod in m.modules()], [p.requires_grad for p in m.parameters()]) == before


def test_last_module_name():
    m = models.create("resnet_small")
    assert models.last_module_name(m, torch.nn.Linear) == "fc"
    assert models.last_conv_name(m) == "layer3.2.conv2"
    assert models.last_module_name(m, torch.nn.LSTM) is None


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        models.atomic_write_bytes(tmp_path / "sub" / "f.bin", b"abc")
        assert (tmp_path / "sub" / "f.bin").read_bytes() == b"abc"
        assert (os.stat(tmp_path / "sub" / "f.bin").st_mode & 0o777) == 0o644
        assert not [f for f in os.listdir(tmp_path / "sub") if f.startswith(".")]  # no temporary file left
    finally:
        os.umask(mask)
