"""The engine learns: SGD + momentum equals torch.optim.SGD, a small CNN of reference layers reaches >= 95 %
on scikit-learn's digits, and the saturation demo shows sigmoid's vanishing gradients."""

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from cnnlab import reference as ref


def test_one_training_step_of_the_digits_cnn_matches_torch():
    """Forward, loss, backward through conv/ReLU/pool/linear, and two SGD-momentum steps, against torch."""
    net = ref.digits_cnn(seed=1, dtype=np.float64)
    conv1, conv2, lin = net.layers[0], net.layers[3], net.layers[7]
    tparams = [torch.tensor(layer.params[k].copy(), requires_grad=True) for layer in (conv1, conv2, lin)
               for k in ("w", "b")]
    opt_t = torch.optim.SGD(tparams, lr=0.1, momentum=0.9, weight_decay=1e-3)
    opt = ref.SGD(lr=0.1, momentum=0.9, weight_decay=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.random((5, 1, 8, 8))
        labels = rng.integers(0, 10, 5)
        loss, dlogits = ref.softmax_cross_entropy(net.forward(x), labels)
        net.backward(dlogits)
        opt.step(net)
        w1, b1, w2, b2, wl, bl = tparams
        h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(x), w1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
        loss_t = F.cross_entropy(F.linear(h.flatten(1), wl, bl), torch.tensor(labels))
        opt_t.zero_grad()
        loss_t.backward()
        opt_t.step()
        assert abs(loss - loss_t.item()) < 1e-10
    ours = [layer.params[k] for layer in (conv1, conv2, lin) for k in ("w", "b")]
    for a, t in zip(ours, tparams):
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=0, atol=1e-10)


def test_small_cnn_of_reference_layers_learns_digits():
    with threadpool_limits(1):  # 8x8 images: BLAS threads only contend on a shared 2-core machine
        result = ref.train_digits(ref.DigitsConfig(epochs=5))
    losses = [h[1] for h in result.history]
    assert losses[-1] < losses[0] / 5
    assert result.test_accuracy >= 0.95, result.history
    assert result.model.layers[0].params["w"].dtype == np.float32


def test_saturation_sigmoid_gradients_vanish_relu_gradients_do_not():
    r = ref.saturation_demo(ref.SaturationConfig(depth=10, channels=4, size=8, batch=2))
    assert len(r.rows()) == 10
    assert r.decay("sigmoid") < 1e-3          # layer 1 gets < 0.1 % of the last layer's gradient
    assert 0.05 < r.decay("relu") < 20        # ReLU keeps the same order of magnitude
    assert max(r.mean_derivative["sigmoid"]) <= 0.25 < np.mean(r.mean_derivative["relu"])
    big = ref.saturation_demo(ref.SaturationConfig(depth=4, channels=4, size=8, batch=2, weight_scale=6.0))
    assert max(big.saturated["sigmoid"]) > 0.1  # large weights push sigmoid units into their flat tails
    fig = ref.plot_saturation(r)
    assert len(fig.axes[0].lines) == 2
