"""The soft Dice loss against a slow loop of its formula (values and gradients), with ignore_index and weights."""

import pytest
import torch

from cnnlab import losses


def _slow_dice(logits, targets, *, smooth=1.0, ignore_index=-100, weight=None):
    """Per sample, per class: loops over the pixels."""
    n, k = logits.shape[:2]
    p = logits.softmax(1)
    per_sample = []
    for i in range(n):
        dices = []
        for c in range(k):
            inter = card = torch.zeros((), dtype=logits.dtype)
            for pix in range(targets[i].numel()):
                t = int(targets[i].reshape(-1)[pix])
                if t == ignore_index:
                    continue
                pc = p[i, c].reshape(-1)[pix]
                yc = 1.0 if t == c else 0.0
                inter = inter + pc * yc
                card = card + pc + yc
            dices.append((2 * inter + smooth) / (card + smooth))
        d = torch.stack(dices)
        w = torch.ones(k, dtype=logits.dtype) if weight is None else torch.as_tensor(weight, dtype=logits.dtype)
        per_sample.append(1 - (d * w).sum() / w.sum())
    return torch.stack(per_sample)


@pytest.mark.parametrize("kw", [{}, {"smooth": 0.5}, {"ignore_index": 255}, {"weight": [1.0, 0.5, 2.0]}])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dice_equals_a_slow_loop_in_value_and_gradient(kw, reduction):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(3, 3, 4, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.randint(0, 3, (3, 4, 5), generator=g)
    if "ignore_index" in kw:
        y[0, :2] = 255
    ours = losses.dice_loss(x, y, reduction=reduction, **kw)
    per = _slow_dice(x, y, **kw)
    ref = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    torch.testing.assert_close(ours, ref)
    (g1,) = torch.autograd.grad(ours.sum(), x)
    (g2,) = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g1, g2)
    if "ignore_index" in kw:
        assert g1[0, :, :2].abs().max() == 0  # void pixels get no gradient


def test_dice_is_zero_for_a_perfect_prediction_and_takes_probability_targets():
    y = torch.tensor([[[0, 1], [2, 2]]])
    onehot = torch.nn.functional.one_hot(y, 3).movedim(-1, 1).double()
    x = onehot * 60 - 30
    assert float(losses.dice_loss(x, y)) < 1e-6
    torch.testing.assert_close(losses.dice_loss(x, y, smooth=0.0), losses.dice_loss(x, onehot, smooth=0.0))
    fn = losses.resolve("dice", ignore_index=255)
    assert repr(fn) == "Loss('dice', ignore_index=255)" and "dice" in losses.names()
    with pytest.raises(ValueError, match="smooth must be"):
        losses.dice_loss(x, y, smooth=-1.0)
