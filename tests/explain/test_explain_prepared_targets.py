"""Class targets validated before the forward pass (no host sync between forward and backward)."""

import pytest
import torch

from cnnlab import explain, models


@pytest.mark.parametrize("method", ["saliency", "gradcam", "guided"])
def test_tensor_list_and_int_targets_agree(method):
    net = models.create("lenet5").eval()
    x = torch.rand(3, 1, 28, 28)
    fn = explain.METHODS.lookup(method)
    a = fn(net, x, torch.tensor([2, 2, 2]))
    b = fn(net, x, [2, 2, 2])
    c = fn(net, x, 2)
    d = fn(net, x, torch.tensor([2]))  # one class broadcast to every sample
    for other in (b, c, d):
        torch.testing.assert_close(a, other)


@pytest.mark.parametrize("bad", [torch.tensor([0, 10, 1]), [0, -1, 2], torch.tensor([[1, 2, 3]]) + 20])
def test_out_of_range_targets_raise_before_any_wrong_map(bad):
    net = models.create("lenet5")
    with pytest.raises(ValueError, match=r"target classes must be in \[0, 9\]"):
        explain.saliency(net, torch.rand(3, 1, 28, 28), bad)
    with pytest.raises(ValueError, match=r"target classes must be in \[0, 9\]"):
        explain.gradcam(net, torch.rand(3, 1, 28, 28), bad)


def test_wrong_count_and_float_targets():
    net = models.create("lenet5")
    with pytest.raises(ValueError, match="one class per sample"):
        explain.saliency(net, torch.rand(3, 1, 28, 28), [1, 2])
    with pytest.raises(TypeError, match="integer classes"):
        explain.saliency(net, torch.rand(3, 1, 28, 28), torch.tensor([1.0, 2.0, 3.0]))
