"""Extreme logits and 0/1 probabilities give finite losses and gradients; the registry, resolve, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import losses

COUNTS = [400, 40, 4]


def _fn(name, **kw):
    return losses.resolve(name, class_counts=COUNTS, **kw)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(losses.names()),
    logits=st.lists(st.lists(st.sampled_from([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]), min_size=3, max_size=3),
                    min_size=1, max_size=5),
    gamma=st.sampled_from([0.0, 0.5, 2.0]),
    data=st.data(),
)
def test_extreme_logits_give_finite_loss_and_gradient(name, logits, gamma, data):
    x = torch.tensor(logits, requires_grad=True)
    y = torch.tensor(data.draw(st.lists(st.integers(0, 2), min_size=len(logits), max_size=len(logits))))
    kw = {"gamma": gamma} if name in ("focal", "sigmoid_focal", "class_balanced_focal") else {}
    loss = _fn(name, **kw)(x, y)
    (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all(), (name, loss, g)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["ce", "focal", "bce", "sigmoid_focal", "l1", "l2", "mse", "class_balanced_focal"]),
    big=st.sampled_from([1e4, 1e3, 88.0]),
    gamma=st.sampled_from([0.0, 0.3, 2.0]),
    onehot=st.lists(st.integers(0, 2), min_size=2, max_size=4),
)
def test_probability_targets_of_exactly_0_and_1(name, big, gamma, onehot):
    # targets are exactly one-hot (probabilities 0 and 1), logits saturate the softmax / sigmoid both ways
    y = torch.nn.functional.one_hot(torch.tensor(onehot), 3).float()
    x = (torch.where(y > 0, big, -big) * torch.tensor([1.0, -1.0]).repeat(len(onehot))[:len(onehot), None])
    x = x.clone().requires_grad_(True)
    kw = {"gamma": gamma} if "focal" in name else {}
    loss = _fn(name, **kw)(x, y)
    (g,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss) and torch.isfinite(g).all(), (name, loss, g)


def test_confidently_right_is_zero_and_confidently_wrong_is_linear_in_the_margin():
    x = torch.tensor([[1e4, 0.0], [0.0, 1e4]])
    y = torch.tensor([0, 0])
    per = losses.cross_entropy(x, y, reduction="none")
    assert per[0].item() == 0.0 and per[1].item() == pytest.approx(1e4)
    assert losses.focal_loss(x, y, reduction="none")[1].item() == pytest.approx(1e4)
    assert losses.binary_cross_entropy(torch.tensor([-1e4]), torch.tensor([1.0])).item() == pytest.approx(1e4)


def test_registry_names_and_resolve():
    assert set(losses.names()) >= {"l1", "l2", "mse", "ce", "bce", "balanced_ce", "focal", "sigmoid_focal",
                                   "class_balanced_focal"}
    with pytest.raises(ValueError, match="already registered"):
        losses.register_loss("ce")(lambda logits, targets: logits.sum())
    fn = losses.resolve("focal", gamma=1.0)
    assert repr(fn) == "Loss('focal', gamma=1.0)"
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(fn(x, y), losses.focal_loss(x, y, gamma=1.0))
    bal = losses.resolve("balanced_ce", class_counts=[10, 10, 80])
    torch.testing.assert_close(bal(x, y), losses.balanced_cross_entropy(
        x, y, alpha=losses.class_weights([10, 10, 80], "inverse")))
    plain = torch.nn.functional.cross_entropy
    assert losses.resolve(plain) is plain
    torch.testing.assert_close(losses.resolve(plain, label_smoothing=0.1)(x, y), plain(x, y, label_smoothing=0.1))


@pytest.mark.parametrize("call, message", [
    (lambda: losses.resolve("fcal"), "did you mean focal"),
    (lambda: losses.resolve("focal", gama=2), "has no option 'gama'"),
    (lambda: losses.resolve("class_balanced_focal"), "needs samples_per_class"),
    (lambda: losses.focal_loss(torch.randn(2, 3), torch.tensor([0, 1]), gamma=-1), "gamma must be"),
    (lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0, 3])), r"must be in \[0, 2\]"),
    (lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), reduction="avg"), "reduction must"),
    (lambda: losses.cross_entropy(torch.randn(2, 3), torch.tensor([0, 1, 2])), "do not fit logits"),
    (lambda: losses.focal_loss(torch.randn(2, 3), torch.tensor([0, 1]), alpha=[1.0, 2.0]), "one value per class"),
    (lambda: losses.class_weights([3, 0]), "at least one sample"),
    (lambda: losses.class_weights([3, 4], beta=1.0), r"beta must be in \[0, 1\)"),
    (lambda: losses.sigmoid_focal_loss(torch.randn(2, 3), torch.rand(2, 3), alpha=2.0), "alpha must be"),
])
def test_bad_input_raises_naming_the_value(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
