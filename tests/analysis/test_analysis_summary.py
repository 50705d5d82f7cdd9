"""summarize: parameters vs torchinfo, MACs vs fvcore, receptive fields vs published numbers, model state."""

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision
from analysis_helpers import MetaInit
from torch import nn

from cnnlab import models
from cnnlab.analysis import summarize


def _torchinfo_total(model):
    import torchinfo

    return torchinfo.summary(model, verbose=0).total_params


def _input(name):
    c, h, w = models.info(name)["input_size"]
    return (c, h, w)


@pytest.mark.parametrize("name", models.names())
def test_registered_models_params_match_torchinfo_and_shapes(name):
    with MetaInit():
        m = models.create(name)
    s = summarize(m, _input(name))
    assert s.total_params == sum(p.numel() for p in m.parameters()) == _torchinfo_total(m)
    assert sum(r.params for r in s.layers) + s.unused_params == s.total_params and s.unused_params == 0
    assert s.layers[-1].output_shape == [1, 10 if models.info(name)["small"] else 1000]  # create's defaults
    assert s.total_flops >= 2 * s.total_macs > 0


TV_SIZES = {"inception_v3": 299}


@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_every_torchvision_classifier(name):
    with warnings.catch_warnings(), MetaInit():
        warnings.simplefilter("ignore")
        m = torchvision.models.get_model(name).eval()
    size = TV_SIZES.get(name, 224)
    s = summarize(m, (3, size, size))
    assert s.total_params == sum(p.numel() for p in m.parameters()) == _torchinfo_total(m)
    assert sum(r.params for r in s.layers) + s.unused_params == s.total_params
    if name not in ("googlenet", "inception_v3"):  # their auxiliary heads only run in training
        assert s.unused_params == 0
    assert s.layers[-1].output_shape == [1, 1000]


def _tv(name):
    with MetaInit():
        return torchvision.models.get_model(name).eval()


def test_vgg16_and_alexnet_pool5_fields():
    vgg, alex = summarize(_tv("vgg16"), (3, 224, 224)), summarize(_tv("alexnet"), (3, 224, 224))
    for s, layer, size in ((vgg, "features.30", 212), (alex, "features.12", 195)):
        rf = s.row(layer).rf
        assert rf.size == (size, size) and rf.stride == (32, 32) and rf.aligned and rf.exact
    with MetaInit():
        ours = summarize(models.create("vgg16").eval(), (3, 224, 224))
    pools = [r for r in ours.layers if r.type == "MaxPool2d"]
    assert pools[-1].rf.size == (212, 212)


def _ours(name):
    with MetaInit():
        return models.create(name)


@pytest.mark.parametrize("build", [lambda: _tv("resnet50"), lambda: _ours("resnet50")])
def test_resnet50_stage_fields(build):
    s = summarize(build(), (3, 224, 224), depth=1)
    got = [(s.row(f"layer{i}").rf.size[0], int(s.row(f"layer{i}").rf.stride[0])) for i in range(1, 5)]
    assert got == [(35, 4), (91, 8), (267, 16), (427, 32)]
    assert sum(r.params for r in s.rows) == s.total_params == 25_557_032
    fine = summarize(build(), (3, 224, 224))  # module calls are looked up whatever the depth
    assert fine.row("layer4").rf.size == (427, 427) and fine.row("layer4").params == s.row("layer4").params
    assert fine.row("layer1.0").macs == sum(r.macs for r in fine.layers if r.name.startswith("layer1.0."))
    whole = summarize(build(), (3, 224, 224), depth=0).rows
    assert len(whole) == 1 and whole[0].macs == s.total_macs and whole[0].output_shape == [1, 1000]


def test_the_notes_claim_params_in_fc_memory_in_conv():
    for name in ("vgg16", "alexnet"):
        k = summarize(_tv(name), (3, 224, 224)).by_kind
        assert k["fc"]["params"] > 5 * k["conv"]["params"], name
        assert k["conv"]["memory_bytes"] > 20 * k["fc"]["memory_bytes"], name


