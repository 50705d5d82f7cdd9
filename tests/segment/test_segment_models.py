"""Every registered segmenter: logits at the input size (odd sizes too), gradients, model card, checkpoints, no hook
left behind; SegNet's max unpooling against the NumPy reference; FCN's transposed convolutions are bilinear; the
pretrained encoder's feature maps are EfficientNet-Lite0's by name."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _segment_helpers import TINY, hook_count, tiny

from cnnlab import models, reference, segment


def test_the_registry_holds_the_issue_s_architectures():
    assert set(segment.names()) == set(TINY) == {"fcn32s", "fcn16s", "fcn8s", "unet", "unet_lite0", "segnet_basic",
                                                 "segnet", "deeplabv3", "lraspp"}
    rows = segment.segmenter_table()
    assert {r["name"] for r in rows} == set(TINY) and all(r["doc"] for r in rows)


@pytest.mark.parametrize("name", sorted(TINY))
def test_logits_at_the_input_size_with_gradients_and_a_card(name):
    net = tiny(name, classes=list("abcde"), input_size=(45, 61))
    for shape in ((2, 3, 45, 61), (2, 3, 64, 64)):  # batches of 2: DeepLabV3 pools to 1x1 before a batch norm
        x = torch.rand(*shape, requires_grad=True)
        y = net(x)
        assert y.shape == (shape[0], 5, *shape[2:]) and torch.isfinite(y).all()
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    head = net.get_submodule(net.cnnlab.classifier)
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()
    card = net.cnnlab
    assert card.name == name and card.input_size == (3, 45, 61) and card.classes == list("abcde")
    assert card.kwargs["num_classes"] == 5 and card.features
    for f in card.features:
        net.get_submodule(f.module)
    assert hook_count(net) == 0


@pytest.mark.parametrize("name", ["fcn8s", "unet_lite0", "lraspp"])
def test_feature_hooks_are_removed_when_the_forward_raises(name):
    net = tiny(name)
    with pytest.raises(ValueError, match="3-channel"):
        net(torch.rand(1, 1, 32, 32))
    assert hook_count(net) == 0


@pytest.mark.parametrize("name", sorted(TINY))
def test_checkpoints_round_trip(name, tmp_path):
    net = tiny(name, classes=list("abcde"), input_size=(32, 40))
    with torch.no_grad():  # move the batch-norm statistics off their defaults
        net.train()(torch.rand(2, 3, 32, 40))
    path = segment.save(net, tmp_path / name, extra={"note": "test"})
    meta = models.read_checkpoint_meta(path)  # the one checkpoint format of cnnlab
    assert meta["card"]["name"] == name and meta["extra"] == {"task": "segmentation", "note": "test"}
    back = segment.load(path)
    assert not back.training and back.cnnlab.classes == list("abcde") and back.cnnlab.input_size == (3, 32, 40)
    x = torch.rand(2, 3, 32, 40)
    torch.testing.assert_close(back(x), net.eval()(x))


def test_load_refuses_a_classifier_checkpoint(tmp_path):
    models.save_checkpoint(tmp_path / "lenet", models.create("lenet5"))
    with pytest.raises(ValueError, match="holds 'lenet5', not a segmenter"):
        segment.load(tmp_path / "lenet")


def test_segnet_returns_odd_sizes_exactly_and_unpools_like_the_reference():
    net = segment.create("segnet_basic", num_classes=11, width=4)
    sizes = []
    handle = net.unpool.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:])))
    try:
        assert net(torch.rand(1, 3, 360, 480)).shape == (1, 11, 360, 480)
    finally:
        handle.remove()
    assert sizes == [(45, 60), (90, 120), (180, 240), (360, 480)]  # unpooled from 23x30 (Caffe's ceil pooling)
    # the same pooling and unpooling as the NumPy reference's switches, on an odd size
    x = torch.randn(2, 3, 45, 61, dtype=torch.float64)
    y, idx = net.pool(x)
    ref = reference.max_pool2d(x.numpy(), 2, 2, ceil_mode=True)
    np.testing.assert_allclose(y.numpy(), ref.y)
    assert torch.equal(idx, torch.from_numpy(ref.switches))
    up = net.unpool(y, idx, output_size=(45, 61))
    np.testing.assert_allclose(up.numpy(), reference.max_unpool2d(ref.y, ref.switches, (45, 61)))


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_initialised_transposed_convolution_is_bilinear_interpolation(factor):
    up = segment.bilinear_upsampler(3, factor)
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    ours = F.conv_transpose2d(x, up.weight.double(), stride=factor, padding=factor // 2)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == ref.shape == (2, 3, 7 * factor, 9 * factor)
    b = factor  # zero padding of the transposed convolution differs from edge clamping within one input pixel
    torch.testing.assert_close(ours[..., b:-b, b:-b], ref[..., b:-b, b:-b])
    with pytest.raises(ValueError, match="even integer"):
        segment.bilinear_upsampler(3, 3)


def test_fcn_skips_start_at_zero_so_fcn8s_begins_as_its_coarse_path():
    net = tiny("fcn8s").eval()
    assert all(float(c.weight.detach().abs().sum()) == 0 for c in list(net.scores)[:-1])
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        feats = net.encoder(x)
        y = net.scores[-1](feats[-1])
        for i in (1, 0):
            y = segment.match_size(net.ups[i](y), feats[i].shape)
        coarse = segment.match_size(net.upsample(y), x.shape)
        torch.testing.assert_close(net(x), coarse)


def test_unet_lite0_takes_efficientnet_lite0_s_pretrained_maps_by_name():
    net = segment.create("unet_lite0", num_classes=11).eval()
    ref = models.create("efficientnet_lite0", weights="imagenet").eval()
    mine = net.encoder.backbone.state_dict()
    for k, v in ref.state_dict().items():
        if not k.startswith("_fc."):
            assert torch.equal(mine[k], v), k
    names = [f.module for f in models.feature_info(ref)]
    assert net.encoder.names == ["_blocks.0", "_blocks.2", "_blocks.4", "_blocks.10", "_conv_head"]
    assert set(net.encoder.names) <= set(names) and net.encoder.strides == [2, 4, 8, 16, 32]
    store = {}
    handles = [ref.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: store.setdefault(n, o))
               for n in net.encoder.names]
    x = torch.rand(1, 3, 90, 120)
    try:
        with torch.no_grad():
            ref(x)
            feats = net.encoder(x)
    finally:
        for h in handles:
            h.remove()
    for n, f, s in zip(net.encoder.names, feats, net.encoder.strides):
        torch.testing.assert_close(f, store[n])
        assert f.shape[-2:] == (-(-90 // s), -(-120 // s))  # TensorFlow SAME: ceil(size / stride)


def test_encoder_and_create_name_bad_arguments():
    with pytest.raises(ValueError, match=r"no feature map of stride 32 \(strides: \[1, 2, 4\]\)"):
        segment.FeatureEncoder("resnet_small", strides=[32])
    with pytest.raises(ValueError, match="records no feature map 'layer9'"):
        segment.FeatureEncoder("resnet_small", features=["layer9"])
    with pytest.raises(ValueError, match="2 class names for num_classes=5"):
        segment.create("unet", num_classes=5, classes=["a", "b"])
    with pytest.raises(ValueError, match="unknown segmenter 'unet3'"):
        segment.create("unet3", num_classes=5)
