"""Segmentation networks: one registry, ``model(images) -> logits Tensor[N, K, H, W]`` at the input size.

- ``fcn32s`` / ``fcn16s`` / ``fcn8s`` (Long, Shelhamer & Darrell 2015): 1x1 class scores on a backbone's
  stride-32 features, upsampled by transposed convolutions initialised to bilinear interpolation; the 16s and 8s
  variants add scores from the stride-16 and stride-8 features ("skip" fusion).
- ``unet`` (Ronneberger, Fischer & Brox 2015): an encoder-decoder whose decoder concatenates the encoder's
  feature maps of the same resolution; from scratch, or ``unet_lite0`` on the pretrained EfficientNet-Lite0.
- ``segnet_basic`` (the SegNet tutorial's SegNet-Basic, Badrinarayanan et al. 2017): four encoder stages of 7x7
  convolution + batch norm + ReLU + 2x2 max pooling, four decoder stages that *unpool* with the encoder's pooling
  indices (``MaxUnpool2d``) and convolve (7x7 + batch norm, no ReLU); ``segnet``: the VGG-16 layout of the paper.
- ``deeplabv3`` (Chen et al. 2017, ASPP) and ``lraspp`` (Howard et al. 2019) heads from torchvision on a cnnlab
  backbone.

Backbones are cnnlab classifiers (``cnnlab.models.create``); their feature maps are taken by the names their
model card records (:func:`cnnlab.models.feature_info`), through forward hooks that live only inside one forward
call. Every segmenter carries a :class:`cnnlab.models.ModelCard`, so ``cnnlab.models.save_checkpoint`` writes it
and :func:`cnnlab.segment.load` rebuilds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._registry import Registry
from cnnlab.models import FeatureInfo, ModelCard, Normalize

SEGMENTERS: Registry[Callable[..., nn.Module]] = Registry("segmenter")
DEFAULT_SIZE = (360, 480)  # CamVid as prepared for SegNet


def register_segmenter(name: str, *, family: str, pretrained: bool = False, doc: str = "",
                       **defaults: Any) -> Callable:
    """Decorator adding a builder ``fn(*, num_classes, in_channels, **kw) -> nn.Module`` whose module records
    ``classifier_name`` and ``feature_info``; ``defaults`` are keyword settings of this variant (data, not flags)."""
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        def build(**kw: Any) -> nn.Module:
            return fn(**{**defaults, **kw})

        build.__doc__, build.__name__ = fn.__doc__, name
        SEGMENTERS.register(name, family=family, pretrained=pretrained, doc=doc, defaults=dict(defaults))(build)
        return fn

    return deco


def names() -> list[str]:
    """Registered segmenter names."""
    return SEGMENTERS.names()


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def create(name: str, *, num_classes: int, in_channels: int = 3, classes: Sequence[str] | None = None,
           input_size: tuple[int, int] | None = None, **kwargs: Any) -> nn.Module:
    """Build a registered segmenter with a model card.

    Args:
        name: a name from :func:`names`.
        num_classes: ``K``, output channels (void is no class).
        in_channels: image channels.
        classes: the ``K`` class names (kept in the card).
        input_size: ``(H, W)`` it is meant for (prediction resizes to it; default 360x480, CamVid's).
        **kwargs: the architecture's options (``backbone``, ``backbone_weights``, ``base``, ``width``, ...).

    Returns:
        An ``nn.Module`` in train mode, ``model(Tensor[N, C, H, W] in [0, 1]) -> Tensor[N, K, H, W]``.

    Example:
        >>> net = create("segnet_basic", num_classes=11)
        >>> net(torch.rand(1, 3, 45, 60)).shape
        torch.Size([1, 11, 45, 60])
    """
    builder = SEGMENTERS.lookup(name)
    check_int("num_classes", num_classes)
    check_int("in_channels", in_channels)
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"{len(classes)} class names for num_classes={num_classes}")
    model = builder(num_classes=num_classes, in_channels=in_channels, **kwargs)
    h, w = input_size if input_size is not None else DEFAULT_SIZE
    feats = [f if isinstance(f, FeatureInfo) else FeatureInfo(**f) for f in model.feature_info]
    for n in [model.classifier_name, *(f.module for f in feats)]:
        model.get_submodule(n)  # a wrong recorded name fails at build time
    model.cnnlab = ModelCard(
        name=name, kwargs={"num_classes": num_classes, "in_channels": in_channels, **_jsonable(kwargs)},
        input_size=(in_channels, int(h), int(w)), classes=list(classes) if classes is not None else None,
        classifier=model.classifier_name, pool=None, features=feats)
    return model


def rebuild(card: ModelCard) -> nn.Module:
    """The segmenter a card describes, with random weights (pretrained backbones are not read: a checkpoint's
    weights replace them)."""
    kwargs = dict(card.kwargs)
    if "backbone_weights" in kwargs or "backbone_weights" in SEGMENTERS.info(card.name)["defaults"]:
        kwargs["backbone_weights"] = None
    model = create(card.name, classes=card.classes, input_size=card.input_size[1:], **kwargs)
    built = model.cnnlab
    model.cnnlab = dataclasses.replace(card, classifier=built.classifier, pool=None, features=built.features)
    return model


def check_size(model: nn.Module, size: Sequence[int], *, what: str = "input size") -> tuple[int, int, int]:
    """:func:`cnnlab.models.check_input_size` for segmenters: ``(C, H, W)`` if the model can take one image of that
    size, else one ``ValueError`` naming it. A registered segmenter is probed as a copy built on the meta device
    (shapes only: no memory, no compute, also for sizes far too large for the machine)."""
    from cnnlab.models import check_input_size

    card = getattr(model, "cnnlab", None)
    if isinstance(card, ModelCard) and card.name in SEGMENTERS:
        try:
            with torch.device("meta"):
                probe = rebuild(card)
        except (TypeError, ValueError):  # a card edited by hand: probe the model itself
            probe = None
        if probe is not None:
            return check_input_size(probe.eval(), size, what=what)
    return check_input_size(model, size, what=what)


def bilinear_kernel(channels: int, kernel_size: int) -> Tensor:
    """Weights ``[C, C, k, k]`` that make ``ConvTranspose2d(C, C, k, stride=k // 2, padding=k // 4)`` bilinear
    upsampling by ``k // 2`` (channel ``i`` to channel ``i``; FCN's ``upsample_filt``)."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    filt = 1 - (og - center).abs() / factor
    w = torch.zeros(channels, channels, kernel_size, kernel_size, dtype=torch.float64)
    w[range(channels), range(channels)] = torch.outer(filt, filt)
    return w.float()


def bilinear_upsampler(channels: int, factor: int, *, learnable: bool = True) -> nn.ConvTranspose2d:
    """``ConvTranspose2d`` that upsamples by ``factor`` (kernel ``2 * factor``, padding ``factor / 2``), initialised
    to bilinear interpolation (Long et al. 2015); output size ``factor * input``."""
    if factor < 2 or factor % 2:
        raise ValueError(f"upsampling factor must be an even integer >= 2, got {factor}")
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * factor))
    up.weight.requires_grad_(learnable)
    return up


