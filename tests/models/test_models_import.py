"""cnnlab import: state dicts of torchvision and cnnlab architectures become checkpoints that predict, explain,
attack and summary take; the torchvision families' cards are checked against traced shapes (as
test_models_feature_info does for the registry); bad files are refused with one line."""

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from cnnlab import models
from cnnlab.cli import main
from cnnlab.models import _torchvision

# one architecture per family the card table records (the rule is per family; every member shares it)
FAMILY_MEMBERS = ["resnet18", "resnext50_32x4d", "wide_resnet50_2", "regnet_x_400mf", "densenet121",
                  "shufflenet_v2_x0_5", "vgg11_bn", "alexnet", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
                  "convnext_tiny", "mnasnet0_5"]


def _net(name: str, classes: int = 7):
    if name.startswith("regnet"):  # RegNet's builder computes widths with tensors: not on the meta device
        return _torchvision.build(name, num_classes=classes).eval().to("meta")
    with torch.device("meta"):
        return _torchvision.build(name, num_classes=classes).eval()


def _trace(net, size, names):
    shapes = {}
    handles = [net.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
               for n in names]
    try:
        net(torch.zeros(1, *size, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return shapes


def test_every_family_of_the_table_is_tested():
    assert {_torchvision.family(n) for n in FAMILY_MEMBERS} == set(_torchvision.FAMILIES)


@pytest.mark.parametrize("name", FAMILY_MEMBERS)
def test_torchvision_feature_info_matches_the_traced_shapes(name):
    net = _net(name)
    st = _torchvision.structure(name, net)
    feats = st["features"]
    assert feats and [f.stride for f in feats] == sorted(f.stride for f in feats)
    c, h, w = _torchvision.preprocessing(name)["input_size"]
    step = 8 * feats[-1].stride  # see test_models_feature_info: the growth measures each map's stride
    names = [f.module for f in feats] + [st["classifier"]]
    small, big = _trace(net, (c, h, w), names), _trace(net, (c, h + step, w + step), names)
    for f in feats:
        assert small[f.module][1] == f.channels, f.module
        grown = big[f.module][2] - small[f.module][2]
        assert grown > 0 and step / grown == f.stride, (f.module, small[f.module], big[f.module])
    assert small[st["classifier"]] == (1, 7)


@pytest.mark.parametrize("name", ["resnet18", "regnet_x_400mf", "efficientnet_b0"])
def test_the_recorded_torchvision_pool_feeds_the_classifier_directly(name):
    torch.manual_seed(0)
    net = _torchvision.build(name, num_classes=5).eval()
    st = _torchvision.structure(name, net)
    store = {}
    h1 = net.get_submodule(st["pool"]).register_forward_hook(lambda m, i, o: store.__setitem__("pool", o))
    h2 = net.get_submodule(st["classifier"]).register_forward_pre_hook(lambda m, a: store.__setitem__("fc", a[0]))
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 64, 64))
    finally:
        h1.remove()
        h2.remove()
    torch.testing.assert_close(store["pool"].flatten(1), store["fc"])


def test_other_torchvision_classifiers_record_the_classifier_only():
    net = _net("vit_b_16")
    assert _torchvision.structure("vit_b_16", net) == {"classifier": "heads.head", "pool": None, "features": []}


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    """A torchvision ResNet-18 with 10 classes, random init (no download), saved as a plain state dict."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    path = tmp_path_factory.mktemp("w") / "r18.pth"
    torch.save(net.state_dict(), path)
    return net, path


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A torchvision MobileNet-v3-small with 10 classes (1.5M parameters: the cheap torchvision architecture for
    the command-line and bad-input tests), random init, saved as a plain state dict."""
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=10).eval()
    path = tmp_path_factory.mktemp("w") / "mobilenet.pth"
    torch.save(net.state_dict(), path)
    return net, path


