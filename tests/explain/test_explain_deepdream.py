"""DeepDream: it raises the layer's mean squared activation, keeps the input's shape and range, leaves the model
as found (also when it raises), and refuses bad layers, channels and octaves in one line."""

import pytest
import torch

from cnnlab import data, explain, models


def hooks(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), len(m._backward_pre_hooks))
            for m in model.modules()]


def state(model):
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


def energy(model, x, layer):
    out = {}
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: out.__setitem__("a", o))
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return float(out["a"].pow(2).mean())


def test_dreaming_amplifies_the_layer_in_a_real_photo(lite0):
    x = models.preprocess(lite0, data.sample_image("chelsea"))[:, ::2, ::2].contiguous()  # 112x112
    before = hooks(lite0), state(lite0)
    dream = explain.deepdream(lite0, x, layer="_blocks.4", octaves=2, steps=4)
    assert dream.shape == x.shape and 0 <= dream.min() and dream.max() <= 1
    assert energy(lite0, dream[None], "_blocks.4") > 1.5 * energy(lite0, x[None], "_blocks.4")
    assert (dream - x).abs().mean() > 0.02  # visibly changed
    assert (hooks(lite0), state(lite0)) == before
    assert explain.deepdream_layer(lite0) == "_blocks.10"  # the middle recorded feature map


def test_one_channel_and_a_batch_on_a_tiny_net():
    net = models.create("resnet_small", widths=(4, 8, 8)).train()
    net.layer1[0].bn1.eval()
    before = hooks(net), state(net)
    x = torch.rand(2, 1, 28, 28)
    out = explain.deepdream(net, x, layer="layer1", channel=2, octaves=2, steps=3, jitter=2)
    assert out.shape == x.shape
    assert (hooks(net), state(net)) == before and all(p.grad is None for p in net.parameters())


class Boom(RuntimeError):
    pass


def test_an_exception_mid_forward_restores_everything():
    net = models.create("resnet_small", widths=(4, 8, 8))
    before = hooks(net), state(net)
    h = net.fc.register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(Boom("mid-forward")))
    try:
        with pytest.raises(Boom):
            explain.deepdream(net, torch.rand(1, 1, 28, 28), layer="layer2", octaves=1, steps=1)
    finally:
        h.remove()
    assert (hooks(net), state(net)) == before


@pytest.mark.parametrize("kw, message", [
    ({"layer": "layer9"}, "model has no layer 'layer9'"),
    ({"layer": "layer1", "channel": 99}, r"channel must be in \[0, 3\]"),
    ({"octaves": 0}, "octaves must be a positive integer"),
    ({"octave_scale": 0.5}, "octave_scale must be in"),
])
def test_bad_settings_are_one_line_errors(kw, message):
    net = models.create("resnet_small", widths=(4, 8, 8))
    with pytest.raises(ValueError, match=message) as e:
        explain.deepdream(net, torch.rand(1, 1, 28, 28), steps=1, **kw)
    assert "\n" not in str(e.value)


def test_octaves_too_small_for_the_network(lite0):
    msg = r"the smallest octave \(12 octaves of scale 2\) is 1x1 px, too small for layer '_blocks\.10'"
    with pytest.raises(ValueError, match=msg):
        explain.deepdream(lite0, torch.rand(3, 224, 224), octaves=12, octave_scale=2.0, steps=1)
