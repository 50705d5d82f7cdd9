"""VGG (Simonyan & Zisserman 2015): blocks of 3x3 convolutions (stride 1, padding 1) and 2x2 max pooling,
built from a config list; three FC layers. Most parameters sit in the FC layers, most memory in the convs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlab.models._api import Normalize, default_stats, register_model, sequential_stages

# Numbers are 3x3 conv widths, "M" a 2x2/2 max pool.
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg_small": [32, 32, "M", 64, 64, "M", 128, 128, "M"],
}


def make_layers(config: Sequence[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """Turn a config list into ``features``."""
    layers: list[nn.Module] = []
    c = in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.Conv2d(c, int(v), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(v)))
            layers.append(nn.ReLU(inplace=True))
            c = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, config: Sequence[int | str], *, num_classes: int, in_channels: int, pool: int,
                 hidden: int, dropout: float, batch_norm: bool, mean: Sequence[float] | None,
                 std: Sequence[float] | None) -> None:
        super().__init__()
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.features = make_layers(config, in_channels, batch_norm)
        width = [v for v in config if v != "M"][-1]
        self.avgpool = nn.AdaptiveAvgPool2d(pool)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(width) * pool * pool, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.classifier_name, self.pool_name = "classifier.7", None  # 3 FC layers after the pool: no CAM
        self.feature_info = sequential_stages(self.features, "features", in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(self.normalize(x))))


def _builder(name: str, pool: int, hidden: int, small: bool, input_size: tuple[int, int, int]):
    @register_model(name, family="vgg", input_size=input_size, small=small)
    def build(*, num_classes: int, in_channels: int, dropout: float = 0.5, batch_norm: bool = small,
              mean=None, std=None) -> VGG:
        return VGG(CONFIGS[name], num_classes=num_classes, in_channels=in_channels, pool=pool, hidden=hidden,
                   dropout=dropout, batch_norm=batch_norm, mean=mean, std=std)

    build.__name__ = name
    build.__doc__ = f"VGG config {name!r}: {CONFIGS[name]}."
    return build


vgg11 = _builder("vgg11", 7, 4096, False, (3, 224, 224))
vgg16 = _builder("vgg16", 7, 4096, False, (3, 224, 224))
vgg_small = _builder("vgg_small", 1, 256, True, (1, 28, 28))
