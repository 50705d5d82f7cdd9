"""Plain and residual networks of any depth: the CIFAR networks of He et al. 2016 (section 4.2).

A 3x3 stem convolution, three stages of ``n`` blocks of two 3x3 convolutions (widths ``w, 2w, 4w``; the first
block of stages 2 and 3 halves the resolution with stride 2), global average pooling and one linear layer:
``6n + 2`` weighted layers, each convolution followed by batch norm. ``residual=True`` adds the identity
shortcut ``y = relu(F(x) + x)`` around every block; where a block changes shape the shortcut subsamples and
pads the new channels with zeros (the paper's option A, no parameters), so the plain and the residual network of
a depth have exactly the same parameters. ``residual=False`` is the paper's "plain" baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.models._api import FeatureInfo, Normalize, default_stats, register_model


class DepthBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN (+ identity shortcut) -ReLU (without batch norm: biased convs, no BN)."""

    def __init__(self, cin: int, cout: int, stride: int, residual: bool, batch_norm: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.residual, self.stride, self.extra = residual, stride, cout - cin

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
            if self.extra:  # option A: zero channels for the wider output
                short = F.pad(short, (0, 0, 0, 0, 0, self.extra))
            out = out + short
        return self.relu(out)

    def extra_repr(self) -> str:
        return f"residual={self.residual}"


class DepthNet(nn.Module):
    """``depth = 6n + 2`` layers; see the module docstring.

    Args:
        depth: 8, 14, 20, 26, 32, 44, 56, 110, ... (``6n + 2``).
        residual: identity shortcuts (ResNet) or none (the plain network).
        width: channels of the first stage (16 in the paper).
        batch_norm: batch norm after every conv (the paper); ``False`` gives biased convs and no normalisation
            (for the batch-norm / learning-rate claim).
    """

    def __init__(self, *, num_classes: int, in_channels: int, depth: int = 8, residual: bool = True,
                 width: int = 16, batch_norm: bool = True, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 26, 32, ...), got {depth!r}")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        n = (depth - 2) // 6
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=not batch_norm),
                                  nn.BatchNorm2d(width) if batch_norm else nn.Identity(), nn.ReLU(inplace=True))
        widths = (width, 2 * width, 4 * width)
        cin, stages, info, stride = width, [], [], 1
        for i, w in enumerate(widths):
            blocks = []
            for j in range(n):
                s = 2 if (i > 0 and j == 0) else 1
                blocks.append(DepthBlock(cin, w, s, residual, batch_norm))
                cin = w
            stride *= 2 if i > 0 else 1
            stages.append(nn.Sequential(*blocks))
            info.append(FeatureInfo(f"stages.{i}", w, stride))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.classifier_name, self.pool_name, self.feature_info = "fc", "pool", info
        self.depth, self.residual = depth, residual
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.stages(self.stem(self.normalize(x)))).flatten(1))


@register_model("plainnet_small", family="depthnet", input_size=(1, 28, 28), small=True)
def plainnet_small(*, num_classes: int, in_channels: int, **kw) -> DepthNet:
    """He et al.'s plain network: ``depth`` (6n + 2, default 8) layers, no shortcuts."""
    return DepthNet(num_classes=num_classes, in_channels=in_channels, residual=False, **kw)


@register_model("resnet_depth_small", family="depthnet", input_size=(1, 28, 28), small=True)
def resnet_depth_small(*, num_classes: int, in_channels: int, **kw) -> DepthNet:
    """The same network with identity shortcuts (option A): ``depth`` (6n + 2, default 8) layers."""
    return DepthNet(num_classes=num_classes, in_channels=in_channels, residual=True, **kw)