def test_notes_arithmetic_for_alexnet_conv1():
    s = summarize(_tv("alexnet"), (3, 227, 227))
    conv1 = s.row("features.0")
    assert conv1.output_shape == [1, 64, 56, 56]
    assert conv1.params == ((11 * 11 * 3) + 1) * 64  # ((k1*k2*C_in)+1)*filters
    assert conv1.memory_kb == 64 * 56 * 56 * 4 / 1024
    fc = s.row("classifier.6")
    assert fc.params == 1000 * (4096 + 1) and fc.memory_kb == 1000 * 4 / 1024


class Transposed(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1)
        self.dw = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.up(self.dw(self.down(x))).mean((2, 3)))


@pytest.mark.parametrize("build, size", [
    (lambda: models.create("resnet_small", in_channels=3), (3, 32, 32)),
    (lambda: models.create("googlenet_small"), (1, 28, 28)),
    (lambda: models.create("efficientnet_lite0_small"), (1, 28, 28)),
    (lambda: models.create("alexnet_small"), (1, 28, 28)),
    (Transposed, (3, 16, 16)),
])
def test_conv_and_linear_macs_match_fvcore(build, size):
    from fvcore.nn import FlopCountAnalysis

    m = build().eval()
    s = summarize(m, size)
    fv = FlopCountAnalysis(m, torch.rand(1, *size))
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    ops = fv.by_operator()
    # fvcore's "flops" are multiply-accumulates: equal to our MACs (our FLOPs are 2x)
    assert s.by_kind["conv"]["macs"] == ops.get("conv", 0) > 0
    assert s.by_kind["fc"]["macs"] == ops.get("linear", 0) + ops.get("addmm", 0) + ops.get("matmul", 0) > 0


