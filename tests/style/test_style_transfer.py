"""Style transfer and texture synthesis: the objective's gradient against finite differences (float64), the
optimisers lower the loss, colour preservation keeps the photo's chroma, blending, coarse-to-fine, cancellation,
early-stopped forward passes, the model left as found, and bad inputs as one-line errors."""

import threading

import pytest
import torch
from torch import nn

from cnnlab import data, models, style
from cnnlab.style._features import feature_taps
from cnnlab.style._transfer import TransferConfig, _Objective


def tiny_rgb_net(dtype=torch.float32):
    torch.manual_seed(0)
    return models.create("resnet_small", in_channels=3, widths=(4, 8, 8)).to(dtype).eval()


def hooks(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), len(m._backward_pre_hooks))
            for m in model.modules()]


def state(model):
    return [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]


@pytest.mark.parametrize("smoothing", [None, "softmax"])
def test_objective_gradient_equals_finite_differences(smoothing):
    net = tiny_rgb_net(torch.float64)
    cfg = TransferConfig(alpha=0.7, beta=3.0, tv_weight=0.5, smoothing=smoothing, temperature=2.0)
    content = torch.rand(3, 8, 8, dtype=torch.float64)
    styles = [torch.rand(3, 6, 10, dtype=torch.float64), torch.rand(3, 8, 8, dtype=torch.float64)]
    with models.frozen(net), feature_taps(net, ["layer1", "layer2", "conv1"]) as run:
        obj = _Objective(run, ["layer2"], ["conv1", "layer1", "layer2"], cfg)
        obj.set_targets(content, styles, [0.25, 0.75])
        x = (0.2 + 0.6 * torch.rand(1, 3, 8, 8, dtype=torch.float64)).requires_grad_(True)
        # fast mode: the finite-difference derivative along random directions against autograd's
        for seed in range(3):
            torch.manual_seed(seed)
            assert torch.autograd.gradcheck(lambda t: obj(t)["total"], (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_blended_targets_are_the_weighted_gram_matrices():
    net = tiny_rgb_net()
    a, b = torch.rand(3, 16, 16), torch.rand(3, 16, 16)
    with models.frozen(net), feature_taps(net, ["layer1"]) as run:
        obj = _Objective(run, [], ["layer1"], TransferConfig())
        obj.set_targets(None, [a, b], [0.3, 0.7])
        blended = obj.style_targets["layer1"][0]
        ga = style.gram_matrix(run(a[None])["layer1"][0])[0]
        gb = style.gram_matrix(run(b[None])["layer1"][0])[0]
    torch.testing.assert_close(blended, 0.3 * ga + 0.7 * gb)


def test_a_shared_module_gives_one_map_per_call_and_the_forward_stops_early():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act, self.head = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1)
            self.calls = 0

        def forward(self, x):
            x = self.act(self.b(self.act(self.a(x))))
            self.calls += 1
            return self.head(x)

    net = Net()
    seen = []
    h = net.head.register_forward_hook(lambda *a: seen.append(1))
    try:
        with feature_taps(net, ["act"]) as run:
            first = run(torch.rand(1, 3, 9, 9))
            assert [f.shape[-1] for f in first["act"]] == [7, 5] and len(seen) == 1  # full pass the first time
            again = run(torch.rand(1, 3, 9, 9))
            assert len(again["act"]) == 2 and len(seen) == 1  # stopped after the last tapped output
    finally:
        h.remove()
    assert hooks(net) == [(0, 0, 0, 0)] * len(list(net.modules()))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_optimiser_lowers_the_total_loss(optimizer):
    net = tiny_rgb_net()
    r = style.stylize(torch.rand(3, 24, 24), torch.rand(3, 24, 24), model=net, optimizer=optimizer, steps=25,
                      size=24, content_layers=["layer2"], style_layers=["conv1", "layer1", "layer2"], beta=10.0)
    totals = [h["total"] for h in r.history]
    assert len(totals) == 25 and totals[-1] < 0.5 * totals[0]
    assert r.image.shape == (3, 24, 24) and 0 <= r.image.min() and r.image.max() <= 1


def test_an_lbfgs_leap_uphill_restarts_from_the_best_image(lite0):
    # L-BFGS has no line search here: with too large a step it leaps uphill (without the restart this run ends
    # 20 times above its first loss, and at lr 20 in NaN); the default step never restarts
    photo, paint = data.sample_image("chelsea"), data.sample_image("brick")
    calm = style.stylize(photo, paint, model=lite0, size=64, steps=40)
    assert calm.restarts == 0
    wild = style.stylize(photo, paint, model=lite0, size=64, steps=40, lr=5.0)
    totals = [h["total"] for h in wild.history]
    assert wild.restarts >= 1 and max(totals) > style.DIVERGED * min(totals)
    assert totals[-1] < totals[0]  # it ends below where it started, at the best image it found
    assert torch.isfinite(style.stylize(photo, paint, model=lite0, size=64, steps=40, lr=20.0).image).all()


def test_colour_preservation_keeps_the_photos_chroma(lite0):
    photo = data.sample_image("coffee")
    paint = data.load_image("/work/shared/data/neural-style/examples/inputs/starry_night.jpg")
    kw = dict(model=lite0, size=64, steps=8, beta=1e4)
    kept = style.transfer(photo, paint, preserve_color=True, **kw)
    free = style.transfer(photo, paint, **kw)
    ref = style.rgb_to_yiq(torch.nn.functional.interpolate(photo[None], size=kept.shape[-2:], mode="bicubic",
                                                           antialias=True, align_corners=False)[0].clamp(0, 1))
    chroma_kept = (style.rgb_to_yiq(kept)[1:] - ref[1:]).abs().mean()
    chroma_free = (style.rgb_to_yiq(free)[1:] - ref[1:]).abs().mean()
    assert chroma_kept < 0.01 < chroma_free  # only clamping to [0, 1] moves the chroma
    luma_change = (style.luminance(kept) - ref[:1]).abs().mean()
    assert luma_change > 0.02  # the luminance was stylised


def test_coarse_to_fine_texture_grey_and_rgba_styles():
    net = tiny_rgb_net()
    layers = dict(content_layers=["layer2"], style_layers=["conv1", "layer1"])
    grey, rgba = torch.rand(1, 20, 30), torch.rand(4, 20, 20)
    out = style.transfer(torch.rand(3, 30, 40), [grey, rgba], model=net, size=(16, 32), steps=(3, 2),
                         style_weights=[2, 1], **layers)
    assert out.shape == (3, 24, 32)
    tex = style.texture(torch.rand(3, 20, 20), (12, 20), model=net, steps=3, style_layers=["conv1", "layer1"])
    assert tex.shape == (3, 12, 20)


def test_progress_snapshots_and_cancel():
    net = tiny_rgb_net()
    stop = threading.Event()
    seen = []

    def progress(p):
        seen.append((p.step, p.image is not None))
        if p.step == 4:
            stop.set()

    r = style.stylize(torch.rand(3, 16, 16), torch.rand(3, 16, 16), model=net, size=16, steps=10, snapshot_every=2,
                      content_layers=["layer1"], style_layers=["layer1"], progress=progress, cancel=stop)
    assert r.cancelled and len(r.history) == 4 and seen == [(1, False), (2, True), (3, False), (4, True)]
    assert r.image.shape == (3, 16, 16)


def mixed_state_net():
    net = models.create("resnet_small", in_channels=3, widths=(4, 8, 8))
    net.train()
    net.layer1[0].bn1.eval()
    net.fc.weight.requires_grad_(False)
    net.conv1.register_forward_hook(lambda *a: None)  # a user's own hook stays
    return net


class Boom(RuntimeError):
    pass


def test_the_model_is_left_as_found_after_a_run_and_after_an_exception():
    net = mixed_state_net()
    before = hooks(net), state(net)
    kw = dict(model=net, size=16, steps=2, content_layers=["layer2"], style_layers=["layer1", "layer2"])
    style.transfer(torch.rand(3, 16, 16), torch.rand(3, 16, 16), **kw)
    style.texture(torch.rand(3, 16, 16), 16, model=net, steps=2, style_layers=["layer1"])
    style.style_distance(torch.rand(3, 16, 16), torch.rand(3, 16, 16), model=net, layers=["layer1"])
    assert (hooks(net), state(net)) == before

    def explode(p):
        raise Boom("progress callback failed")

    with pytest.raises(Boom):
        style.transfer(torch.rand(3, 16, 16), torch.rand(3, 16, 16), progress=explode, **kw)
    assert (hooks(net), state(net)) == before
    assert all(p.grad is None for p in net.parameters())


def test_transfer_with_the_pretrained_lite0_defaults(lite0):
    before = state(lite0)
    r = style.stylize(data.sample_image("chelsea"), data.sample_image("brick"), model=lite0, size=64, steps=4)
    assert r.image.shape == (3, 43, 64) and torch.isfinite(r.image).all()
    assert r.content_layers and "normalize" in r.style_layers and r.history[-1]["style"] < r.history[0]["style"]
    assert state(lite0) == before


@pytest.mark.parametrize("kw, message", [
    ({"style_layers": ["_blocks.99"]}, r"model has no layer '_blocks\.99'"),
    ({"content_layers": ["nope"]}, r"model has no layer 'nope'"),
    ({"size": 16}, r"size 16 \(11x16\) is too small for layer '_blocks\.15'.*at least 64 px"),
    ({"size": 100_000}, "too large"),
    ({"beta": float("nan")}, "beta must be a number"),
    ({"optimizer": "sgd"}, "optimizer must be one of lbfgs, adam"),
    ({"steps": (2, 3)}, r"steps must be one count or one per size \(1\)"),
    ({"style_weights": [1, 2]}, r"one weight per style image \(1\)"),
    ({"smoothing": "gauss"}, "smoothing must be one of"),
])
def test_bad_settings_are_one_line_errors(lite0, kw, message):
    with pytest.raises(ValueError, match=message) as e:
        style.transfer(data.sample_image("chelsea"), data.sample_image("brick"), model=lite0, **{"steps": 1, **kw})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content, message", [
    (torch.full((3, 8, 8), float("nan")), "NaN"),
    (torch.rand(3, 8, 8) * 255, r"\[0, 1\].*divide by 255"),
    (torch.rand(5, 8, 8), "1, 2, 3 or 4 channels"),
    ("photo.jpg", "must be an image Tensor"),
])
def test_bad_images_are_one_line_errors(content, message):
    with pytest.raises((ValueError, TypeError), match=message):
        style.transfer(content, torch.rand(3, 8, 8), model=tiny_rgb_net(), steps=1, size=8,
                       content_layers=["conv1"], style_layers=["conv1"])


