"""Every registered method on real cnnlab architectures: shapes, targets, CAM identities, occlusion against a
slow loop, errors at the public boundary."""

import pytest
import torch

from cnnlab import _device, explain, models

MODELS = {
    "lenet5": lambda: models.create("lenet5", activation="relu"),
    "resnet_small": lambda: models.create("resnet_small", widths=(4, 8, 8)),
    "efficientnet_lite0_small": lambda: models.create("efficientnet_lite0_small", in_channels=3, width=0.25),
}
SIZE = {"lenet5": (1, 28, 28), "resnet_small": (1, 28, 28), "efficientnet_lite0_small": (3, 32, 32)}


def options(method, model_name):
    if method == "occlusion":
        return {"window": 8, "stride": 8}
    return {}


@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("method", explain.names())
def test_shapes_finite_and_batched(method, model_name):
    net = MODELS[model_name]().eval()
    x = torch.rand(3, *SIZE[model_name])
    if method == "cam" and model_name == "lenet5":
        with pytest.raises(ValueError, match="CAM needs"):
            explain.explain(method, net, x, 1)
        return
    out = explain.explain(method, net, x, torch.tensor([1, 2, 3]), **options(method, model_name))
    channels = 1 if explain.METHODS.info(method)["kind"] == "layer" or method == "saliency" else x.shape[1]
    assert out.shape == (3, channels, *x.shape[2:]) and out.dtype == x.dtype and torch.isfinite(out).all()
    # batched = one sample at a time
    one = explain.explain(method, net, x[1:2], 2, **options(method, model_name))
    assert float((out[1:2] - one).abs().max()) <= 1e-4 * float(one.abs().max()) + 1e-12


def test_target_forms_agree():
    net = MODELS["resnet_small"]().eval()
    x = torch.rand(2, 1, 28, 28)
    out = net(x).detach()
    a = explain.saliency(net, x, torch.tensor([4, 1]))
    torch.testing.assert_close(a, explain.saliency(net, x, [4, 1]))
    torch.testing.assert_close(a, explain.saliency(net, x, lambda o: o[:, [4, 1]].diagonal()))
    torch.testing.assert_close(explain.gradcam(net, x, None), explain.gradcam(net, x, out.argmax(1)))
    torch.testing.assert_close(explain.saliency(net, x, 3)[1:], explain.saliency(net, x[1:], 3))


def test_saliency_is_the_absolute_gradient_reduced_over_channels():
    net = MODELS["efficientnet_lite0_small"]().eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    (g,) = torch.autograd.grad(net(x)[:, 5].sum(), x)
    torch.testing.assert_close(explain.saliency(net, x, 5), g.abs().amax(1, keepdim=True))
    torch.testing.assert_close(explain.saliency(net, x, 5, reduce="sum"), g.abs().sum(1, keepdim=True))
    torch.testing.assert_close(explain.saliency(net, x, 5, reduce=None, absolute=False), g)
    assert not x.grad  # the caller's tensor is untouched


@pytest.mark.parametrize("model_name", ["resnet_small", "efficientnet_lite0_small"])
def test_cam_is_the_class_score_map(model_name):
    net = MODELS[model_name]().eval()
    x, t = torch.rand(3, *SIZE[model_name]), torch.tensor([0, 5, 9])
    cam = explain.cam(net, x, t, upsample_to_input=False)
    fc = net.fc if model_name == "resnet_small" else net._fc
    torch.testing.assert_close(cam.mean((1, 2, 3)) + fc.bias[t], net(x).gather(1, t[:, None])[:, 0].detach(),
                               rtol=1e-4, atol=1e-5)
    # for a GAP + linear head Grad-CAM before its ReLU is CAM / (h * w) (Selvaraju et al., sec. 3.1)
    pool_input = "layer3" if model_name == "resnet_small" else "act"
    gc = explain.gradcam(net, x, t, layer=pool_input, relu=False, upsample_to_input=False)
    torch.testing.assert_close(gc * cam.shape[-1] * cam.shape[-2], cam, rtol=1e-4, atol=1e-5)