class Functional(nn.Module):
    """Functional ops torchinfo does not see: F.relu, in-place ReLU, x + y, cat, flatten, F.max_pool2d."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.b = nn.Conv2d(1, 4, 5, padding=2)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8 * 4 * 4, 2)

    def forward(self, x):
        a, b = F.relu(self.a(x)), self.act(self.b(x))
        y = torch.cat([a + b, a], 1)
        y = F.max_pool2d(y, 2)
        y = F.adaptive_avg_pool2d(y, 4)
        return self.fc(torch.flatten(y, 1))


def test_functional_ops_are_layers_with_fields():
    s = summarize(Functional(), (1, 16, 16))
    types = [r.type for r in s.layers]
    assert types == ["Conv2d", "relu", "Conv2d", "ReLU", "add", "cat", "max_pool2d", "adaptive_avg_pool2d",
                     "flatten", "Linear"]
    assert s.row("add").rf.size == (5, 5) and s.row("cat").rf.size == (5, 5)  # the covering region
    assert s.row("max_pool2d").rf.size == (6, 6) and s.row("max_pool2d").rf.stride == (2, 2)
    assert s.row("adaptive_avg_pool2d").rf.size == (8, 8) and s.row("adaptive_avg_pool2d").rf.stride == (4, 4)
    assert s.row("flatten").rf.kind == "global"
    assert s.row("max_pool2d").flops == 8 * 8 * 8 * 4  # one per window element
    # in-place ReLU allocates nothing: the forward total counts each new tensor once
    assert s.row("act").new_bytes == 0 and s.row("relu").new_bytes == 4 * 16 * 16 * 4
    assert s.activation_bytes == sum(r.new_bytes for r in s.layers)


def test_unknown_and_misaligned_fields_are_said():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            up = F.interpolate(x, scale_factor=2, mode="bilinear")
            pooled = F.adaptive_avg_pool2d(x, 3)  # 10 -> 3: bins of 3 and 4 pixels
            shifted = self.c(F.pad(x, (2, 0, 2, 0))) + self.c(F.pad(x, (0, 2, 0, 2)))
            return up.sum() + pooled.sum() + shifted.sum()

    s = summarize(Odd(), (1, 10, 10))
    assert s.row("interpolate").rf.kind == "unknown" and "interpolation" in s.row("interpolate").rf.note
    assert s.row("adaptive_avg_pool2d").rf.kind == "unknown"
    assert s.row("interpolate").to_dict()["rf"]["size"] is None  # JSON says null, not a number
    add = s.row("add").rf
    assert add.kind == "local" and not add.aligned and add.size == (5, 5) and "misaligned" in add.note


def _hooks(m):
    return sum(len(x._forward_hooks) + len(x._forward_pre_hooks) for x in m.modules())


def test_model_state_is_left_alone_meta_and_real():
    m = models.create("resnet_small")
    m.train()
    m.layer1[0].bn1.eval()  # a mix of modes must come back as it was, not flattened by model.train()
    m.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    for device in ("meta", None):
        s = summarize(m, (1, 28, 28), device=device)
        assert s.device == ("meta" if device == "meta" else "cpu")
        assert m.training and not m.fc.weight.requires_grad and m.conv1.weight.requires_grad
        assert not m.layer1[0].bn1.training and m.layer1[0].bn2.training
        assert _hooks(m) == 0
        assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # BN statistics unchanged
        assert s.frozen_params == m.fc.weight.numel()


def test_hooks_removed_when_the_forward_raises():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            raise RuntimeError("boom")

    m = Boom().eval()
    with pytest.raises(RuntimeError, match="boom"):
        summarize(m, (1, 8, 8))
    assert _hooks(m) == 0 and not m.training


def test_data_dependent_model_falls_back_to_the_real_device():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 3)
            self.bn = nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.bn(self.c(x))
            return y[:, :, : int(y.shape[-1] - (y.abs().sum() > -1).item())]

    m = DataDependent().train()
    mean = m.bn.running_mean.clone()
    s = summarize(m, (1, 8, 8))
    assert s.device == "cpu" and torch.equal(m.bn.running_mean, mean) and _hooks(m) == 0


def test_memory_totals_and_dtype():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    s32, s16 = summarize(m, (3, 16, 16)), summarize(m, (3, 16, 16), dtype=torch.float16)
    assert s32.activation_bytes == 3 * 8 * 16 * 16 * 4 and s16.activation_bytes * 2 == s32.activation_bytes
    assert s32.param_bytes == 4 * s32.total_params
    # autograd keeps the input, conv0's output (ReLU needs it... or its result) and the ReLU output for conv2
    assert 8 * 16 * 16 * 4 <= s32.saved_bytes <= 3 * 8 * 16 * 16 * 4 + 3 * 16 * 16 * 4
    for p in m.parameters():
        p.requires_grad_(False)
    frozen = summarize(m, (3, 16, 16))
    assert frozen.saved_bytes == 0 and frozen.trainable_params == 0


def test_formats_and_json_fields():
    s = summarize(models.create("lenet5"), (1, 28, 28))
    doc = json.loads(s.format("json"))
    assert {"total_params", "total_flops", "activation_bytes", "layers"} <= set(doc)
    layer = doc["layers"][1]
    assert {"name", "type", "output_shape", "params", "memory_bytes", "flops", "rf"} <= set(layer)
    assert set(layer["rf"]) >= {"size", "stride", "start"} and layer["rf"]["size"] == 5
    assert s.format("csv").count("\n") == len(s.rows) + 1
    assert "| layer |" in s.format("markdown") and "features.0" in str(s)


@pytest.mark.parametrize("kwargs, message", [
    ({"input_size": (3, 0, 8)}, "input_size must be"),
    ({"input_size": "3x8x8"}, "input_size must be"),
    ({"input_size": (3, 8, 8), "depth": -1}, "depth must be"),
    ({"input_size": (3, 8, 8), "dtype": torch.int64}, "dtype must be"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        summarize(nn.Conv2d(3, 3, 3), **kwargs)
    with pytest.raises(TypeError, match="nn.Module"):
        summarize(lambda x: x, (3, 8, 8))


def test_reused_modules_get_one_row_per_call_and_params_once():
    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.act = nn.ReLU6()

        def forward(self, x):
            return self.act(self.conv(self.act(self.conv(x))))

    s = summarize(Reuse(), (2, 8, 8))
    assert [r.name for r in s.layers] == ["conv", "act", "conv:2", "act:2"]
    assert s.row("conv").params == 2 * 2 * 9 + 2 and s.row("conv:2").params == 0
    assert s.row("conv").macs == s.row("conv:2").macs == 8 * 8 * 2 * 2 * 9
    assert s.row("conv:2").rf.size == (5, 5) and s.total_params == 2 * 2 * 9 + 2
