"""Any cnnlab classification model as a detection backbone: its feature maps taken by name (the model card's
``features``, as timm's ``feature_info``), optionally with a feature pyramid (Lin et al. 2017, torchvision's
``FeaturePyramidNetwork``).

The classifier runs as it is: forward hooks catch the outputs of the named feature modules and the forward pass is
stopped after the deepest one (the head is never computed). The hooks exist only inside each forward call
(``try/finally``). Modules that run after the deepest feature map are replaced by ``nn.Identity`` when the backbone
is built, so the head's weights are neither counted, trained nor saved.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import ExtraFPNBlock, LastLevelMaxPool, LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d


class _Stop(Exception):
    """Raised by the hook on the deepest feature module: the rest of the classifier is not computed."""


def stage_features(model: nn.Module) -> list:
    """The model card's feature maps, one per stride (the first recorded at each stride), shallow to deep."""
    from cnnlab import models

    out, seen = [], set()
    for f in models.feature_info(model):
        if f.stride not in seen:
            seen.add(f.stride)
            out.append(f)
    return out


def select_layers(model: nn.Module, layers: Sequence[str] | None = None, strides: Sequence[int] | None = None
                  ) -> list:
    """The :class:`~cnnlab.models.FeatureInfo` of the feature maps to take: ``layers`` by module name, or the
    stage outputs at ``strides`` (default: the last three stages)."""
    from cnnlab import models

    feats = models.feature_info(model)
    if layers is not None:
        by_name = {f.module: f for f in feats}
        out = []
        for name in layers:
            if name not in by_name:
                known = ", ".join(f"{f.module} (stride {f.stride})" for f in feats)
                raise ValueError(f"backbone layer {name!r} is not a recorded feature map; feature maps: {known}")
            out.append(by_name[name])
        return out
    stages = stage_features(model)
    if strides is None:
        return stages[-3:] if len(stages) >= 3 else stages
    by_stride = {f.stride: f for f in stages}
    missing = [s for s in strides if s not in by_stride]
    if missing:
        raise ValueError(f"the backbone has no feature map at stride {missing[0]}; strides: "
                         f"{', '.join(str(f.stride) for f in stages)}")
    return [by_stride[s] for s in strides]


class FeatureBackbone(nn.Module):
    """A classifier's feature maps: ``forward(x: Tensor[N, 3, H, W] in [0, 1]) -> OrderedDict[str, Tensor]``
    with keys ``"0"``, ``"1"``, ... (shallow to deep), as torchvision's detection models expect.

    Attributes:
        body: the classifier (head modules replaced by ``nn.Identity``).
        layers: dotted names of the feature modules.
        channels, strides: per feature map.
        out_channels: channels of the deepest map (torchvision's attribute).
    """

    def __init__(self, body: nn.Module, features: Sequence, *, channels_last: bool = False) -> None:
        super().__init__()
        self.body = body
        self.channels_last = channels_last
        if channels_last:  # NHWC: depthwise and 1x1 convolutions run ~30% faster on a CPU (Lite0, fwd + bwd)
            body.to(memory_format=torch.channels_last)
        self.layers = [f.module for f in features]
        self.channels = [f.channels for f in features]
        self.strides = [f.stride for f in features]
        self.out_channels = self.channels[-1]

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        found: dict[str, Tensor] = {}
        handles = []
        last = self.layers[-1]

        def hook(name: str):
            def fn(_m, _i, out):
                found[name] = out
                if name == last:
                    raise _Stop

            return fn

        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        try:
            for name in dict.fromkeys(self.layers):
                handles.append(self.body.get_submodule(name).register_forward_hook(hook(name)))
            try:
                self.body(x)
            except _Stop:
                pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in self.layers if n not in found]
        if missing:
            raise RuntimeError(f"backbone feature module {missing[0]!r} was not run by the model's forward")
        return OrderedDict((str(i), found[n]) for i, n in enumerate(self.layers))

    def extra_repr(self) -> str:
        return f"layers={self.layers}, channels={self.channels}, strides={self.strides}, " \
            f"channels_last={self.channels_last}"


class FPNBackbone(nn.Module):
    """A :class:`FeatureBackbone` followed by torchvision's ``FeaturePyramidNetwork``: every map has
    ``out_channels`` channels; ``extra`` adds a max-pooled level (``"pool"``, Faster R-CNN) or P6/P7 (RetinaNet)."""

    def __init__(self, features: FeatureBackbone, out_channels: int, extra: str = "pool") -> None:
        super().__init__()
        self.features = features
        blocks: ExtraFPNBlock | None
        if extra == "pool":
            blocks = LastLevelMaxPool()
        elif extra == "p6p7":
            blocks = LastLevelP6P7(out_channels, out_channels)
        elif extra == "none":
            blocks = None
        else:
            raise ValueError(f"extra must be pool, p6p7 or none, got {extra!r}")
        self.fpn = FeaturePyramidNetwork(features.channels, out_channels, extra_blocks=blocks)
        self.out_channels = out_channels
        self.extra = extra

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return self.fpn(self.features(x))