def test_occlusion_equals_a_slow_loop_and_bf16_ranks_alike(monkeypatch):
    monkeypatch.setattr(_device, "cpu_has_native", lambda dtype: True)  # as on an AVX-512 / AMX CPU
    net = MODELS["lenet5"]().eval()
    x, t = torch.rand(2, 1, 28, 28), torch.tensor([3, 8])
    ours = explain.occlusion(net, x, t, window=(6, 9), stride=(5, 4), fill=0.2, batch_size=5)
    with torch.no_grad():
        base = net(x)[[0, 1], t]
        total, count = torch.zeros(2, 28, 28), torch.zeros(28, 28)
        for y in [0, 5, 10, 15, 20, 25]:  # the last windows are clipped at the border
            for x0 in [0, 4, 8, 12, 16, 20]:
                occ = x.clone()
                occ[:, :, y:y + 6, x0:x0 + 9] = 0.2
                total[:, y:y + 6, x0:x0 + 9] += (base - net(occ)[[0, 1], t])[:, None, None]
                count[y:y + 6, x0:x0 + 9] += 1
    torch.testing.assert_close(ours[:, 0], total / count, rtol=1e-5, atol=1e-6)
    half = explain.occlusion(net, x, t, window=(6, 9), stride=(5, 4), fill=0.2, dtype=torch.bfloat16)
    assert half.dtype == torch.float32
    assert explain.spearman(half, ours).min() > 0.9
    monkeypatch.setattr(_device, "cpu_has_native", lambda dtype: dtype != torch.bfloat16)
    with pytest.raises(ValueError, match=r"dtype \(bfloat16 autocast\) on this CPU .* emulated"):
        explain.occlusion(net, x, t, window=6, dtype=torch.bfloat16)


class _ViewNet(torch.nn.Module):
    """Flattens with .view(), which a channels-last feature map cannot take."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        f = torch.relu(self.conv(x))
        return self.fc(f.view(f.shape[0], -1))


@pytest.mark.parametrize("net", [MODELS["resnet_small"](), _ViewNet()], ids=["resnet_small", "view"])
def test_occlusion_channels_last_batches_give_the_same_maps(net):
    net.eval()
    x, t = torch.rand(2, 1, 28, 28), torch.tensor([1, 7])
    plain = explain.occlusion(net, x, t, window=7, stride=3, channels_last=False, batch_size=16)
    fast = explain.occlusion(net, x, t, window=7, stride=3, batch_size=16)  # _ViewNet falls back after one pass
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    assert next(net.parameters()).is_contiguous()  # the model itself is untouched


def test_upsample_and_normalize_helpers():
    m = torch.arange(4.0).view(1, 1, 2, 2)
    up = explain.upsample(m, (4, 4))
    torch.testing.assert_close(up, torch.nn.functional.interpolate(m, (4, 4), mode="bilinear", align_corners=False))
    assert explain.upsample(m, torch.zeros(3, 2, 2)) is m
    n = explain.normalize_maps(torch.tensor([[[[2.0, 4.0], [6.0, 10.0]]]]))
    torch.testing.assert_close(n.flatten(), torch.tensor([0.0, 0.25, 0.5, 1.0]))
    rgb = explain.overlay(torch.rand(1, 8, 8), torch.rand(1, 2, 2))
    assert rgb.shape == (3, 8, 8) and 0 <= rgb.min() and rgb.max() <= 1


@pytest.mark.parametrize("call, error, message", [
    (lambda n, x: explain.saliency(n, x, 10), ValueError, r"target must be in \[0, 9\], got 10"),
    (lambda n, x: explain.saliency(n, x, [1, 2, 3]), ValueError, "one class per sample"),
    (lambda n, x: explain.saliency(n, x, 1.5), TypeError, "integer classes"),
    (lambda n, x: explain.saliency(n, x, lambda o: o.sum()), ValueError, "one score per sample"),
    (lambda n, x: explain.saliency(n, x[0], 1), ValueError, r"Tensor\[N, C, H, W\]"),
    (lambda n, x: explain.saliency(n, x, 1, reduce="mean"), ValueError, "reduce must be"),
    (lambda n, x: explain.gradcam(n, x, 1, layer="features.9"), ValueError, "no layer 'features.9'"),
    (lambda n, x: explain.gradcam(n, x, 1, layer=torch.nn.Conv2d(1, 1, 1)), ValueError, "not a module"),
    (lambda n, x: explain.occlusion(n, x, 1, window=40), ValueError, "window 40 is larger than the 28x28 image"),
    (lambda n, x: explain.occlusion(n, x, 1, window=0), ValueError, "window must be a positive int"),
    (lambda n, x: explain.explain("gradcma", n, x), ValueError, "did you mean gradcam"),
])
def test_bad_input_names_the_value(call, error, message):
    net = MODELS["lenet5"]().eval()
    with pytest.raises(error, match=message):
        call(net, torch.rand(2, 1, 28, 28))


def test_results_follow_the_input_dtype_and_device():
    net = MODELS["lenet5"]().double().eval()
    x = torch.rand(2, 1, 28, 28, dtype=torch.double)
    for m in ("saliency", "guided", "gradcam", "occlusion"):
        out = explain.explain(m, net, x, 1)
        assert out.dtype == torch.double and out.device == x.device