def test_an_imported_torchvision_resnet_equals_torchvision_behind_imagenet_normalisation(r18, tmp_path):
    net, path = r18
    m = models.import_weights("torchvision:resnet18", path)
    card = m.cnnlab
    assert (card.source, card.name, card.num_classes, card.input_size, card.resize_size) == \
        ("torchvision", "resnet18", 10, (3, 224, 224), 256)
    x = torch.rand(2, 3, 64, 64)
    mean, std = torch.tensor(card.mean).view(1, 3, 1, 1), torch.tensor(card.std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(m(x), net((x - mean) / std))
    back = models.load(str(models.save_checkpoint(tmp_path / "run", m)))  # rebuilt from the name
    with torch.no_grad():
        torch.testing.assert_close(back(x), m(x))
    assert back.cnnlab.features == card.features and back.cnnlab.classifier == "net.fc"


def test_rebuild_a_torchvision_card_with_another_head_and_an_input_adapter(small):
    """What transfer needs from a card of any source: the same architecture, freshly initialised."""
    import dataclasses

    _, path = small
    card = models.import_weights("mobilenet_v3_small", path).cnnlab
    new = dataclasses.replace(card, kwargs={**card.kwargs, "num_classes": 4,
                                            "input_adapter": {"in_channels": 1, "size": [32, 32]}})
    m = models.rebuild(new).eval()
    assert m(torch.rand(2, 1, 20, 20)).shape == (2, 4) and m.cnnlab.classifier == "net.classifier.3"
    assert card.kwargs == {"num_classes": 10, "in_channels": 3}


def test_torchvision_resnet18_weights_fit_the_cnnlab_resnet18_too(r18):
    net, path = r18  # cnnlab's ResNet follows torchvision's module names
    m = models.import_weights("resnet18", path, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    x = torch.rand(2, 3, 64, 64)
    ref = models.import_weights("torchvision:resnet18", path)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-4, atol=1e-5)
    assert m.cnnlab.source == "cnnlab" and m.cnnlab.name == "resnet18"


def test_a_cnnlab_lenet_state_dict_with_named_classes_from_safetensors(tmp_path):
    torch.manual_seed(0)
    src = models.create("lenet5", num_classes=4).eval()
    save_file(src.state_dict(), str(tmp_path / "lenet.safetensors"))
    m = models.import_weights("lenet5", tmp_path / "lenet.safetensors", classes=["a", "b", "c", "d"])
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(m(x), src(x))
    assert [p.label for p in models.predict(m, x, topk=1)[0]][0] in "abcd"


def test_the_import_command_and_the_run_everywhere(small, tmp_path, capsys):
    _, path = small
    run = tmp_path / "run"
    (tmp_path / "classes.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    assert main(["import", "mobilenet_v3_small", str(path), "--out", str(run), "--classes",
                 str(tmp_path / "classes.txt"), "--input", "3x64x64"]) == 0
    out = capsys.readouterr().out
    assert "imported torchvision mobilenet_v3_small" in out and "10 classes, input 3x64x64" in out
    assert "feature layers: net.features.0, net.features.1" in out
    assert main(["predict", "sample:coffee", "--model", str(run), "--topk", "2"]) == 0
    assert "class" in capsys.readouterr().out
    assert main(["explain", "sample:coffee", "--model", str(run), "--out", str(tmp_path / "e")]) == 0
    assert (tmp_path / "e" / "coffee_gradcam.png").is_file()
    assert main(["attack", "sample:coffee", "--model", str(run), "--method", "fgsm", "--out", str(tmp_path / "a")]) == 0
    assert main(["summary", str(run), "--depth", "1"]) == 0
    assert "mobilenet_v3_small, input 1x3x64x64" in capsys.readouterr().out
    assert main(["import", "mobilenet_v3_small", str(path), "--out", str(run)]) == 2  # nothing is overwritten
    assert "already exists" in capsys.readouterr().err


def test_bad_weight_files_are_one_line(small, tmp_path, capsys):
    import pickle

    _, path = small
    torch.manual_seed(0)
    lenet = tmp_path / "lenet.pth"
    torch.save(models.create("lenet5").state_dict(), lenet)

    class Evil:
        def __reduce__(self):
            return (print, ("ran code",))

    evil, evil_zip = tmp_path / "evil.pth", tmp_path / "evil_zip.pth"
    evil.write_bytes(pickle.dumps({"w": Evil()}))
    torch.save({"w": Evil()}, evil_zip)
    bad_keys = tmp_path / "keys.pth"
    torch.save({"head.weight": torch.zeros(3, 3)}, bad_keys)
    nan = tmp_path / "nan.pth"
    state = torch.load(lenet, weights_only=True)
    state["features.3.weight"][0] = float("nan")
    torch.save(state, nan)
    cases = [
        (["import", "lenet5", str(evil)], "is not a plain state dict: it holds something other than tensors"),
        (["import", "lenet5", str(evil_zip)], "is not a plain state dict: it refers to code"),
        (["import", "lenet5", str(bad_keys)], "does not fit lenet5: 10 missing and 1 unexpected tensors (missing e.g. "
                                              "features.0.weight"),
        (["import", "lenet5", str(lenet), "--classes", "5"],
         "has 10 classes (classifier.3.weight is 10x84), but 5 classes were asked for (--classes)"),
        (["import", "mobilenet_v3_small", str(path), "--classes", "5"],
         "has 10 classes (classifier.3.weight is 10x1024), but 5 classes were asked for (--classes)"),
        (["import", "lenet5", str(nan)], "NaN or infinite values in tensor 'features.3.weight'"),
        (["import", "resnet_181", str(path)], "unknown architecture 'resnet_181'"),
        (["import", "lenet5", str(tmp_path / "none.pth")], "no such weights file"),
        (["import", "mobilenet_v3_small", str(path), "--input", "1x64x64"],
         "--input 1x64x64: torchvision mobilenet_v3_small takes 3-channel images"),
        (["import", "mnasnet0_5", str(path)], "does not fit torchvision mnasnet0_5"),
        (["import", "lenet5", str(lenet), "--mean", "0.5"], "give --mean and --std together"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2, argv
        out, err = capsys.readouterr()
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert "ran code" not in out and "weights_only` set to `False" not in err
        assert not (tmp_path / "out").exists()