def test_a_grey_model_is_refused():
    net = models.create("resnet_small", widths=(4, 8, 8))  # 1-channel input
    with pytest.raises(ValueError, match="needs a model that takes RGB images"):
        style.transfer(torch.rand(3, 28, 28), torch.rand(3, 28, 28), model=net, steps=1, size=28)


def test_the_fast_copy_folds_batch_norm_and_leaves_the_model_alone(lite0):
    from cnnlab.style._fuse import fast_copy

    params = {k: v.clone() for k, v in lite0.state_dict().items()}
    probe = torch.rand(1, 3, 64, 64)
    layers = ["_bn0", "_blocks.4", "_blocks.10"]
    fast = fast_copy(lite0, layers, probe)
    assert fast is not lite0 and not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert all(torch.equal(v, lite0.state_dict()[k]) for k, v in params.items())
    with torch.no_grad(), feature_taps(lite0, layers) as a, feature_taps(fast, layers) as b:
        fa, fb = a(probe), b(probe)
    for n in layers:
        torch.testing.assert_close(fb[n][0], fa[n][0], rtol=1e-4, atol=1e-4)
    # a user's hook that changes an output is not copied, so the copy differs and the model itself is used
    h = lite0._blocks[2].register_forward_hook(lambda m, i, o: o * 2)
    try:
        assert fast_copy(lite0, layers, probe) is lite0
    finally:
        h.remove()
    net = models.create("vgg_small", in_channels=3).eval()
    assert fast_copy(net, ["features.2"], torch.rand(1, 3, 32, 32)) is not net  # its conv-BN-ReLU blocks fold
    assert fast_copy(net, ["features.0"], torch.rand(1, 3, 32, 32)) is net  # the conv's own output would change


