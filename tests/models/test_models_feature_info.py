"""Every registered model records its classifier, its global pool and its feature maps (as timm's
feature_info); checked against the shapes a forward pass actually produces, at two input sizes."""

import pytest
import torch
from torch import nn

from cnnlab import models


def _trace(model: nn.Module, size: tuple[int, int, int], names: list[str]) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape))) for n in names]
    try:
        model(torch.zeros(1, *size, device="meta"))
    except RuntimeError:  # a fixed-size classifier (LeNet's flatten) refuses the larger input; features ran
        pass
    finally:
        for h in handles:
            h.remove()
    return shapes


@pytest.mark.parametrize("name", models.names())
def test_feature_info_matches_the_traced_shapes(name):
    with torch.device("meta"):
        m = models.create(name, num_classes=7).eval()
    card = m.cnnlab
    feats = models.feature_info(m)
    assert feats and [f.stride for f in feats] == sorted(f.stride for f in feats)  # shallow to deep
    c, h, w = card.input_size
    names = [f.module for f in feats] + [card.classifier]
    # out = floor((in - a) / s) + b grows by exactly n when the input grows by n * s for every stride s that
    # divides the largest one, so the growth over 8 * (largest stride) pixels measures each map's stride
    step = 8 * feats[-1].stride
    small, big = _trace(m, (c, h, w), names), _trace(m, (c, h + step, w + step), names)
    for f in feats:
        assert small[f.module][1] == f.channels, f.module
        grown = big[f.module][2] - small[f.module][2]
        assert grown > 0 and step / grown == f.stride, (f.module, small[f.module], big[f.module])
    assert small[card.classifier] == (1, 7)  # the classifier produces the logits
    assert models.classifier_name(m) == card.classifier
    assert models.feature_layer(m) == feats[-1].module


@pytest.mark.parametrize("name", models.names())
def test_the_recorded_pool_feeds_the_classifier_directly(name):
    """When a card names a global pool, the classifier's input is that pool's output flattened (CAM's
    condition); models whose heads are not GAP + linear record none."""
    torch.manual_seed(0)
    with torch.device("meta"):
        probe = models.create(name)
    if probe.cnnlab.pool is None:
        return
    m = models.create(name, num_classes=5).eval()
    store = {}
    h1 = m.get_submodule(m.cnnlab.pool).register_forward_hook(lambda mod, i, o: store.__setitem__("pool", o))
    h2 = m.get_submodule(m.cnnlab.classifier).register_forward_pre_hook(lambda mod, a: store.__setitem__("fc", a[0]))
    try:
        with torch.no_grad():
            m(torch.rand(1, *m.cnnlab.input_size))
    finally:
        h1.remove()
        h2.remove()
    assert store["pool"].shape[2:] == (1, 1)
    torch.testing.assert_close(store["pool"].flatten(1), store["fc"])


def test_feature_info_survives_a_checkpoint(tmp_path):
    m = models.create("resnet_small", widths=(4, 8, 8))
    back = models.load_checkpoint(models.save_checkpoint(tmp_path / "ck", m))
    assert back.cnnlab.features == m.cnnlab.features and back.cnnlab.classifier == "fc"
    assert [f.channels for f in back.cnnlab.features] == [4, 8, 8]


def test_feature_layer_names_the_bad_layer():
    m = models.create("lenet5")
    with pytest.raises(ValueError, match=r"model has no layer 'features\.99' \(feature layers: features\.1"):
        models.feature_layer(m, "features.99")
    with pytest.raises(ValueError, match="has no cnnlab card"):
        models.feature_info(nn.Linear(2, 2))