def _call_order(model: nn.Module, last: str, size: int) -> list[str]:
    """Names of the leaf modules the model runs, in order, up to (and including) the module ``last``."""
    order: list[str] = []
    handles = []
    target = model.get_submodule(last)

    def pre(name):
        def fn(_m, _i):
            order.append(name)

        return fn

    def stop(_m, _i, _o):
        raise _Stop

    was = [(m, m.training) for m in model.modules()]
    try:
        for name, m in model.named_modules():
            if not list(m.children()):
                handles.append(m.register_forward_pre_hook(pre(name)))
        handles.append(target.register_forward_hook(stop))
        model.eval()
        with torch.no_grad():
            try:
                model(torch.rand(1, 3, size, size))
            except _Stop:
                pass
    finally:
        for h in handles:
            h.remove()
        for m, flag in was:
            m.training = flag
    return order


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def freeze_batchnorm(model: nn.Module) -> int:
    """Replace every ``nn.BatchNorm2d`` by torchvision's ``FrozenBatchNorm2d`` with the same statistics, affine
    parameters and eps (the detection-backbone convention: batches of 2-8 images give no useful statistics).
    Returns how many were replaced."""
    n = 0
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.BatchNorm2d):
            f = FrozenBatchNorm2d(m.num_features, eps=m.eps)
            with torch.no_grad():
                f.weight.copy_(m.weight if m.affine else torch.ones(m.num_features))
                f.bias.copy_(m.bias if m.affine else torch.zeros(m.num_features))
                if m.running_mean is not None:
                    f.running_mean.copy_(m.running_mean)
                    f.running_var.copy_(m.running_var)
            _replace(model, name, f)
            n += 1
    return n


def build_backbone(backbone: str | nn.Module = "efficientnet_lite0", *, weights: str | None = "imagenet",
                   layers: Sequence[str] | None = None, strides: Sequence[int] | None = None,
                   trainable_layers: int | None = None, freeze_bn: bool | None = None,
                   channels_last: bool = True) -> FeatureBackbone:
    """A :class:`FeatureBackbone` from a registry name (built with ``weights``) or a cnnlab model.

    Args:
        backbone: registry name or a cnnlab model (a copy is not made: the detector owns it).
        weights: the registry model's weights (``None``: random init); ignored for a model.
        layers, strides: which feature maps (see :func:`select_layers`).
        trainable_layers: how many stages, counted from the deepest, are trained; the earlier ones are frozen
            (``requires_grad=False``; no backward pass runs through them). Default: 3 with pretrained weights
            (as torchvision), all without.
        freeze_bn: batch-norm layers become ``FrozenBatchNorm2d``; default: with pretrained weights.
        channels_last: run the backbone in NHWC memory format (faster on CPUs and tensor-core GPUs; same numbers
            up to rounding).
    """
    from cnnlab import models

    if isinstance(backbone, str):
        net = models.create(backbone, weights=weights) if weights is not None else \
            models.create(backbone, in_channels=3)
        pretrained = weights is not None
    elif isinstance(backbone, nn.Module):
        net, pretrained = backbone, getattr(getattr(backbone, "cnnlab", None), "weights", None) is not None
    else:
        raise TypeError(f"backbone must be a registry name or a cnnlab model, got {type(backbone).__name__}")
    card = models.card_of(net)
    if card.input_size[0] != 3:
        raise ValueError(f"backbone {card.name!r} takes {card.input_size[0]}-channel images; detection needs RGB "
                         f"(build it with in_channels=3)")
    feats = select_layers(net, layers, strides)
    stride = max(f.stride for f in feats)
    order = _call_order(net, feats[-1].module, max(32, 2 * stride))
    used = set(order)
    for name, m in list(net.named_modules()):  # the head and anything else not run: no parameters left behind
        if name and not list(m.children()) and name not in used and (
                any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False))):
            _replace(net, name, nn.Identity())
    stages = stage_features(net)
    k = len(stages) if trainable_layers is None and not pretrained else (3 if trainable_layers is None
                                                                          else int(trainable_layers))
    if not 0 <= k <= len(stages):
        raise ValueError(f"trainable_layers must be in [0, {len(stages)}] for {card.name!r}, got {k}")
    if k < len(stages):
        boundary = stages[len(stages) - k - 1].module  # output of the last frozen stage
        inside = [i for i, n in enumerate(order) if n == boundary or n.startswith(boundary + ".")]
        frozen = set(order[: inside[-1] + 1]) if inside else set()
        for name in frozen:
            for p in net.get_submodule(name).parameters():
                p.requires_grad_(False)
    if freeze_bn if freeze_bn is not None else pretrained:
        freeze_batchnorm(net)
    return FeatureBackbone(net, feats, channels_last=channels_last)
