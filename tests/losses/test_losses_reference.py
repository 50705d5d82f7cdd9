"""Every loss against torch.nn.functional / torchvision.ops and against its formula computed by hand."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

from cnnlab import losses

REDUCTIONS = ["mean", "sum", "none"]


def _data(n=16, k=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * scale, torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_equals_torch_with_weight_ignore_index_smoothing(reduction):
    x, y = _data()
    y[[2, 7]] = -1
    w = torch.rand(5, dtype=torch.float64) + 0.1
    for kw in ({}, {"weight": w}, {"label_smoothing": 0.2}, {"weight": w, "label_smoothing": 0.1}):
        ours = losses.cross_entropy(x, y, ignore_index=-1, reduction=reduction, **kw)
        ref = F.cross_entropy(x, y, ignore_index=-1, reduction=reduction, **kw)
        torch.testing.assert_close(ours, ref, msg=str(kw))


def test_cross_entropy_probability_targets_and_spatial_dims_equal_torch():
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64)
    p = torch.rand(4, 3, 5, 6, dtype=torch.float64).softmax(1)
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(losses.cross_entropy(x, p, weight=w, label_smoothing=0.1, reduction=reduction),
                                   F.cross_entropy(x, p, weight=w, label_smoothing=0.1, reduction=reduction))
    y = torch.randint(0, 3, (4, 5, 6))
    torch.testing.assert_close(losses.cross_entropy(x, y, weight=w), F.cross_entropy(x, y, weight=w))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_equals_torch(reduction):
    x = torch.randn(8, 4, dtype=torch.float64) * 4
    t = torch.rand(8, 4, dtype=torch.float64)
    t[0] = 0.0
    t[1] = 1.0
    pw, w = torch.rand(4, dtype=torch.float64) * 3, torch.rand(8, 1, dtype=torch.float64)
    torch.testing.assert_close(losses.binary_cross_entropy(x, t, weight=w, pos_weight=pw, reduction=reduction),
                               F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction))
    # class indices -> one-hot rows
    y = torch.randint(0, 4, (8,))
    torch.testing.assert_close(losses.binary_cross_entropy(x, y, reduction=reduction),
                               F.binary_cross_entropy_with_logits(x, F.one_hot(y, 4).double(), reduction=reduction))


def test_l1_l2_mse_equal_torch():
    x, t = torch.randn(6, 7, dtype=torch.float64), torch.randn(6, 7, dtype=torch.float64)
    torch.testing.assert_close(losses.l1_loss(x, t, reduction="sum"), F.l1_loss(x, t, reduction="sum"))
    torch.testing.assert_close(losses.l1_loss(x, t), F.l1_loss(x, t, reduction="sum") / 6)
    torch.testing.assert_close(losses.l2_loss(x, t, reduction="sum"), F.mse_loss(x, t, reduction="sum"))
    torch.testing.assert_close(losses.mse_loss(x, t), F.mse_loss(x, t))
    torch.testing.assert_close(losses.mse_loss(x, t, reduction="none"), F.mse_loss(x, t, reduction="none").mean(1))
    # 1-D regression outputs
    a, b = torch.randn(9, dtype=torch.float64), torch.randn(9, dtype=torch.float64)
    torch.testing.assert_close(losses.mse_loss(a, b), F.mse_loss(a, b))
    # class-index targets: softmax probabilities against one-hot
    y = torch.randint(0, 7, (6,))
    torch.testing.assert_close(losses.mse_loss(x, y), F.mse_loss(x.softmax(1), F.one_hot(y, 7).double()))


def test_l1_l2_hand_computed():
    x, t = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[0.0, 0.0, 0.0]])
    assert losses.l1_loss(x, t).item() == pytest.approx(3.5)
    assert losses.l2_loss(x, t).item() == pytest.approx(1 + 4 + 0.25)
    assert losses.mse_loss(x, t).item() == pytest.approx(5.25 / 3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [0.25, None])
def test_sigmoid_focal_equals_torchvision(reduction, gamma, alpha):
    x = torch.randn(10, 6, dtype=torch.float64) * 3
    t = (torch.rand(10, 6) > 0.7).double()
    ref = tv_sigmoid_focal_loss(x, t, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=reduction)
    torch.testing.assert_close(losses.sigmoid_focal_loss(x, t, gamma=gamma, alpha=alpha, reduction=reduction), ref)


def test_softmax_focal_hand_computed():
    x = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    alpha = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    p0 = math.exp(2) / (math.exp(2) + 1 + math.exp(-1))
    expected = [-0.3 * (1 - p0) ** 2 * math.log(p0), -2.0 * (2 / 3) ** 2 * math.log(1 / 3)]
    got = losses.focal_loss(x, y, gamma=2.0, alpha=alpha, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert losses.focal_loss(x, y, gamma=2.0, alpha=alpha).item() == pytest.approx(sum(expected) / 2)


def test_focal_with_gamma_zero_is_alpha_balanced_ce():
    x, y = _data(seed=3)
    alpha = torch.rand(5, dtype=torch.float64) + 0.1
    y[0] = -100
    bce = losses.balanced_cross_entropy(x, y, alpha=alpha, reduction="none")
    torch.testing.assert_close(losses.focal_loss(x, y, gamma=0.0, alpha=alpha, reduction="none"), bce)
    # plain mean of the weighted per-sample CE (not torch's weighted mean)
    ref = F.cross_entropy(x, y, weight=alpha, reduction="none")[1:].mean()
    torch.testing.assert_close(losses.balanced_cross_entropy(x, y, alpha=alpha), ref)
    torch.testing.assert_close(losses.focal_loss(x, y, gamma=0.0), F.cross_entropy(x, y))


def test_focal_down_weights_easy_examples():
    x = torch.tensor([[6.0, 0.0], [0.2, 0.0]], dtype=torch.float64)  # an easy and a hard example of class 0
    y = torch.tensor([0, 0])
    ce = losses.cross_entropy(x, y, reduction="none")
    fl = losses.focal_loss(x, y, gamma=2.0, reduction="none")
    ratio = fl / ce
    assert ratio[0] < 1e-4 < 0.2 < ratio[1] < 1  # (1 - p_t)^2: tiny for the easy one


def test_class_weights_effective_number_formula():
    counts = [5000, 500, 50, 5]
    for beta in (0.0, 0.9, 0.999, 0.9999):
        w = losses.class_weights(counts, "effective", beta=beta)
        raw = torch.tensor([(1 - beta) / (1 - beta ** n) for n in counts], dtype=torch.float64)
        torch.testing.assert_close(w, (raw / raw.sum() * 4).float())
        assert w.sum().item() == pytest.approx(4.0, rel=1e-6)
    assert torch.allclose(losses.class_weights(counts, beta=0.0), torch.ones(4))  # beta 0: no re-weighting
    inv = losses.class_weights(counts, "inverse")
    assert torch.allclose(losses.class_weights(counts, beta=1 - 1e-9), inv, rtol=1e-3)  # beta -> 1: 1 / n


def test_class_balanced_focal_equals_focal_with_cb_alpha():
    x, y = _data(n=20, k=4, seed=5)
    counts = [1000, 100, 10, 1]
    w = losses.class_weights(counts, beta=0.99).double()
    torch.testing.assert_close(losses.class_balanced_focal_loss(x, y, samples_per_class=counts, beta=0.99),
                               losses.focal_loss(x, y, alpha=w))
    # sigmoid form: torchvision's unweighted sigmoid focal loss times the sample's class weight
    ref = tv_sigmoid_focal_loss(x, F.one_hot(y, 4).double(), alpha=-1, gamma=2.0, reduction="none") * w[y][:, None]
    torch.testing.assert_close(
        losses.class_balanced_focal_loss(x, y, samples_per_class=counts, beta=0.99, form="sigmoid"), ref.mean())


def test_ignore_index_contributes_nothing():
    x, y = _data()
    x.requires_grad_(True)
    y[3] = -100
    for name in ("ce", "focal", "bce", "sigmoid_focal"):
        loss = losses.resolve(name, reduction="sum")(x, y)
        (g,) = torch.autograd.grad(loss, x)
        assert torch.all(g[3] == 0) and g.abs().sum() > 0, name
    all_ignored = torch.full_like(y, -100)
    assert losses.cross_entropy(x, all_ignored).item() == 0.0


def test_gradient_of_ce_is_softmax_minus_onehot():
    x, y = _data(n=4, k=3)
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(losses.cross_entropy(x, y, reduction="sum"), x)
    torch.testing.assert_close(g, x.detach().softmax(1) - F.one_hot(y, 3).double())
