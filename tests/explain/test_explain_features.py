"""Feature maps, kernels, receptive fields, top patches, activation maximisation, embeddings and sanity checks,
each against an independent computation."""

import copy

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab import explain, models


@pytest.fixture
def lenet():
    return models.create("lenet5", activation="relu", pool="max").eval()


def test_feature_maps_equal_the_truncated_network(lenet):
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        ref = lenet.features[:4](lenet.normalize(x))
    torch.testing.assert_close(explain.feature_maps(lenet, x, "features.3"), ref)
    torch.testing.assert_close(explain.feature_maps(lenet, x, lenet.features[3]), ref)


def test_kernel_grid_tiles_the_first_convolution(lenet):
    grid = explain.kernel_grid(lenet)
    w = lenet.features[0].weight.detach()  # (6, 1, 5, 5): 3 x 2 tiles of 5x5, 1 pixel apart
    assert grid.shape == (1, 2 * 6 + 1, 3 * 6 + 1)
    k0 = (w[0, 0] - w[0, 0].min()) / (w[0, 0].max() - w[0, 0].min())
    torch.testing.assert_close(grid[0, 1:6, 1:6], k0)
    torch.testing.assert_close(grid[0, 1:6, 7:12], (w[1, 0] - w[1, 0].min()) / (w[1, 0].max() - w[1, 0].min()))


def chain_rf(layers, y, size):
    """Receptive field rows of unit ``y`` through a chain of (kernel, stride, padding), by walking back."""
    lo, hi = y, y
    for k, s, p in reversed(layers):
        lo, hi = lo * s - p, hi * s - p + k - 1
    return max(lo, 0), min(hi, size - 1) + 1


@pytest.mark.parametrize("layer, chain", [
    ("features.0", [(5, 1, 2)]),
    ("features.3", [(5, 1, 2), (2, 2, 0), (5, 1, 0)]),
    ("features.5", [(5, 1, 2), (2, 2, 0), (5, 1, 0), (2, 2, 0)]),
])
def test_receptive_field_equals_the_chain_arithmetic(lenet, layer, chain):
    h = explain.feature_maps(lenet, torch.rand(1, 1, 28, 28), layer).shape[-1]
    units = torch.tensor([[y, x] for y in range(h) for x in range(0, h, 3)])
    boxes = explain.receptive_field(lenet, layer, (1, 28, 28), units)
    for (y, x), (y0, x0, y1, x1) in zip(units.tolist(), boxes.tolist()):
        assert (y0, y1) == chain_rf(chain, y, 28) and (x0, x1) == chain_rf(chain, x, 28)


def test_receptive_field_through_residual_blocks_and_tf_same_padding():
    res = models.create("resnet_small", widths=(4, 8, 8)).eval()
    # stem 3x3, then layer1 = 3 blocks of two 3x3 convs: 13 x 13 field, clipped at the border
    boxes = explain.receptive_field(res, "layer1", (1, 28, 28), torch.tensor([[10, 10], [0, 27]]))
    assert boxes.tolist() == [[3, 3, 18, 18], [0, 20, 8, 28]]
    lite = models.create("efficientnet_lite0_small", in_channels=3, width=0.25).eval()
    # stem 3x3 stride 1, then a 3x3 depthwise conv: 5 x 5
    boxes = explain.receptive_field(lite, "_blocks.0._depthwise_conv", (3, 32, 32), torch.tensor([[5, 7]]))
    assert boxes.tolist() == [[3, 5, 8, 10]]


def support_boxes(model, layer, input_shape, units):
    """The independent reference: per unit, the bounding box of the input pixels with a non-zero gradient in a
    copy of the model made positive and linear (every weight 1 / fan-in, no bias, normalisation and activation
    modules removed, max pooling averaged, so no activation is zero or saturated and no path is cut), in float64
    on an all-ones image; one backward pass per unit. A module called twice is taken at its last call, as a
    forward hook sees it."""
    probe = copy.deepcopy(model).double().eval()
    for parent in list(probe.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, (nn.BatchNorm2d, nn.LocalResponseNorm, nn.ReLU, nn.ReLU6)):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                assert child.dilation in (1, (1, 1))
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(parent, name, nn.AdaptiveAvgPool2d(child.output_size))
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    probe.requires_grad_(False)
    store = {}
    handle = probe.get_submodule(layer).register_forward_hook(lambda m, a, out: store.__setitem__("act", out))
    img = torch.ones(1, *input_shape, dtype=torch.float64, requires_grad=True)
    try:
        probe(img)
    finally:
        handle.remove()
    boxes = []
    for y, x in units:
        (g,) = torch.autograd.grad(store["act"][0, :, y, x].sum(), img, retain_graph=True)
        nz = g[0].abs().sum(0).nonzero()
        boxes.append([int(nz[:, 0].min()), int(nz[:, 1].min()), int(nz[:, 0].max()) + 1, int(nz[:, 1].max()) + 1])
    return boxes


