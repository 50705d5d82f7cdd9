"""LeNet-5 (LeCun et al. 1998): two 5x5 conv + subsampling stages, then 120-84-classes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from cnnlab.analysis._sizes import padding_for_output
from cnnlab.models._api import Normalize, default_stats, register_model, sequential_stages

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class LeNet5(nn.Module):
    """C1 6@5x5 -> S2 pool -> C3 16@5x5 -> S4 pool -> C5 120 -> F6 84 -> classes.

    The paper's input is 32x32; for 28x28 images C1 pads by 2 so the feature sizes are the paper's.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        image_size: int = 28,
        activation: str = "tanh",
        pool: str = "avg",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        if image_size not in (28, 32):
            raise ValueError(f"image_size must be 28 or 32, got {image_size}")
        act, pooling = _ACTIVATIONS[activation], nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        d_mean, d_std = default_stats(in_channels)
        self.normalize = Normalize(mean or d_mean, std or d_std)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=padding_for_output(image_size, 28, 5)), act(), pooling(2),  # -> 14
            nn.Conv2d(6, 16, 5), act(), pooling(2),  # 10x10 -> 5x5
            nn.Conv2d(16, 120, 5), act(),  # 1x1
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))
        self.classifier_name, self.pool_name = "classifier.3", None
        self.feature_info = sequential_stages(self.features, "features", in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(self.normalize(x)))


@register_model("lenet5", family="lenet", input_size=(1, 28, 28), small=True)
def lenet5(*, num_classes: int, in_channels: int, **kw) -> LeNet5:
    return LeNet5(num_classes=num_classes, in_channels=in_channels, **kw)