def test_cue_conflict_makes_a_square_stimulus():
    net = tiny_rgb_net()
    out = style.cue_conflict(torch.rand(3, 30, 50), torch.rand(3, 20, 20), size=24, model=net, steps=(2, 2),
                             content_layers=["layer1"], style_layers=["conv1", "layer1"])
    assert out.shape == (3, 24, 24) and 0 <= out.min() and out.max() <= 1


def test_match_colors_gives_the_references_colour_mean_and_covariance_and_starts_recolored_transfers():
    import numpy as np

    from cnnlab.style._transfer import _initial

    g = torch.Generator().manual_seed(0)
    photo = (0.5 + 0.08 * torch.randn(3, 20, 30, generator=g)).clamp(0, 1)  # narrow colours: nothing is clamped
    mix = torch.tensor([[1.0, 0.3, 0.0], [0.2, 0.8, 0.1], [0.0, 0.4, 0.6]])
    paint = (0.45 + 0.1 * torch.einsum("ij,jhw->ihw", mix, torch.randn(3, 16, 16, generator=g))).clamp(0, 1)
    out = style.match_colors(photo, paint)
    o, r = out.reshape(3, -1).double().numpy(), paint.reshape(3, -1).double().numpy()  # numpy's own statistics
    np.testing.assert_allclose(o.mean(1), r.mean(1), atol=1e-5)
    np.testing.assert_allclose(np.cov(o), np.cov(r), atol=2e-5)
    assert not np.allclose(np.cov(photo.reshape(3, -1).double().numpy()), np.cov(r), atol=1e-3)  # it did move
    torch.testing.assert_close(style.match_colors(photo, photo), photo, atol=1e-4, rtol=0)
    x = _initial(None, TransferConfig(init="recolored"), photo, paint, (20, 30), g, torch.device("cpu"))
    torch.testing.assert_close(x[0], out)
    with pytest.raises(ValueError, match="reference must be RGB"):
        style.match_colors(photo, torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="init must be one of"):
        TransferConfig(init="photo")
