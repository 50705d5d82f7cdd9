"""conv2d / conv_transpose2d forward and backward against torch autograd (float64, 1e-10), and the
primitives against scipy.signal."""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import reference as ref

TOL = dict(rtol=0, atol=1e-10)
SETTINGS = settings(max_examples=40, deadline=None)


def _same_pads(n, k, s, d):  # TensorFlow's "SAME", written independently of the library
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["valid", "same", "full", "int", "pairs"]))
    h = draw(st.integers(d[0] * (kh - 1) + 1, 9))
    w = draw(st.integers(d[1] * (kw - 1) + 1, 9))
    if mode == "int":
        mode = draw(st.integers(0, 2))
    elif mode == "pairs":
        mode = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))), (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    return dict(n=draw(st.integers(1, 3)), cin=cin, cout=cout, groups=groups, k=(kh, kw), s=s, d=d, mode=mode,
                hw=(h, w), bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


def _torch_pads(case):
    (kh, kw), (h, w), s, d, mode = case["k"], case["hw"], case["s"], case["d"], case["mode"]
    if mode == "valid":
        return (0, 0, 0, 0)
    if mode == "full":
        return (d[1] * (kw - 1),) * 2 + (d[0] * (kh - 1),) * 2
    if mode == "same":
        return _same_pads(w, kw, s[1], d[1]) + _same_pads(h, kh, s[0], d[0])
    if isinstance(mode, int):
        return (mode,) * 4
    (t, b), (l, r) = mode
    return (l, r, t, b)


@SETTINGS
@given(conv_cases())
def test_conv2d_forward_and_backward_match_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["cin"], *case["hw"]))
    w = rng.standard_normal((case["cout"], case["cin"] // case["groups"], *case["k"]))
    b = rng.standard_normal(case["cout"]) if case["bias"] else None
    opts = dict(stride=case["s"], padding=case["mode"], dilation=case["d"], groups=case["groups"])
    y = ref.conv2d(x, w, b, **opts)

    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = F.conv2d(F.pad(xt, _torch_pads(case)), wt, bt, stride=case["s"], dilation=case["d"], groups=case["groups"])
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    dx, dw, db = ref.conv2d_backward(dy, x, w, bias=b is not None, **opts)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL)


@st.composite
def transpose_cases(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    p = tuple(draw(st.integers(0, (d[a] * (k[a] - 1)) // 2)) for a in (0, 1))
    op = tuple(draw(st.integers(0, max(s[a], d[a]) - 1)) for a in (0, 1))
    return dict(n=draw(st.integers(1, 2)), cin=cin, cout=cout, groups=groups, k=k, s=s, d=d, hw=hw, p=p, op=op,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


@SETTINGS
@given(transpose_cases())
def test_conv_transpose2d_forward_and_backward_match_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["cin"], *case["hw"]))
    w = rng.standard_normal((case["cin"], case["cout"] // case["groups"], *case["k"]))
    b = rng.standard_normal(case["cout"]) if case["bias"] else None
    opts = dict(stride=case["s"], padding=case["p"], output_padding=case["op"], dilation=case["d"],
                groups=case["groups"])
    y = ref.conv_transpose2d(x, w, b, **opts)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = F.conv_transpose2d(xt, wt, bt, **opts)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    dx, dw, db = ref.conv_transpose2d_backward(dy, x, w, bias=b is not None, **opts)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL)
    if b is not None:
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL)


@settings(max_examples=30, deadline=None)
@given(conv_cases())
def test_transposed_conv_swaps_the_passes_and_gives_back_the_shape(case):
    """conv_transpose2d(dY) is conv2d's dX, its backward is conv2d's forward, and it restores x's shape."""
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["cin"], *case["hw"]))
    w = rng.standard_normal((case["cout"], case["cin"] // case["groups"], *case["k"]))
    pads = ref.resolve_padding(case["mode"], case["k"], input_size=case["hw"], stride=case["s"], dilation=case["d"])
    y = ref.conv2d(x, w, stride=case["s"], padding=pads, dilation=case["d"], groups=case["groups"])
    op = tuple(ref.transpose_output_padding(case["hw"][a], case["k"][a], padding=pads[a], stride=case["s"][a],
                                            dilation=case["d"][a]) for a in (0, 1))
    t_opts = dict(stride=case["s"], padding=pads, output_padding=op, dilation=case["d"], groups=case["groups"])
    back = ref.conv_transpose2d(y, w, **t_opts)
    assert back.shape == x.shape
    dy = rng.standard_normal(y.shape)
    dx = ref.conv2d_backward(dy, x, w, bias=False, stride=case["s"], padding=pads, dilation=case["d"],
                             groups=case["groups"]).dx
    np.testing.assert_allclose(ref.conv_transpose2d(dy, w, **t_opts), dx, **TOL)
    # and the transposed conv's input gradient is the forward convolution
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(ref.conv_transpose2d_backward(g, dy, w, bias=False, **t_opts).dx,
                               ref.conv2d(g, w, stride=case["s"], padding=pads, dilation=case["d"],
                                          groups=case["groups"]), **TOL)


def test_primitives_are_scipy_correlate_and_convolve():
    rng = np.random.default_rng(0)
    x, k = rng.standard_normal((7, 9)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(ref.cross_correlate(x[None, None], k[None, None])[0, 0],
                               scipy.signal.correlate2d(x, k, mode="valid"), **TOL)
    np.testing.assert_allclose(ref.full_convolve(x[None, None], k[None, None])[0, 0],
                               scipy.signal.convolve2d(x, k, mode="full"), **TOL)
    # multi-channel: sums over input channels of the per-channel correlation
    xs, ks = rng.standard_normal((1, 3, 6, 6)), rng.standard_normal((2, 3, 3, 3))
    expect = [sum(scipy.signal.correlate2d(xs[0, c], ks[o, c], mode="valid") for c in range(3)) for o in range(2)]
    np.testing.assert_allclose(ref.cross_correlate(xs, ks)[0], np.stack(expect), **TOL)


def test_kernel_gradient_is_cross_correlation_of_input_with_upstream_gradient():
    """The notes' identity in its textbook form (one channel, stride 1, valid): dW = correlate2d(X, dY)."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((8, 7)), rng.standard_normal((3, 2))
    dy = rng.standard_normal((6, 6))
    dx, dw, _ = ref.conv2d_backward(dy[None, None], x[None, None], w[None, None])
    np.testing.assert_allclose(dw[0, 0], scipy.signal.correlate2d(x, dy, mode="valid"), **TOL)
    np.testing.assert_allclose(dx[0, 0], scipy.signal.convolve2d(dy, w, mode="full"), **TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_and_float32_is_close(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 10, 10)).astype(dtype)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dtype)
    y = ref.conv2d(x, w, np.zeros(6, dtype), padding="same", stride=2)
    g = ref.conv2d_backward(np.ones_like(y), x, w, padding="same", stride=2)
    assert y.dtype == g.dx.dtype == g.dw.dtype == g.db.dtype == dtype
    ref64 = ref.conv2d(x.astype(np.float64), w.astype(np.float64), padding="same", stride=2)
    np.testing.assert_allclose(y, ref64, rtol=0, atol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: ref.conv2d(np.ones((1, 2, 5, 5), int), np.ones((1, 2, 3, 3))), TypeError, "x must be a float32"),
    (lambda: ref.conv2d(np.ones((2, 5, 5)), np.ones((1, 2, 3, 3))), ValueError, "x must have 4 dimensions"),
    (lambda: ref.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 3, 3, 3))), ValueError, "w must have shape"),
    (lambda: ref.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 2, 3, 3)), stride=0), ValueError, "stride must be"),
    (lambda: ref.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 2, 3, 3)), padding="half"), ValueError, "padding must"),
    (lambda: ref.conv2d(np.ones((1, 2, 2, 2)), np.ones((1, 2, 3, 3))), ValueError, "larger than"),
    (lambda: ref.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 2, 3, 3)), np.ones(2)), ValueError, "b must have shape"),
    (lambda: ref.conv2d_backward(np.ones((1, 1, 2, 2)), np.ones((1, 2, 5, 5)), np.ones((1, 2, 3, 3))), ValueError,
     "dy must have the output's shape"),
    (lambda: ref.conv_transpose2d(np.ones((1, 2, 5, 5)), np.ones((2, 1, 3, 3)), padding="same"), ValueError,
     "explicit padding"),
    (lambda: ref.conv_transpose2d(np.ones((1, 2, 5, 5)), np.ones((2, 1, 3, 3)), output_padding=1), ValueError,
     "output_padding must be smaller"),
])
def test_bad_arguments_raise_naming_the_value(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
