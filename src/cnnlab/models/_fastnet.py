"""FastNet: the smallest network that trains Fashion-MNIST to 90% test accuracy in a few CPU seconds.

Three conv3x3-BN-ReLU stages with 2x2 max pooling, a global max pool and one linear layer, in the spirit of the
fast CIFAR-10 training scripts (Page 2018; Jordan's airbench 2024): batch norm allows a high learning rate and
the early pooling keeps the work per image ~1.1 M multiply-adds at 28x28 (the PyTorch MNIST example net needs
~12 M).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlab.models._api import Normalize, default_stats, register_model, sequential_stages


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FastNet(nn.Module):
    """conv-BN-ReLU(w1) -> pool -> conv-BN-ReLU(w2) -> pool -> conv-BN-ReLU(w3) -> global max pool -> linear."""

    def __init__(self, *, num_classes: int, in_channels: int, widths: Sequence[int] = (16, 32, 64),
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        if len(widths) != 3 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be three positive integers, got {list(widths)}")
        w1, w2, w3 = (int(w) for w in widths)
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.features = nn.Sequential(_conv_bn(in_channels, w1), nn.MaxPool2d(2), _conv_bn(w1, w2), nn.MaxPool2d(2),
                                      _conv_bn(w2, w3))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        self.classifier_name, self.pool_name = "fc", None  # global *max* pooling: no CAM
        self.feature_info = sequential_stages(self.features, "features", in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(self.normalize(x))).flatten(1))


@register_model("fastnet_small", family="fastnet", input_size=(1, 28, 28), small=True)
def fastnet_small(*, num_classes: int, in_channels: int, **kw) -> FastNet:
    return FastNet(num_classes=num_classes, in_channels=in_channels, **kw)
