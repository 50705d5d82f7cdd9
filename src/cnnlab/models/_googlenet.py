"""GoogLeNet (Szegedy et al. 2015): Inception modules with parallel 1x1, 3x3, 5x5 and pooling branches,
1x1 reductions before the large kernels, concatenation, and global average pooling before the classifier.

torchvision's GoogLeNet uses a 3x3 kernel where the paper's "5x5" branch is; ``fivebyfive=3`` reproduces it
(and its parameter count), the default 5 follows the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlab.models._api import FeatureInfo, Normalize, default_stats, register_model


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size: int, **kw) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels: c1 + c3 + c5 + pool_proj outputs."""

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int,
                 fivebyfive: int = 5) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, padding=1))
        self.branch3 = nn.Sequential(
            BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, fivebyfive, padding=fivebyfive // 2)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pool_proj, 1)
        )
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) from the paper's Table 1.
_IMAGENET = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(self, *, num_classes: int, in_channels: int, dropout: float = 0.2, fivebyfive: int = 5,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.conv1 = BasicConv2d(in_channels, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for k in ("3a", "3b"):
            setattr(self, f"inception{k}", Inception(*_IMAGENET[k], fivebyfive=fivebyfive))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for k in ("4a", "4b", "4c", "4d", "4e"):
            setattr(self, f"inception{k}", Inception(*_IMAGENET[k], fivebyfive=fivebyfive))
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        for k in ("5a", "5b"):
            setattr(self, f"inception{k}", Inception(*_IMAGENET[k], fivebyfive=fivebyfive))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.classifier_name, self.pool_name = "fc", "avgpool"
        self.feature_info = [FeatureInfo("conv1", 64, 2), FeatureInfo("conv3", 192, 4),
                             FeatureInfo("inception3b", 480, 8),
                             FeatureInfo("inception4e", 832, 16), FeatureInfo("inception5b", 1024, 32)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool1(self.conv1(self.normalize(x)))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for k in ("4a", "4b", "4c", "4d", "4e"):
            x = getattr(self, f"inception{k}")(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


class SmallGoogLeNet(nn.Module):
    """A 3x3 stem and four Inception modules for 28x28 / 32x32 inputs."""

    def __init__(self, *, num_classes: int, in_channels: int, dropout: float = 0.2, fivebyfive: int = 5,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.conv1 = BasicConv2d(in_channels, 48, 3, padding=1)
        self.inception1a = Inception(48, 16, 24, 32, 4, 8, 8, fivebyfive=fivebyfive)  # -> 64
        self.inception1b = Inception(64, 32, 32, 48, 8, 24, 16, fivebyfive=fivebyfive)  # -> 120
        self.maxpool1 = nn.MaxPool2d(3, stride=2, padding=1)  # 28 -> 14
        self.inception2a = Inception(120, 48, 24, 52, 4, 12, 16, fivebyfive=fivebyfive)  # -> 128
        self.inception2b = Inception(128, 64, 48, 96, 12, 32, 32, fivebyfive=fivebyfive)  # -> 224
        self.maxpool2 = nn.MaxPool2d(3, stride=2, padding=1)  # 14 -> 7
        self.inception3a = Inception(224, 96, 48, 128, 12, 32, 32, fivebyfive=fivebyfive)  # -> 288
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(288, num_classes)
        self.classifier_name, self.pool_name = "fc", "avgpool"
        self.feature_info = [FeatureInfo("inception1b", 120, 1), FeatureInfo("inception2b", 224, 2),
                             FeatureInfo("inception3a", 288, 4)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool1(self.inception1b(self.inception1a(self.conv1(self.normalize(x)))))
        x = self.maxpool2(self.inception2b(self.inception2a(x)))
        x = self.inception3a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


@register_model("googlenet", family="googlenet", input_size=(3, 224, 224))
def googlenet(*, num_classes: int, in_channels: int, **kw) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, in_channels=in_channels, **kw)


@register_model("googlenet_small", family="googlenet", input_size=(1, 28, 28), small=True)
def googlenet_small(*, num_classes: int, in_channels: int, **kw) -> SmallGoogLeNet:
    return SmallGoogLeNet(num_classes=num_classes, in_channels=in_channels, **kw)