def border_and_centre(h, w):
    """The units whose fields the image border cuts, plus the centre."""
    ys, xs = sorted({0, 1, h // 2, h - 2, h - 1} & set(range(h))), sorted({0, 1, w // 2, w - 2, w - 1} & set(range(w)))
    return [(y, x) for y in ys for x in xs]


@pytest.mark.parametrize("name, size, extra", [
    ("lenet5", 28, []), ("vgg_small", 31, []), ("alexnet_small", 32, []),  # plain stacks, floor-rounded pooling
    ("fastnet_small", 31, []),  # adaptive max pooling: the whole map, not the argmax
    ("resnet_small", 28, ["layer1.0.relu"]), ("resnet_small", 31, []),  # residual adds; a ReLU called twice
    ("googlenet_small", 31, []),  # concatenated branches
    ("efficientnet_lite0_small", 31, []),  # TensorFlow "SAME" padding: F.pad, more after than before
])
def test_receptive_field_equals_the_gradient_support(name, size, extra):
    net = models.create(name).eval()
    shape = (1, size, size)
    layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d))
              or (n and "." not in n and not isinstance(m, nn.ModuleList))] + extra
    checked = 0
    for layer in layers:
        act = explain.feature_maps(net, torch.rand(1, *shape), layer)
        if act.dim() != 4:
            continue
        units = border_and_centre(*act.shape[-2:])
        boxes = explain.receptive_field(net, layer, shape, torch.tensor(units))
        assert boxes.tolist() == support_boxes(net, layer, shape, units), layer
        checked += 1
    assert checked >= 5


def test_receptive_field_refuses_what_it_cannot_trace(lenet):
    with pytest.raises(ValueError, match="feature map"):
        explain.receptive_field(lenet, "classifier.0", (1, 28, 28), torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match=r"units must lie in the layer's 10x10 map"):
        explain.receptive_field(lenet, "features.3", (1, 28, 28), torch.tensor([[0, 10]]))

    class Upsampled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3)

        def forward(self, x):
            return self.head(F.interpolate(self.conv(x), scale_factor=2))

    with pytest.raises(ValueError, match="cannot be traced exactly: interpolation"):
        explain.receptive_field(Upsampled(), "head", (1, 12, 12), torch.tensor([[0, 0]]))
    assert explain.receptive_field(Upsampled(), "conv", (1, 12, 12), torch.tensor([[0, 0]])).tolist() == [[0, 0, 3, 3]]


def test_top_patches_are_the_strongest_units_cropped(lenet):
    x = torch.rand(12, 1, 28, 28)
    top = explain.top_patches(lenet, x, "features.3", 4, k=3, batch_size=5)
    act = explain.feature_maps(lenet, x, "features.3")[:, 4]
    per_image = act.flatten(1).max(1).values
    torch.testing.assert_close(top.scores, per_image.sort(descending=True).values[:3])
    for i, (idx, (y, x0), box) in enumerate(zip(top.indices, top.units, top.boxes)):
        assert act[idx, y, x0] == top.scores[i]
        y0, xa, y1, xb = box.tolist()
        crop = x[idx, :, y0:y1, xa:xb]
        assert top.patches.shape[-2:] == (14, 14)
        assert any(torch.equal(crop, top.patches[i, :, a:a + crop.shape[1], b:b + crop.shape[2]])
                   for a in (0, 14 - crop.shape[1]) for b in (0, 14 - crop.shape[2]))


