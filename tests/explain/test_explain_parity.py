"""Parity with Captum (Saliency, Deconvolution, GuidedBackprop, LayerGradCam + interpolate, GuidedGradCam,
Occlusion) on networks built from nn.ReLU, and with pytorch-grad-cam's GradCAM on torchvision ResNet-18."""

import captum.attr as ca
import pytest
import torch
from torch import nn

from cnnlab import explain

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def relu_net(pool="max"):
    torch.manual_seed(1)
    pooling = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), pooling,
        nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
        nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    ).double().eval()


def close(a, b, tol=1e-5):
    """Equal to ``tol`` relative to the map's scale (maps of random nets are small)."""
    a, b = a.detach(), b.detach()
    assert a.shape == b.shape
    scale = float(b.abs().max())
    assert scale > 0
    err = float((a - b).abs().max())
    assert err <= tol * scale, f"max error {err:.3g} vs scale {scale:.3g}"


@pytest.fixture
def batch():
    torch.manual_seed(2)
    return torch.rand(3, 3, 16, 16, dtype=torch.double), torch.tensor([0, 3, 1])


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_gradient_methods_equal_captum(pool, batch):
    net, (x, t) = relu_net(pool), batch
    close(explain.saliency(net, x, t, reduce=None), ca.Saliency(net).attribute(x, target=t))
    close(explain.saliency(net, x, t, reduce="max"), ca.Saliency(net).attribute(x, target=t).amax(1, keepdim=True))
    close(explain.deconvnet(net, x, t), ca.Deconvolution(net).attribute(x, target=t))
    close(explain.guided_backprop(net, x, t), ca.GuidedBackprop(net).attribute(x, target=t))
    # the three really differ on this net, so the comparisons above are not vacuous
    assert not torch.allclose(explain.deconvnet(net, x, t), explain.guided_backprop(net, x, t))


@pytest.mark.parametrize("layer, mode", [("6", "bilinear"), ("5", "nearest"), ("3", "bilinear")])
def test_gradcam_equals_captum_layergradcam_plus_interpolate(layer, mode, batch):
    net, (x, t) = relu_net(), batch
    lgc = ca.LayerGradCam(net, net.get_submodule(layer))
    raw = lgc.attribute(x, target=t, relu_attributions=True)
    close(explain.gradcam(net, x, t, layer=layer, upsample_to_input=False), raw)
    ref = ca.LayerAttribution.interpolate(raw, (16, 16), interpolate_mode=mode)
    close(explain.gradcam(net, x, t, layer=net.get_submodule(layer), mode=mode), ref)
    signed = lgc.attribute(x, target=t, relu_attributions=False)
    close(explain.gradcam(net, x, t, layer=layer, relu=False, upsample_to_input=False), signed)


def test_guided_gradcam_equals_captum(batch):
    net, (x, t) = relu_net(), batch
    ref = ca.GuidedGradCam(net, net[6]).attribute(x, target=t, interpolate_mode="nearest")
    close(explain.guided_gradcam(net, x, t, layer="6", mode="nearest"), ref)
    ref = ca.GuidedGradCam(net, net[6]).attribute(x, target=t, interpolate_mode="bilinear")
    close(explain.guided_gradcam(net, x, t, layer="6"), ref)


@pytest.mark.parametrize("window, stride, fill", [(4, 2, 0.3), (5, 3, 0.0), ((3, 6), (2, 4), 1.0), (16, 16, 0.5)])
def test_occlusion_equals_captum(window, stride, fill, batch):
    net, (x, t) = relu_net(), batch
    w = (window, window) if isinstance(window, int) else window
    s = (stride, stride) if isinstance(stride, int) else stride
    ref = ca.Occlusion(net).attribute(x, sliding_window_shapes=(3, *w), strides=(3, *s), baselines=fill, target=t)
    close(explain.occlusion(net, x, t, window=window, stride=stride, fill=fill, batch_size=7), ref)


def test_gradcam_equals_pytorch_grad_cam_on_resnet18():
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(num_classes=10).eval()
    x, t = torch.rand(2, 3, 64, 64), [3, 7]
    with GradCAM(model=net, target_layers=[net.layer4[-1]]) as cam:
        ref = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in t]))[:, None]
    ours = explain.gradcam(net, x, torch.tensor(t), layer="layer4.1", upsample_to_input=False)
    # pytorch-grad-cam: min-max scale per image (eps 1e-7) at the layer's resolution, then resize (OpenCV, linear)
    lo = ours.amin((1, 2, 3), keepdim=True)
    scaled = (ours - lo) / (1e-7 + (ours - lo).amax((1, 2, 3), keepdim=True))
    close(explain.upsample(scaled, (64, 64)), ref.float(), tol=1e-4)
    assert ref.amax() > 0.99 and ours.std() > 0
