"""AlexNet (Krizhevsky et al. 2012): 11x11/4 conv, local response normalisation, overlapping 3x3/2 max
pooling, dropout and three fully connected layers. Also torchvision's layout and a small-input variant."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlab.models._api import Normalize, default_stats, register_model, sequential_stages


class AlexNet(nn.Module):
    """A ``features -> avgpool -> classifier`` network; the three builders below fill it."""

    def __init__(self, features: nn.Sequential, pool: int, flat: int, hidden: int, num_classes: int,
                 dropout: float, in_channels: int, mean: Sequence[float] | None,
                 std: Sequence[float] | None) -> None:
        super().__init__()
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(flat * pool * pool, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        self.classifier_name, self.pool_name = "classifier.7", None  # AdaptiveAvgPool2d(pool) + 3 FC: no CAM
        self.feature_info = sequential_stages(features, "features", in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(self.normalize(x))))


def _lrn() -> nn.LocalResponseNorm:
    # The paper's constants: n = 5, alpha = 1e-4, beta = 0.75, k = 2.
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


@register_model("alexnet", family="alexnet", input_size=(3, 224, 224))
def alexnet(*, num_classes: int, in_channels: int, dropout: float = 0.5, mean=None, std=None) -> AlexNet:
    """The paper's network on one device: 96-256-384-384-256 filters, LRN after conv1 and conv2."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True), _lrn(),
        nn.MaxPool2d(3, 2),  # 55 -> 27
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True), _lrn(), nn.MaxPool2d(3, 2),  # -> 13
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),  # -> 6
    )
    return AlexNet(features, 6, 256, 4096, num_classes, dropout, in_channels, mean, std)


@register_model("alexnet_tv", family="alexnet", input_size=(3, 224, 224))
def alexnet_tv(*, num_classes: int, in_channels: int, dropout: float = 0.5, mean=None, std=None) -> AlexNet:
    """torchvision's single-stream layout (64-192-384-256-256, no LRN); same parameter count."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
    )
    return AlexNet(features, 6, 256, 4096, num_classes, dropout, in_channels, mean, std)


@register_model("alexnet_small", family="alexnet", input_size=(1, 28, 28), small=True)
def alexnet_small(*, num_classes: int, in_channels: int, dropout: float = 0.5, mean=None,
                  std=None) -> AlexNet:
    """AlexNet's shape for 28x28 / 32x32 inputs: 5x5 stem, LRN, overlapping pooling, 3 FC layers."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 48, 5, padding=2), nn.ReLU(inplace=True), _lrn(),
        nn.MaxPool2d(3, 2),  # 28 -> 13, 32 -> 15
        nn.Conv2d(48, 96, 5, padding=2), nn.ReLU(inplace=True), _lrn(), nn.MaxPool2d(3, 2),  # -> 6 / 7
        nn.Conv2d(96, 128, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(128, 96, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),  # -> 2 / 3
    )
    return AlexNet(features, 2, 96, 512, num_classes, dropout, in_channels, mean, std)