def match_size(x: Tensor, size: Sequence[int]) -> Tensor:
    """Crop (bottom/right) or zero-pad ``x`` to spatial ``size`` (decoders of odd-sized inputs)."""
    h, w = int(size[-2]), int(size[-1])
    x = x[..., :h, :w]
    dh, dw = h - x.shape[-2], w - x.shape[-1]
    return F.pad(x, (0, dw, 0, dh)) if dh or dw else x


# --------------------------------------------------------------------------------------------- encoders


class _StopForward(Exception):
    """Raised by the last feature hook: the rest of the backbone (its classifier head) is not computed."""


class FeatureEncoder(nn.Module):
    """A cnnlab classifier as an encoder: ``forward(x) -> [feature maps]``, shallow to deep.

    The maps are the outputs of the modules its model card names (:func:`cnnlab.models.feature_info`); hooks on
    them exist only during one forward call (removed in ``finally``), and the forward stops once the deepest map
    is computed. The classifier layer is replaced by ``nn.Identity`` (it is never used).

    Args:
        backbone: a registry name of ``cnnlab.models``.
        strides: which maps: for each stride, the deepest recorded map of that stride.
        features: or their module names (overrides ``strides``).
        weights: pretrained weights of the backbone (``"imagenet"``) or ``None``.
        in_channels: image channels (pretrained weights need their own).
        backbone_kwargs: more options of the backbone (e.g. ``{"width": 0.25}``).
    """

    def __init__(self, backbone: str, *, strides: Sequence[int] | None = None, features: Sequence[str] | None = None,
                 weights: str | None = None, in_channels: int = 3,
                 backbone_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        from cnnlab import models

        kw = dict(backbone_kwargs or {})
        if weights is None:
            kw.setdefault("num_classes", 10)
            kw.setdefault("in_channels", in_channels)
        net = models.create(backbone, weights=weights, **kw)
        infos = models.feature_info(net)
        if features is not None:
            by_name = {f.module: f for f in infos}
            unknown = [n for n in features if n not in by_name]
            if unknown:
                raise ValueError(f"backbone {backbone!r} records no feature map {unknown[0]!r} "
                                 f"(known: {', '.join(by_name)})")
            chosen = [by_name[n] for n in features]
        else:
            chosen = []
            for s in strides or [infos[-1].stride]:
                at = [f for f in infos if f.stride == s]
                if not at:
                    have = sorted({f.stride for f in infos})
                    raise ValueError(f"backbone {backbone!r} has no feature map of stride {s} (strides: {have})")
                chosen.append(at[-1])
        chosen = sorted(chosen, key=lambda f: [i.module for i in infos].index(f.module))
        parent, _, leaf = models.classifier_name(net).rpartition(".")
        setattr(net.get_submodule(parent) if parent else net, leaf, nn.Identity())
        self.backbone = net
        self.info = chosen
        self.names = [f.module for f in chosen]
        self.channels = [f.channels for f in chosen]
        self.strides = [f.stride for f in chosen]

    def forward(self, x: Tensor) -> list[Tensor]:
        store: dict[str, Tensor] = {}

        def hook_for(name: str):
            def hook(_m: nn.Module, _inp: Any, out: Tensor) -> None:
                store.setdefault(name, out)
                if len(store) == len(self.names):
                    raise _StopForward

            return hook

        handles = []
        try:
            for n in self.names:
                handles.append(self.backbone.get_submodule(n).register_forward_hook(hook_for(n)))
            try:
                self.backbone(x)
            except _StopForward:
                pass
        finally:
            for h in handles:
                h.remove()
            handles.clear()
        return [store[n] for n in self.names]

    def feature_info(self, prefix: str) -> list[FeatureInfo]:
        return [FeatureInfo(f"{prefix}.backbone.{f.module}", f.channels, f.stride) for f in self.info]


def _conv_bn_relu(cin: int, cout: int, k: int = 3, *, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DoubleConv(nn.Sequential):
    """U-Net's unit: two 3x3 convolutions, each with batch norm and ReLU (padding 1, so sizes are kept)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(_conv_bn_relu(cin, cout), _conv_bn_relu(cout, cout))


# -------------------------------------------------------------------------------------------------- FCN


class FCN(nn.Module):
    """Fully convolutional network (Long et al. 2015) on a cnnlab backbone.

    Scores (1x1 convolutions to ``K`` classes) of the stride-32 map are upsampled 2x by a transposed convolution
    and added to the scores of the stride-16 map (``fcn16s``), again for stride 8 (``fcn8s``), then upsampled to
    the input by one transposed convolution; every transposed convolution starts as bilinear interpolation, and
    the skip scores start at zero (as in the paper), so training begins from the coarser variant.
    """

    def __init__(self, *, num_classes: int, in_channels: int, skips: int = 0, backbone: str = "efficientnet_lite0",
                 backbone_weights: str | None = None, backbone_kwargs: dict[str, Any] | None = None,
                 learnable_upsampling: bool = True) -> None:
        super().__init__()
        if skips not in (0, 1, 2):
            raise ValueError(f"skips must be 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s), got {skips}")
        strides = [8, 16, 32][2 - skips:]
        self.encoder = FeatureEncoder(backbone, strides=strides, weights=backbone_weights, in_channels=in_channels,
                                      backbone_kwargs=backbone_kwargs)
        self.scores = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in self.encoder.channels)
        for conv in list(self.scores)[:-1]:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.ups = nn.ModuleList(bilinear_upsampler(num_classes, self.encoder.strides[i + 1] // self.encoder.strides[i],
                                                    learnable=learnable_upsampling) for i in range(skips))
        self.upsample = bilinear_upsampler(num_classes, self.encoder.strides[0], learnable=learnable_upsampling)
        self.classifier_name = f"scores.{len(self.scores) - 1}"
        self.feature_info = self.encoder.feature_info("encoder")

    def forward(self, x: Tensor) -> Tensor:
        feats = self.encoder(x)
        y = self.scores[-1](feats[-1])
        for i in reversed(range(len(self.ups))):
            skip = self.scores[i](feats[i])
            y = match_size(self.ups[i](y), skip.shape) + skip
        return match_size(self.upsample(y), x.shape)


@register_segmenter("fcn32s", family="fcn", doc="FCN-32s: stride-32 scores, one 32x learnable bilinear upsampling",
                    skips=0)
@register_segmenter("fcn16s", family="fcn", doc="FCN-16s: + stride-16 skip", skips=1)
@register_segmenter("fcn8s", family="fcn", doc="FCN-8s: + stride-16 and stride-8 skips", skips=2)
def fcn(*, num_classes: int, in_channels: int, **kw: Any) -> FCN:
    return FCN(num_classes=num_classes, in_channels=in_channels, **kw)


# ------------------------------------------------------------------------------------------------- U-Net


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) from scratch: ``depth`` max-pool downsamplings of double 3x3 convolutions
    (``base * 2**i`` channels), then 2x2 transposed-convolution upsamplings whose outputs are concatenated with the
    encoder's map of the same resolution. Padded convolutions (the common variant, sizes kept) and batch norm;
    odd sizes are matched by cropping or padding the upsampled map."""

    def __init__(self, *, num_classes: int, in_channels: int, base: int = 64, depth: int = 4,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        super().__init__()
        check_int("base", base)
        check_int("depth", depth)
        self.normalize = Normalize(mean or (0.5,) * in_channels, std or (0.5,) * in_channels)
        chans = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_channels, chans[0])] +
                                  [DoubleConv(chans[i], chans[i + 1]) for i in range(depth)])
        self.up = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth)))
        self.fuse = nn.ModuleList(DoubleConv(2 * chans[i], chans[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], num_classes, 1)
        self.classifier_name = "head"
        self.feature_info = [FeatureInfo(f"down.{i}", c, 2 ** i) for i, c in enumerate(chans)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.normalize(x)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2, ceil_mode=True))
            skips.append(x)
        x = skips.pop()
        for up, fuse in zip(self.up, self.fuse):
            skip = skips.pop()
            x = fuse(torch.cat([match_size(up(x), skip.shape), skip], 1))
        return self.head(x)


