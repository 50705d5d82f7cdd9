"""Receptive fields against gradients: on random branching linear networks (positive weights, average
pooling, no non-linearity), the input region with a non-zero gradient for the centre output unit is exactly
the computed field, and for every unit, border units included, exactly the box ``receptive_boxes`` gives."""

import itertools
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.analysis import receptive_boxes, summarize


class Conv(nn.Module):
    def __init__(self, c, k, s, d, p, transposed=False, cin=None):
        super().__init__()
        cls = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = cls(cin or c, c, k, stride=s, padding=p, dilation=d, bias=False)
        with torch.no_grad():
            self.conv.weight.uniform_(0.5, 1.0)

    def forward(self, x):
        return self.conv(x)


class Branches(nn.Module):
    """Two stride-1 'same' branches merged by add or concat (+ 1x1 conv), optionally misaligned with F.pad."""

    def __init__(self, c, rng, shift):
        super().__init__()
        self.shift = shift
        self.a = Conv(c, rng.choice([1, 3]), 1, 1, None)
        k, d = rng.choice([3, 5]), rng.choice([1, 2])
        self.b = Conv(c, k, 1, d, None)
        self.b.conv.padding = (0, 0) if shift else (d * (k - 1) // 2,) * 2
        self.pad = d * (k - 1)
        self.a.conv.padding = ((self.a.conv.kernel_size[0] - 1) // 2,) * 2
        self.cat = rng.random() < 0.5
        self.mix = Conv(c, 1, 1, 1, 0, cin=2 * c) if self.cat else None

    def forward(self, x):
        a = self.a(x)
        if self.shift:  # all the padding on one side: same size, centre moved
            b = self.b(F.pad(x, (self.pad, 0, 0, self.pad)))
        else:
            b = self.b(x)
        if self.cat:
            return self.mix(torch.cat([a, b], 1))
        return a + b


def random_net(seed):
    rng = random.Random(seed)
    c, layers = 2, []
    for _ in range(rng.randint(3, 6)):
        r = rng.random()
        if r < 0.35:
            k, s, d = rng.choice([1, 2, 3, 5]), rng.choice([1, 2]), rng.choice([1, 2])
            layers.append(Conv(c, k, s, d, rng.choice([0, (k - 1) * d // 2])))
        elif r < 0.55:
            k = rng.choice([2, 3])
            layers.append(nn.AvgPool2d(k, stride=rng.choice([1, 2]), padding=rng.choice([0, k // 2])))
        elif r < 0.65:
            layers.append(Conv(c, 3, 1, 1, 1, transposed=True))
        else:
            layers.append(Branches(c, rng, shift=rng.random() < 0.4))
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("seed", range(24))
def test_field_equals_nonzero_gradient_region(seed):
    torch.manual_seed(seed)
    net = random_net(seed)
    # grow the image until the centre unit's field lies inside it: the field counts positions, and near a
    # border intermediate padding and floor rounding hide pixels the arithmetic includes
    probe = summarize(net, (2, 64, 64), dtype=torch.float64).layers[-1].rf  # fields do not depend on the size
    first = int(max(probe.size) + 2 * max(map(abs, probe.start)) + 4 * max(probe.stride) + 8)
    for size in range(first, first + 200, 8):
        s = summarize(net, (2, size, size), dtype=torch.float64)
        rf, shape = s.layers[-1].rf, s.layers[-1].output_shape
        assert rf.kind == "local" and rf.exact
        uh, uw = shape[-2] // 2, shape[-1] // 2
        (top, bottom), (left, right) = rf.region((uh, uw))
        if min(top, left) >= 0 and max(bottom, right) <= size - 1:
            break
    x = torch.rand(1, 2, size, size, dtype=torch.float64, requires_grad=True)
    y = net(x)
    assert list(y.shape) == shape
    y[0, 0, uh, uw].backward()
    nz = x.grad[0].abs().sum(0).nonzero()
    assert (nz[:, 0].min().item(), nz[:, 0].max().item()) == (top, bottom)
    assert (nz[:, 1].min().item(), nz[:, 1].max().item()) == (left, right)


def test_some_random_nets_are_misaligned():
    flags = []
    for seed in range(24):
        s = summarize(random_net(seed), (2, 40, 40), dtype=torch.float64)
        flags.append(s.layers[-1].rf.aligned)
    assert not all(flags) and any(flags)


def gradient_boxes(net, shape):
    """The reference: per unit of the output map, the bounding box ``[y0, x0, y1, x1]`` of the input pixels
    with a non-zero gradient (None if there are none), one backward pass per unit."""
    x = torch.rand(1, *shape, dtype=torch.float64, requires_grad=True)
    y = net(x)
    boxes = {}
    for u in itertools.product(range(y.shape[-2]), range(y.shape[-1])):
        (g,) = torch.autograd.grad(y[0, :, u[0], u[1]].sum(), x, retain_graph=True)
        nz = g[0].abs().sum(0).nonzero()
        boxes[u] = None if len(nz) == 0 else [int(nz[:, 0].min()), int(nz[:, 1].min()), int(nz[:, 0].max()) + 1,
                                                int(nz[:, 1].max()) + 1]
    return boxes


def check_boxes(net, shape, layer):
    ref = gradient_boxes(net, shape)
    seen = [u for u, b in ref.items() if b is not None]
    assert receptive_boxes(net, shape, layer, seen).tolist() == [ref[u] for u in seen]
    for u in set(ref) - set(seen):
        with pytest.raises(ValueError, match="reads only padding"):
            receptive_boxes(net, shape, layer, [u])


@pytest.mark.parametrize("seed", range(0, 24, 3))
def test_boxes_equal_the_nonzero_gradient_box_of_every_unit(seed):
    net = random_net(seed)
    for size in range(23, 80):  # the smallest odd-ish size the net runs on: the border cuts most fields
        try:
            net(torch.zeros(1, 2, size, size, dtype=torch.float64))
            break
        except RuntimeError:
            continue
    check_boxes(net, (2, size, size), str(len(net) - 1))


class Pad(nn.Module):
    def __init__(self, pad, mode):
        super().__init__()
        self.pad, self.mode = pad, mode

    def forward(self, x):
        return F.pad(x, self.pad, mode=self.mode)


def positive(*layers):
    net = nn.Sequential(*layers).double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.uniform_(0.5, 1.0)
    return net


@pytest.mark.parametrize("make, size", [
    # floor rounding drops the last pixel, then padding: the field's arithmetic, clipped, would still count it
    (lambda: positive(nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=1, bias=False)), 7),
    (lambda: positive(nn.Conv2d(1, 1, 3, padding=1, dilation=2, bias=False)), 9),  # border units skip a pixel
    (lambda: positive(nn.AvgPool2d(3, 2, padding=1, ceil_mode=True), nn.Conv2d(1, 1, 3, padding=1)), 8),
    (lambda: positive(Pad((2, 0, 0, 1), "reflect"), nn.Conv2d(1, 1, 3, bias=False)), 7),  # padding copies pixels
    (lambda: positive(Pad((1, 1, 1, 1), "replicate"), nn.Conv2d(1, 1, 2, stride=2, bias=False)), 7),
    (lambda: positive(Pad((1, 2, 2, 1), "circular"), nn.Conv2d(1, 1, 3, bias=False)), 6),
    (lambda: positive(Pad((3, -1, 0, 2), "constant"), nn.Conv2d(1, 1, 3, bias=False)), 7),  # a crop
    (lambda: positive(nn.AdaptiveAvgPool2d(3), nn.Conv2d(1, 1, 3, padding=1, bias=False)), 7),  # unequal bins
    (lambda: positive(nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, bias=False), nn.AvgPool2d(2)), 5),
    (lambda: positive(nn.Conv2d(1, 1, 3, padding=5, bias=False), nn.Conv2d(1, 1, 3, bias=False)), 5),  # padding only
])
def test_boxes_at_the_border_equal_the_nonzero_gradient_box(make, size):
    net = make()
    check_boxes(net, (1, size, size), str(len(net) - 1))


def test_boxes_refuse_what_the_trace_cannot_follow():
    net = positive(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 25, 3))
    with pytest.raises(ValueError, match="feature map"):
        receptive_boxes(net, (1, 7, 7), "2", [[0, 0]])
    with pytest.raises(ValueError, match="not a module"):
        receptive_boxes(net, (1, 7, 7), "conv", [[0, 0]])
    with pytest.raises(ValueError, match="units must lie in the layer's 5x5 map"):
        receptive_boxes(net, (1, 7, 7), "0", [[5, 0]])
    attention = positive(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    class Gated(nn.Module):  # a context vector broadcast over the map: every unit sees the whole image
        def __init__(self):
            super().__init__()
            self.conv, self.gate = nn.Conv2d(1, 2, 3), attention

        def forward(self, x):
            return self.conv(x) * self.gate(x)[:, :, None, None]

    with pytest.raises(ValueError, match="cannot be traced exactly"):
        receptive_boxes(Gated(), (1, 7, 7), "", [[0, 0]])
