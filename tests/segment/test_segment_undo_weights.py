"""Undoing class weights after training (post-hoc logit adjustment): the theory on a model trained here, the
evaluation paths against a slow reference, and the refusals."""

import math

import pytest
import torch
import torch.nn.functional as F
from _segment_helpers import tiny

from cnnlab import data, segment


def _train_pixel_classifier(x, y, weight, steps=600):
    """A 1x1 convolution (per-pixel logistic regression) trained to convergence with (weighted) cross-entropy."""
    torch.manual_seed(0)
    net = torch.nn.Conv2d(x.shape[1], 3, 1)
    opt = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=steps, tolerance_grad=1e-10, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y, weight=weight)
        loss.backward()
        return loss

    opt.step(closure)
    return net


def test_undoing_the_weights_recovers_what_unweighted_training_predicts():
    # three overlapping Gaussian classes in 2-D feature space, one rare: the weighted optimum over-predicts it
    g = torch.Generator().manual_seed(0)
    counts, means = [6000, 3000, 400], torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.75, 1.2]])
    feats = torch.cat([torch.randn(n, 2, generator=g) + means[c] for c, n in enumerate(counts)])
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    x, y = feats.T.reshape(1, 2, 1, -1), labels.reshape(1, 1, -1)
    w = data.median_frequency_weights(y, 3, ignore_index=255)
    assert w[2] > 5 * w[0]  # the rare class is weighted up
    weighted = _train_pixel_classifier(x, y, w.float())
    plain = _train_pixel_classifier(x, y, None)
    with torch.no_grad():
        ref = plain(x).argmax(1)
        as_trained = weighted(x).argmax(1)
        undone = (F.log_softmax(weighted(x), 1) - segment.undo_weights(w, 1.0).view(1, -1, 1, 1)).argmax(1)
    agree_before = (as_trained == ref).float().mean().item()
    agree_after = (undone == ref).float().mean().item()
    assert agree_before < 0.8  # the weights changed many answers (72 % agree) ...
    assert agree_after > 0.99  # ... undoing them gives the unweighted fit's answers back (99.6 %: two finite fits)
    acc = lambda p: (p == y).float().mean().item()  # noqa: E731
    assert acc(undone) > acc(as_trained) + 0.05  # global accuracy comes back
    half = (F.log_softmax(weighted(x), 1) - segment.undo_weights(w, 0.5).view(1, -1, 1, 1)).argmax(1)
    assert (half == 2).sum() < (as_trained == 2).sum() and (half == 2).sum() > (undone == 2).sum()


def test_undo_weights_offsets_and_refusals():
    w = [0.5, 1.0, 4.0, 0.0]
    torch.testing.assert_close(segment.undo_weights(w, 0.5), torch.tensor([0.5 * math.log(0.5), 0.0,
                                                                         0.5 * math.log(4.0), 0.0]))
    assert torch.equal(segment.undo_weights(w, 0.0), torch.zeros(4))
    for bad, match in [([1.0, -1.0], "non-negative"), ([1.0, float("nan")], "finite"), ([0.0, 0.0], "not all 0"),
                       ([], "not all 0")]:
        with pytest.raises(ValueError, match=match):
            segment.undo_weights(bad)
    for tau in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="tau"):
            segment.undo_weights([1.0, 2.0], tau)


def test_evaluate_predict_and_sweep_with_an_adjustment_equal_the_written_out_argmax():
    torch.manual_seed(0)
    net = tiny("unet", num_classes=4, classes=["background", "a", "b", "c"], input_size=(32, 48)).eval()
    with torch.no_grad():
        net.head.weight.mul_(40)
    ds = data.load_segmentation("scenes", "test", size=32).subset(slice(0, 6))
    x = ds.images.float() / 255 if ds.images.dtype == torch.uint8 else ds.images.float()
    weights = [0.3, 2.0, 5.0, 1.0]
    taus = (0.0, 0.5, 1.0)
    sweep = segment.undo_weights_sweep(net, ds, weights, taus, batch_size=4)
    plain = segment.evaluate(net, ds, batch_size=4)
    for (tau, m), t in zip(sweep, taus):
        with torch.no_grad():  # the reference: log-softmax minus tau log w, argmax, one confusion matrix
            ref = (F.log_softmax(net(x), 1) - t * torch.tensor(weights).log().view(1, -1, 1, 1)).argmax(1)
        cm = segment.metrics(ref, ds.labels, num_classes=4, ignore_index=ds.ignore_index)
        assert tau == t and torch.equal(m.confusion, cm.confusion)
        if t != 1.0:
            continue
        adj = segment.undo_weights(weights, t)
        r = segment.evaluate(net, ds, batch_size=4, adjustment=adj, keep=6)
        assert torch.equal(r.metrics.confusion, cm.confusion) and torch.equal(r.predictions, ref)
        assert r.summary()["adjusted"] is True
        assert torch.equal(segment.predict_labels(net, ds.images, adjustment=adj), ref)
        out = segment.segment_images(net, list(x), size=(32, 32), adjustment=adj)
        assert torch.equal(torch.stack([o.labels for o in out]), ref)
    assert torch.equal(sweep[0][1].confusion, plain.metrics.confusion)  # tau 0 is the model as trained
    assert not torch.equal(sweep[0][1].confusion, sweep[-1][1].confusion)  # and the offsets change answers
    with torch.no_grad():  # with flips: the flip-averaged log-probabilities minus the offsets
        p = (F.softmax(net(x), 1) + F.softmax(net(x.flip(-1)), 1).flip(-1)) / 2
    adj = segment.undo_weights(weights, 1.0)
    ref = (p.log() - adj.view(1, -1, 1, 1)).argmax(1)
    assert torch.equal(segment.predict_labels(net, ds.images, hflip=True, adjustment=adj), ref)
    with pytest.raises(ValueError, match="adjustment has 3 values for data of 4 classes"):
        segment.evaluate(net, ds, adjustment=torch.zeros(3))
    with pytest.raises(ValueError, match="adjustment has 2 values for a model of 4 classes"):
        segment.class_scores(net, x, adjustment=torch.zeros(2))
    with pytest.raises(ValueError, match="taus is empty"):
        segment.undo_weights_sweep(net, ds, weights, ())
