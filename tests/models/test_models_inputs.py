"""The shared input-size check: sizes a network cannot take, wrong channels, sizes too large for memory."""

import pytest
import torch
from torch import nn

from cnnlab import models


@pytest.mark.parametrize("name, size, message", [
    ("lenet5", (1, 64, 64), r"model 'lenet5' cannot take input size 1x64x64; it was built for 1x28x28"),
    ("vgg16", (3, 16, 16), r"cannot take input size 3x16x16.*Output size is too small"),
    ("efficientnet_lite0", (1, 224, 224), "takes 3-channel images"),
    ("efficientnet_lite0", (3, 100000, 100000), r"too large for model 'efficientnet_lite0'.*GiB of activations"),
])
def test_sizes_a_model_cannot_take_are_one_line(name, size, message):
    with pytest.raises(ValueError, match=message):
        models.check_input_size(models.create(name), size)


def test_sizes_it_can_take_pass_and_the_estimate_matches_a_real_forward():
    m = models.create("resnet_small", widths=(4, 8, 8)).eval()
    assert models.check_input_size(m, (1, 28, 28)) == (1, 28, 28)
    real = 0

    def count(_m, _i, out):
        nonlocal real
        real += out.numel() * out.element_size()

    handles = [x.register_forward_hook(count) for x in m.modules() if not list(x.children())]
    with torch.no_grad():
        m(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    assert models.activation_bytes(m, (1, 28, 28)) == real


def test_plain_modules_are_probed_with_one_image_and_left_as_found():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).train()
    before = net[1].running_mean.clone()
    assert models.check_input_size(net, (3, 8, 8)) == (3, 8, 8)
    with pytest.raises(ValueError, match=r"model 'Sequential' cannot take input size 3x9x9"):
        models.check_input_size(net, (3, 9, 9))
    assert net.training and torch.equal(net[1].running_mean, before)
    with pytest.raises(ValueError, match="must be a positive integer"):
        models.check_input_size(net, (3, 0, 8))
    with pytest.raises(ValueError, match=r"must be \(C, H, W\)"):
        models.check_input_size(net, (8, 8))
