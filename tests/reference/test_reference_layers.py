"""Activations, the linear layer, the loss and the locally connected layer against torch autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import reference as ref

TOL = dict(rtol=0, atol=1e-10)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from(["relu", "sigmoid", "tanh"]))
def test_activations_and_their_gradients_match_torch(seed, name):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 4, 5)) * 6  # reaches sigmoid's saturated tails
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, name)(xt)
    y = getattr(ref, name)(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    dy = rng.standard_normal(x.shape)
    yt.backward(torch.tensor(dy))
    dx = ref.relu_backward(dy, x) if name == "relu" else getattr(ref, f"{name}_backward")(dy, y)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        y = ref.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(2, 5), st.integers(0, 2**31))
def test_linear_and_cross_entropy_match_torch(n, fin, classes, seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((n, fin)), rng.standard_normal((classes, fin)), rng.standard_normal(classes)
    labels = rng.integers(0, classes, n)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    logits_t = F.linear(xt, wt, bt)
    loss_t = F.cross_entropy(logits_t, torch.tensor(labels))
    loss_t.backward()
    logits = ref.linear(x, w, b)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), **TOL)
    loss, dlogits = ref.softmax_cross_entropy(logits * 1.0, labels)
    assert abs(loss - loss_t.item()) < 1e-10
    dx, dw, db = ref.linear_backward(dlogits, x, w)
    for ours, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)


def _torch_locally_connected(x, w, b, stride, padding, dilation):
    """An independent torch version: unfold the windows, one weight matrix per output position."""
    ho, wo, o, c, kh, kw = w.shape
    cols = F.unfold(F.pad(x, padding), (kh, kw), dilation=dilation, stride=stride)   # [N, C*kh*kw, Ho*Wo]
    wl = w.reshape(ho * wo, o, c * kh * kw)
    y = torch.einsum("nkl,lok->nol", cols, wl).reshape(x.shape[0], o, ho, wo)
    return y + b


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
       st.sampled_from(["valid", "same", 1]), st.integers(0, 2**31))
def test_locally_connected_forward_and_backward_match_torch(c, o, k, s, d, padding, seed):
    rng = np.random.default_rng(seed)
    h, wd = 4 + d * (k - 1), 5 + d * (k - 1)
    x = rng.standard_normal((2, c, h, wd))
    pads = ref.resolve_padding(padding, (k, k), input_size=(h, wd), stride=(s, s), dilation=(d, d))
    ho = ref.conv_output_size(h, k, padding=pads[0], stride=s, dilation=d)
    wo = ref.conv_output_size(wd, k, padding=pads[1], stride=s, dilation=d)
    w = rng.standard_normal((ho, wo, o, c, k, k))
    b = rng.standard_normal((o, ho, wo))
    opts = dict(stride=s, padding=padding, dilation=d)
    y = ref.locally_connected2d(x, w, b, **opts)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    (t, bb), (l, r) = pads
    yt = _torch_locally_connected(xt, wt, bt, s, (l, r, t, bb), d)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    dx, dw, db = ref.locally_connected2d_backward(dy, x, w, **opts)
    for ours, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), **TOL)


def test_locally_connected_with_identical_kernels_is_a_convolution():
    rng = np.random.default_rng(3)
    x, k = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    shared = np.broadcast_to(k, (7, 7, *k.shape))
    np.testing.assert_allclose(ref.locally_connected2d(x, shared, padding="same"), ref.conv2d(x, k, padding="same"),
                               **TOL)
    # and its weight gradient summed over positions is the conv's
    dy = rng.standard_normal((2, 4, 7, 7))
    np.testing.assert_allclose(ref.locally_connected2d_backward(dy, x, shared, padding="same")[1].sum((0, 1)),
                               ref.conv2d_backward(dy, x, k, padding="same").dw, **TOL)


@pytest.mark.parametrize("cin, cout, k, size, stride, padding", [
    (1, 6, 5, 32, 1, "valid"), (3, 16, 3, 32, 1, "same"), (16, 32, 3, 15, 2, "valid"), (3, 8, 1, 8, 1, 0)])
def test_parameter_counts_match_torch_modules(cin, cout, k, size, stride, padding):
    counts = ref.parameter_counts(cin, cout, k, (size, size), stride=stride, padding=padding)
    conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    assert counts.conv == sum(p.numel() for p in conv.parameters())
    out = conv(torch.zeros(1, cin, size, size)).shape[-2:]
    assert counts.output_size == tuple(out)
    # the unshared layer's weights and biases as locally_connected2d takes them
    assert counts.locally_connected == out[0] * out[1] * cout * cin * k * k + cout * out[0] * out[1]
    assert counts.ratio == out[0] * out[1]


def test_locally_connected_rejects_wrong_weight_shape():
    with pytest.raises(ValueError, match="w must have shape"):
        ref.locally_connected2d(np.ones((1, 2, 5, 5)), np.ones((2, 2, 1, 2, 3, 3)))
