"""Max pooling with switches, max unpooling and average pooling against torch autograd (float64, 1e-10)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import reference as ref

TOL = dict(rtol=0, atol=1e-10)


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    hw = (draw(st.integers(d[0] * (k[0] - 1) + 1, 8)), draw(st.integers(d[1] * (k[1] - 1) + 1, 8)))
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)), k=k, s=s, p=p, d=d, hw=hw,
                ceil=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


@settings(max_examples=40, deadline=None)
@given(pool_cases())
def test_max_pool_switches_and_gradient_match_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], *case["hw"]))  # continuous values: no ties
    opts = dict(stride=case["s"], padding=case["p"], dilation=case["d"], ceil_mode=case["ceil"])
    y, switches = ref.max_pool2d(x, case["k"], **opts)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = F.max_pool2d(xt, case["k"], return_indices=True, **opts)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    np.testing.assert_array_equal(switches, it.numpy())
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(ref.max_pool2d_backward(dy, switches, x.shape), xt.grad.numpy(), **TOL)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(2, 4), st.integers(0, 2**31))
def test_max_unpool_puts_values_back_where_the_max_was(c, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c, 3 * k, 2 * k + 1))
    y, switches = ref.max_pool2d(x, k)
    feats = rng.standard_normal(y.shape)
    feats_t = torch.tensor(feats, requires_grad=True)
    up_t = F.max_unpool2d(feats_t, torch.tensor(switches), k, output_size=x.shape[2:])
    up = ref.max_unpool2d(feats, switches, x.shape[2:])
    np.testing.assert_allclose(up, up_t.detach().numpy(), **TOL)
    # unpooling the maxima gives x where x was a window maximum and 0 elsewhere
    rebuilt = ref.max_unpool2d(y, switches, x.shape[2:])
    assert np.count_nonzero(rebuilt) == y.size and set(rebuilt[rebuilt != 0]) <= set(x.ravel())
    dz = rng.standard_normal(up.shape)
    up_t.backward(torch.tensor(dz))
    np.testing.assert_allclose(ref.max_unpool2d_backward(dz, switches), feats_t.grad.numpy(), **TOL)


@settings(max_examples=40, deadline=None)
@given(pool_cases(), st.booleans())
def test_avg_pool_and_gradient_match_torch(case, include_pad):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], *case["hw"]))
    opts = dict(stride=case["s"], padding=case["p"], count_include_pad=include_pad)
    y = ref.avg_pool2d(x, case["k"], **opts)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.avg_pool2d(xt, case["k"], **opts)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL)
    dy = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(ref.avg_pool2d_backward(dy, x.shape, case["k"], **opts), xt.grad.numpy(), **TOL)


def test_overlapping_windows_sharing_a_maximum_add_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four 2x2 windows (stride 1)
    y, switches = ref.max_pool2d(x, 2, stride=1)
    assert (switches == 4).all()
    dx = ref.max_pool2d_backward(np.ones_like(y), switches, x.shape)
    assert dx[0, 0, 1, 1] == 4.0 and dx.sum() == 4.0


def test_bad_pool_arguments():
    with pytest.raises(ValueError, match="padding must be at most half"):
        ref.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2)
    with pytest.raises(ValueError, match="switches must be integers"):
        ref.max_unpool2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), (4, 4))
    with pytest.raises(ValueError, match="switches point outside"):
        ref.max_unpool2d(np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), (4, 4))
    with pytest.raises(TypeError, match="dtype int64"):
        ref.avg_pool2d(np.ones((1, 1, 4, 4), dtype=np.int64), 2)