class EncoderUNet(nn.Module):
    """U-Net decoder on a pretrained cnnlab backbone: its stride 2..32 feature maps (taken by name from its card)
    are the skips; each decoder block upsamples 2x (bilinear), concatenates the skip and applies a double 3x3
    convolution; a last block without skip returns to the input resolution."""

    def __init__(self, *, num_classes: int, in_channels: int, backbone: str = "efficientnet_lite0",
                 backbone_weights: str | None = None, backbone_kwargs: dict[str, Any] | None = None,
                 decoder_channels: Sequence[int] = (256, 128, 64, 32, 16)) -> None:
        super().__init__()
        self.encoder = FeatureEncoder(backbone, strides=[2, 4, 8, 16, 32], weights=backbone_weights,
                                      in_channels=in_channels, backbone_kwargs=backbone_kwargs)
        enc = self.encoder.channels[::-1]  # deep to shallow: 32, 16, 8, 4, 2
        dec = [int(c) for c in decoder_channels]
        if len(dec) != len(enc):
            raise ValueError(f"decoder_channels needs {len(enc)} values, got {len(dec)}")
        ins = [enc[0] + enc[1]] + [dec[i - 1] + enc[i + 1] for i in range(1, len(enc) - 1)] + [dec[-2]]
        self.blocks = nn.ModuleList(DoubleConv(i, o) for i, o in zip(ins, dec))
        self.head = nn.Conv2d(dec[-1], num_classes, 1)
        self.classifier_name = "head"
        self.feature_info = self.encoder.feature_info("encoder")

    def forward(self, x: Tensor) -> Tensor:
        feats = self.encoder(x)[::-1]
        y = feats[0]
        for i, block in enumerate(self.blocks):
            size = feats[i + 1].shape[-2:] if i + 1 < len(feats) else x.shape[-2:]
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            y = block(torch.cat([y, feats[i + 1]], 1) if i + 1 < len(feats) else y)
        return self.head(y)


