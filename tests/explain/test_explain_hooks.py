"""Every method leaves the model as it found it: no hook left, training flags and requires_grad restored,
also when the call raises."""

import pytest
import torch
from torch import nn

from cnnlab import explain, models

OPTIONS = {"occlusion": {"window": 14, "stride": 14}, "gradcam": {"layer": "layer2"},
           "guided-gradcam": {"layer": "layer3.2.conv1"}}


def hooks(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), len(m._backward_pre_hooks))
            for m in model.modules()]


def state(model):
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


def mixed_state_net():
    """A tiny ResNet: in-place ReLUs, batch norm, residual additions, global average pooling."""
    net = models.create("resnet_small", widths=(4, 8, 8))
    net.train()
    net.layer1[0].bn1.eval()  # mixed flags must come back exactly
    net.fc.weight.requires_grad_(False)
    net.conv1.register_forward_hook(lambda *a: None)  # a user's own hook stays
    return net


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("method", explain.names())
def test_normal_call_restores_everything(method):
    net = mixed_state_net()
    before_hooks, before_state = hooks(net), state(net)
    out = explain.explain(method, net, torch.rand(2, 1, 28, 28), 1, **OPTIONS.get(method, {}))
    assert torch.isfinite(out).all()
    assert hooks(net) == before_hooks and state(net) == before_state
    assert all(p.grad is None for p in net.parameters())  # no weight gradients computed


@pytest.mark.parametrize("method", explain.names())
def test_raising_call_restores_everything(method):
    net = mixed_state_net()
    before_hooks, before_state = hooks(net), state(net)

    def explode(output):
        raise Boom("target callable failed")

    with pytest.raises((Boom, TypeError)):
        explain.explain(method, net, torch.rand(2, 1, 28, 28), explode, **OPTIONS.get(method, {}))
    assert hooks(net) == before_hooks and state(net) == before_state


def test_a_layer_that_raises_mid_forward_restores_everything():
    net = mixed_state_net()
    before_hooks, before_state = hooks(net), state(net)
    handle = net.fc.register_forward_pre_hook(lambda *a: (_ for _ in ()).throw(Boom("mid-forward")))
    try:
        for method in explain.names():
            with pytest.raises(Boom):
                explain.explain(method, net, torch.rand(2, 1, 28, 28), 1, **OPTIONS.get(method, {}))
        for fn in (lambda: explain.feature_maps(net, torch.rand(1, 1, 28, 28), "layer1"),
                   lambda: explain.maximize(net, target=1, steps=2),
                   lambda: explain.penultimate_features(net, torch.rand(2, 1, 28, 28))):
            with pytest.raises(Boom):
                fn()
    finally:
        handle.remove()
    assert hooks(net) == before_hooks and state(net) == before_state


def test_other_entry_points_restore_everything():
    net = mixed_state_net()
    before_hooks, before_state = hooks(net), state(net)
    x = torch.rand(6, 1, 28, 28)
    explain.feature_maps(net, x, "layer2")
    explain.maximize(net, target=2, steps=3)
    explain.maximize(net, layer="layer2", channel=1, steps=2)
    explain.penultimate_features(net, x)
    explain.top_patches(net, x, "layer2", 0, k=2)
    explain.receptive_field(net, "layer2", (1, 28, 28), torch.tensor([[1, 1]]))
    params = {k: v.clone() for k, v in net.state_dict().items()}
    explain.cascading_randomization(net, x[:2], methods=("saliency", "gradcam"), max_steps=2)
    assert hooks(net) == before_hooks and state(net) == before_state
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in params.items())  # randomised a copy


def test_model_state_guard_on_plain_module():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()
    with explain.model_state(net) as handles:
        assert not net.training and not any(p.requires_grad for p in net.parameters())
        handles.append(net[0].register_forward_hook(lambda *a: None))
    assert net.training and all(p.requires_grad for p in net.parameters()) and handles == []
    assert len(net[0]._forward_hooks) == 0