def test_maximize_one_step_is_the_normalised_gradient_step(lenet):
    x0 = torch.full((2, 1, 28, 28), 0.5)
    got = explain.maximize(lenet, target=[3, 7], steps=1, lr=0.1, l2=0.0, jitter=0, blur_every=0)
    x = x0.clone().requires_grad_()
    (g,) = torch.autograd.grad(lenet(x)[[0, 1], [3, 7]].sum(), x)
    ref = (x0 + 0.1 * g / g.abs().mean((1, 2, 3), keepdim=True)).clamp(0, 1)
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("channels", [1, 3])
def test_maximize_raises_the_class_score(channels):
    net = models.create("lenet5", in_channels=channels).eval()
    imgs = explain.maximize(net, target=[2, 5], steps=50)
    assert imgs.shape == (2, channels, 28, 28) and 0 <= imgs.min() and imgs.max() <= 1
    with torch.no_grad():
        start, end = net(torch.full_like(imgs, 0.5)), net(imgs)
    gain = end[[0, 1], [2, 5]] - start[[0, 1], [2, 5]]
    assert (gain > start.std()).all()  # more than the spread of the logits at the start
    assert end[0].argmax() == 2 and end[1].argmax() == 5
    grey = torch.full((1, channels, 28, 28), 0.5)
    img = explain.maximize(net, layer="features.0", channel=1, steps=15)  # a channel: its mean activation grows
    assert explain.feature_maps(net, img, "features.0")[0, 1].mean() > explain.feature_maps(
        net, grey, "features.0")[0, 1].mean() + 0.1


def test_penultimate_features_and_pca(lenet):
    x = torch.rand(40, 1, 28, 28)
    feats = explain.penultimate_features(lenet, x, batch_size=16)
    with torch.no_grad():
        ref = lenet.classifier[:3](lenet.features(lenet.normalize(x)))
    torch.testing.assert_close(feats, ref)
    emb = explain.embed(lenet, x, torch.arange(40) % 4, method="pca")
    centred = (feats - feats.mean(0)).double().numpy()
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    ref = torch.from_numpy(centred @ vt[:2].T).float()
    for j in range(2):  # principal axes are defined up to sign
        a, b = emb.points[:, j], ref[:, j]
        assert torch.allclose(a, b, atol=1e-4) or torch.allclose(a, -b, atol=1e-4)


def test_tsne_keeps_clusters_apart():
    torch.manual_seed(0)
    centres = torch.randn(3, 64) * 10
    feats = centres.repeat_interleave(20, 0) + torch.randn(60, 64)
    labels = torch.arange(3).repeat_interleave(20)
    pts = explain.project(feats, method="tsne", seed=0, perplexity=10)
    d = torch.cdist(pts, pts).fill_diagonal_(float("inf"))
    assert (labels[d.argmin(1)] == labels).float().mean() == 1.0  # nearest neighbour in 2-D: same cluster
    torch.testing.assert_close(pts, explain.project(feats, method="tsne", seed=0, perplexity=10))


def test_spearman_equals_scipy_with_ties():
    torch.manual_seed(0)
    a = torch.randint(0, 5, (3, 40)).float()  # many ties
    b = a + torch.randint(0, 3, (3, 40)).float()
    ours = explain.spearman(a, b)
    ref = [scipy.stats.spearmanr(a[i].numpy(), b[i].numpy()).statistic for i in range(3)]
    torch.testing.assert_close(ours, torch.tensor(ref, dtype=torch.float32))
    torch.testing.assert_close(explain.rank(torch.tensor([3.0, 1.0, 3.0, 2.0])), torch.tensor([3.5, 1, 3.5, 2],
                                                                                            dtype=torch.double))


def test_cascading_randomization_decorrelates_gradcam():
    net = models.create("resnet_small", widths=(4, 8, 8)).eval()
    x = torch.rand(2, 1, 28, 28)
    res = explain.cascading_randomization(net, x, methods=("saliency", "gradcam"), max_steps=3,
                                          options={"gradcam": {"layer": "layer2"}})
    order = explain.parameter_layers(net)
    assert order[0] == "fc" and order[-1] == "conv1"  # output side first
    assert res.steps[0] == "none" and res.steps[-1] == "conv1" and len(res.steps) == 4
    assert res.correlations.shape == (4, 2) and torch.all(res.correlations[0] == 1)
    assert res.correlations[-1].abs().max() < 0.9  # the fully randomised model explains differently
    ref = [scipy.stats.spearmanr(res.maps["gradcam"][0, i].flatten(), res.maps["gradcam"][-1, i].flatten()).statistic
           for i in range(2)]
    assert abs(float(res.correlations[-1, 1]) - float(np.nanmean(ref))) < 1e-5
    assert len(res.rows()) == 4 and res.plot() is not None
