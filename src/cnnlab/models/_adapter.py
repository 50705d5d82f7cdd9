"""Input adapters: resize and channel conversion in front of a network's normalisation layer.

Transfer learning feeds a network data it was not built for (28x28 grey Fashion-MNIST into the 224x224 RGB
ImageNet EfficientNet-Lite0). The adapter makes that explicit and part of the model: it replaces
``model.normalize`` (still the first layer, still taking [0, 1] pixels), and its settings are recorded in the
model card's ``kwargs["input_adapter"]``, so :func:`cnnlab.models.load_checkpoint` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

_MODES = ("bilinear", "bicubic", "nearest")


class InputAdapter(nn.Module):
    """``x -> normalize(resize(to_channels(x)))``: grey -> RGB by repeating the channel, RGB -> grey by luma,
    then a resize to ``size``; the wrapped normalisation runs last.

    Args:
        inner: the network's own normalisation layer (kept as ``inner``; ``mean``/``std`` read through).
        in_channels: channels of the images the adapted model takes.
        size: ``(h, w)`` the network sees, or ``None`` to keep the input size.
        interpolation: ``"bilinear"`` (default), ``"bicubic"`` or ``"nearest"``; antialiased when shrinking.

    Example:
        >>> from cnnlab import models
        >>> m = models.create("efficientnet_lite0", num_classes=10,
        ...                   input_adapter={"in_channels": 1, "size": [64, 64]})
        >>> m(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, inner: nn.Module, *, in_channels: int, size: Sequence[int] | None = None,
                 interpolation: str = "bilinear") -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels not in (1, 3):
            raise ValueError(f"input adapter in_channels must be 1 or 3, got {in_channels!r}")
        if size is not None:
            if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
                raise ValueError(f"input adapter size must be two positive integers (h, w), got {size!r}")
            size = (int(size[0]), int(size[1]))
        if interpolation not in _MODES:
            raise ValueError(f"interpolation must be one of {', '.join(_MODES)}, got {interpolation!r}")
        self.inner = inner
        self.in_channels, self.size, self.interpolation = in_channels, size, interpolation
        mean = getattr(inner, "mean", None)
        self.out_channels = int(mean.shape[1]) if mean is not None else in_channels

    @property
    def mean(self) -> Tensor:
        return self.inner.mean

    @property
    def std(self) -> Tensor:
        return self.inner.std

    def spec(self) -> dict[str, Any]:
        """The JSON settings that rebuild this adapter (stored in the model card)."""
        return {"in_channels": self.in_channels, "size": list(self.size) if self.size else None,
                "interpolation": self.interpolation}

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected a batch of {self.in_channels}-channel images (N, {self.in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        if self.out_channels != self.in_channels:
            from cnnlab.data import to_channels

            x = to_channels(x, self.out_channels)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            shrink = x.shape[-2] > self.size[0] or x.shape[-1] > self.size[1]
            kw = {} if self.interpolation == "nearest" else {"align_corners": False, "antialias": shrink}
            x = F.interpolate(x, size=self.size, mode=self.interpolation, **kw)
        return self.inner(x)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, size={self.size}, interpolation={self.interpolation!r}"
