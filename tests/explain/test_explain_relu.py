"""The deconvnet / guided-backprop ReLU rule holds for every way a network writes a ReLU, checked against a
backward pass written by hand; Captum silently falls back to the plain gradient where cnnlab does not."""

import captum.attr as ca
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab import explain, models
from cnnlab.explain import ModifiedReLU

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# kind -> (the activation as the model writes it, upper clamp of the rule)
KINDS = {
    "nn.ReLU": (lambda m, x: m.relu(x), None),
    "nn.ReLU(inplace)": (lambda m, x: m.relu_inplace(x), None),
    "F.relu": (lambda m, x: F.relu(x), None),
    "F.relu(inplace)": (lambda m, x: F.relu(x, inplace=True), None),
    "torch.relu": (lambda m, x: torch.relu(x), None),
    "Tensor.relu": (lambda m, x: x.relu(), None),
    "Tensor.relu_": (lambda m, x: x.relu_(), None),
    "Tensor.clamp(min=0)": (lambda m, x: x.clamp(min=0), None),
    "torch.clamp_min": (lambda m, x: torch.clamp_min(x, 0), None),
    "nn.ReLU6": (lambda m, x: m.relu6(x), 6.0),
    "nn.ReLU6(inplace)": (lambda m, x: m.relu6_inplace(x), 6.0),
    "F.relu6": (lambda m, x: F.relu6(x), 6.0),
    "F.hardtanh(0, 6)": (lambda m, x: F.hardtanh(x, 0.0, 6.0), 6.0),
    "torch.clamp(0, 6)": (lambda m, x: torch.clamp(x, 0, 6), 6.0),
}


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        torch.manual_seed(3)
        self.kind = kind
        self.conv1, self.conv2 = nn.Conv2d(2, 6, 3, padding=1), nn.Conv2d(6, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():  # large enough that ReLU6 clamps at the top too
            self.conv1.weight.mul_(32)  # inputs are [0, 1] pixels (explain refuses others)
            self.conv2.weight.mul_(3)
        self.relu, self.relu_inplace = nn.ReLU(), nn.ReLU(inplace=True)
        self.relu6, self.relu6_inplace = nn.ReLU6(), nn.ReLU6(inplace=True)

    def forward(self, x):
        act = KINDS[self.kind][0]
        h = act(self, self.conv1(x))
        h = act(self, self.conv2(h))
        return self.fc(h.mean((2, 3)))


def hand_backward(net, x, target, rule):
    """The modified backward written out layer by layer; autograd only differentiates the linear pieces."""
    hi = KINDS[net.kind][1]
    p1 = net.conv1(x)
    h1 = p1.clamp(0, hi)
    p2 = net.conv2(h1)
    h2 = p2.clamp(0, hi)

    def gate(g, p):
        if rule == "deconvnet":
            return g.clamp_min(0)
        active = (p > 0) if hi is None else (p > 0) & (p < hi)
        return g.clamp_min(0) * active

    h2_leaf = h2.detach().requires_grad_()
    (g,) = torch.autograd.grad(net.fc(h2_leaf.mean((2, 3)))[torch.arange(len(x)), target].sum(), h2_leaf)
    h1_leaf = h1.detach().requires_grad_()
    (g,) = torch.autograd.grad(net.conv2(h1_leaf), h1_leaf, gate(g, p2.detach()))
    x_leaf = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(net.conv1(x_leaf), x_leaf, gate(g, p1.detach()))
    return g, p1.detach()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_rule_holds_for_every_relu_spelling(kind, rule):
    net = Net(kind).eval()
    x, t = torch.rand(3, 2, 8, 8), torch.tensor([0, 2, 3])
    ref, p1 = hand_backward(net, x, t, rule)
    method = explain.guided_backprop if rule == "guided" else explain.deconvnet
    ours = method(net, x, t)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-7)
    plain = explain.input_gradient(net, x, t)
    assert not torch.allclose(ours, plain, atol=1e-6)  # the rule changed something
    if KINDS[kind][1] is not None:
        assert (p1 > 6).any() and ((p1 > 0) & (p1 < 6)).any()  # both ends of the ReLU6 gate are exercised


def test_captum_falls_back_to_the_plain_gradient_for_functional_relu_but_cnnlab_does_not():
    net = Net("F.relu").eval()
    x, t = torch.rand(3, 2, 8, 8), torch.tensor([1, 1, 0])
    plain = explain.input_gradient(net, x, t)
    captum_guided = ca.GuidedBackprop(net).attribute(x, target=t)
    torch.testing.assert_close(captum_guided, plain)  # Captum: no nn.ReLU module, nothing modified
    ours = explain.guided_backprop(net, x, t)
    torch.testing.assert_close(ours, hand_backward(net, x, t, "guided")[0], rtol=1e-5, atol=1e-7)
    assert not torch.allclose(ours, plain, atol=1e-6)


def test_tanh_like_hardtanh_and_other_clamps_are_left_alone():
    x = torch.randn(50, requires_grad=True)
    with ModifiedReLU("guided") as mode:
        y = F.hardtanh(x) + x.clamp(-1, 1) + x.clamp(min=0.5) + torch.sigmoid(x)
    assert mode.calls == 0
    (g,) = torch.autograd.grad(y.sum(), x, )
    x2 = x.detach().requires_grad_()
    (ref,) = torch.autograd.grad((F.hardtanh(x2) + x2.clamp(-1, 1) + x2.clamp(min=0.5) + torch.sigmoid(x2)).sum(), x2)
    torch.testing.assert_close(g, ref)


def test_every_relu6_of_efficientnet_lite_is_replaced():
    net = models.create("efficientnet_lite0_small", in_channels=3).eval()
    n_act = sum(isinstance(m, nn.ReLU6) for m in net.modules())
    calls = []
    hook = net.act.register_forward_hook(lambda *a: calls.append(1))  # the head's ReLU6 module runs twice
    try:
        with ModifiedReLU("guided") as mode, torch.enable_grad():
            net(torch.rand(1, 3, 32, 32).requires_grad_())
    finally:
        hook.remove()
    blocks = sum(1 + m.has_expand for m in net._blocks)  # ReLU6 calls inside the MBConv blocks
    assert mode.calls == blocks + 2 and n_act == len(net._blocks) + 1
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(explain.guided_backprop(net, x, 1), explain.input_gradient(net, x, 1))


def test_modified_relu_leaves_the_forward_values_unchanged():
    net = Net("nn.ReLU6(inplace)").eval()
    x = torch.rand(2, 2, 8, 8)
    with ModifiedReLU("guided"):
        y = net(x)
    torch.testing.assert_close(y, net(x))
    with pytest.raises(ValueError, match="rule must be one of"):
        ModifiedReLU("lrp")