@register_segmenter("unet", family="unet", doc="U-Net from scratch (double 3x3 convs, transposed-conv upsampling)")
def unet(*, num_classes: int, in_channels: int, **kw: Any) -> UNet:
    return UNet(num_classes=num_classes, in_channels=in_channels, **kw)


@register_segmenter("unet_lite0", family="unet", pretrained=True, backbone="efficientnet_lite0",
                    backbone_weights="imagenet",
                    doc="U-Net decoder on the ImageNet EfficientNet-Lite0 (features by name from its card)")
def unet_lite0(*, num_classes: int, in_channels: int, **kw: Any) -> EncoderUNet:
    return EncoderUNet(num_classes=num_classes, in_channels=in_channels, **kw)


# ------------------------------------------------------------------------------------------------ SegNet


class SegNet(nn.Module):
    """SegNet (Badrinarayanan, Kendall & Cipolla 2017): encoder stages end in 2x2 max pooling that keeps the
    indices of the maxima; each decoder stage puts its input back at those positions (``MaxUnpool2d``, zeros
    elsewhere: "remember which element was max") and convolves the sparse map into a dense one.

    Pooling rounds up (Caffe's), and unpooling is given each encoder map's size (``output_size=``), so odd sizes
    come back exactly: 360 -> 180 -> 90 -> 45 -> 23 -> 45 -> 90 -> 180 -> 360.

    Args:
        encoder: per stage, the output channels of its convolutions, e.g. ``[[64], [64], [64], [64]]``.
        kernel: convolution size (7 in SegNet-Basic, 3 in SegNet).
        decoder_relu: ReLU after the decoder's batch norms (SegNet) or not (SegNet-Basic).
    """

    def __init__(self, *, num_classes: int, in_channels: int, encoder: Sequence[Sequence[int]], kernel: int = 3,
                 decoder_relu: bool = True, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.normalize = Normalize(mean or (0.5,) * in_channels, std or (0.5,) * in_channels)
        stages, c = [], in_channels
        for outs in encoder:
            layers = []
            for o in outs:
                layers.append(_conv_bn_relu(c, int(o), kernel))
                c = int(o)
            stages.append(nn.Sequential(*layers))
        self.enc = nn.ModuleList(stages)
        dec = []
        # the decoder mirrors the encoder: stage i's decoder ends with the channels stage i received
        ins = [in_channels] + [int(s[-1]) for s in encoder[:-1]]
        for i in reversed(range(len(encoder))):
            outs = [int(o) for o in encoder[i]][::-1]  # channels in reverse order
            targets = outs[1:] + [ins[i] if i > 0 else int(encoder[0][0])]
            layers, c = [], outs[0]
            for o in targets:
                layers.append(_conv_bn_relu(c, o, kernel, relu=decoder_relu))
                c = o
            dec.append(nn.Sequential(*layers))
        self.dec = nn.ModuleList(dec)
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.classifier = nn.Conv2d(c, num_classes, 1)
        self.classifier_name = "classifier"
        self.feature_info = [FeatureInfo(f"enc.{i}", int(s[-1]), 2 ** i) for i, s in enumerate(encoder)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.normalize(x)
        indices, sizes = [], []
        for stage in self.enc:
            x = stage(x)
            sizes.append(x.shape[-2:])
            x, idx = self.pool(x)
            indices.append(idx)
        for stage in self.dec:
            x = stage(self.unpool(x, indices.pop(), output_size=sizes.pop()))
        return self.classifier(x)


@register_segmenter("segnet_basic", family="segnet", doc="SegNet-Basic (the tutorial's): 4 x (7x7 conv 64, BN), "
                    "max-unpooling decoder without ReLU")
def segnet_basic(*, num_classes: int, in_channels: int, width: int = 64, **kw: Any) -> SegNet:
    check_int("width", width)
    return SegNet(num_classes=num_classes, in_channels=in_channels, encoder=[[width]] * 4, kernel=7,
                  decoder_relu=False, **kw)


VGG16_STAGES = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]


@register_segmenter("segnet", family="segnet", doc="SegNet: VGG-16 encoder (13 convs), mirrored unpooling decoder")
def segnet(*, num_classes: int, in_channels: int, width: float = 1.0, **kw: Any) -> SegNet:
    """``width`` scales every stage's channels (1.0: the paper's VGG-16 layout)."""
    stages = [[max(4, int(round(c * width))) for c in s] for s in VGG16_STAGES]
    return SegNet(num_classes=num_classes, in_channels=in_channels, encoder=stages, kernel=3, decoder_relu=True, **kw)


# -------------------------------------------------------------------------------------- torchvision heads


class HeadOnBackbone(nn.Module):
    """A torchvision segmentation head (``DeepLabHead`` with ASPP, or ``LRASPPHead``) on cnnlab backbone features;
    logits upsampled bilinearly to the input size."""

    def __init__(self, *, num_classes: int, in_channels: int, head: str, backbone: str = "efficientnet_lite0",
                 backbone_weights: str | None = None, backbone_kwargs: dict[str, Any] | None = None,
                 atrous_rates: Sequence[int] | None = None, inter_channels: int = 128) -> None:
        super().__init__()
        from torchvision.models.segmentation.deeplabv3 import DeepLabHead
        from torchvision.models.segmentation.lraspp import LRASPPHead

        self.kind = head
        if head == "deeplabv3":
            self.encoder = FeatureEncoder(backbone, weights=backbone_weights, in_channels=in_channels,
                                          backbone_kwargs=backbone_kwargs)
            stride = self.encoder.strides[-1]
            # torchvision's rates (12, 24, 36) are for output stride 8; scale them to this backbone's stride
            rates = tuple(atrous_rates) if atrous_rates is not None else tuple(max(1, r * 8 // stride)
                                                                               for r in (12, 24, 36))
            self.head = DeepLabHead(self.encoder.channels[-1], num_classes, rates)
            self.classifier_name = "head.4"
        elif head == "lraspp":
            self.encoder = FeatureEncoder(backbone, strides=[8, 32], weights=backbone_weights, in_channels=in_channels,
                                          backbone_kwargs=backbone_kwargs)
            low, high = self.encoder.channels
            self.head = LRASPPHead(low, high, num_classes, inter_channels)
            self.classifier_name = "head.high_classifier"
        else:
            raise ValueError(f"head must be 'deeplabv3' or 'lraspp', got {head!r}")
        self.feature_info = self.encoder.feature_info("encoder")

    def forward(self, x: Tensor) -> Tensor:
        feats = self.encoder(x)
        y = self.head(feats[-1]) if self.kind == "deeplabv3" else self.head({"low": feats[0], "high": feats[-1]})
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


@register_segmenter("deeplabv3", family="deeplab", head="deeplabv3",
                    doc="torchvision's DeepLabV3 head (ASPP) on a cnnlab backbone's deepest map")
@register_segmenter("lraspp", family="deeplab", head="lraspp",
                    doc="torchvision's LR-ASPP head on a cnnlab backbone's stride-8 and stride-32 maps")
def torchvision_head(*, num_classes: int, in_channels: int, **kw: Any) -> HeadOnBackbone:
    return HeadOnBackbone(num_classes=num_classes, in_channels=in_channels, **kw)


def segmenter_table() -> list[dict[str, Any]]:
    """One row per registered segmenter: name, family, pretrained backbone or not, what it is."""
    return [{"name": n, "family": SEGMENTERS.info(n)["family"], "pretrained": SEGMENTERS.info(n)["pretrained"],
             "doc": SEGMENTERS.info(n)["doc"]} for n in SEGMENTERS.names()]
