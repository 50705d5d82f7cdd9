"""The detector registry, the one signature every detector has, its checkpoints, and prediction.

Every detector follows torchvision: ``images`` is a list of ``Tensor[3, H, W]`` in [0, 1] of any size; in train
mode ``model(images, targets)`` returns a dict of named losses (``loss_*``, summed for the backward pass); in eval
mode ``model(images)`` returns one dict per image with ``boxes`` (``Tensor[D, 4]``, x1y1x2y2 pixels of the input
image), ``labels`` (``Tensor[D]`` in ``1..C``), ``scores`` (``Tensor[D]``), and ``masks`` (bool ``Tensor[D, H, W]``)
for Mask R-CNN.

A detector is a :class:`Detector`: the method's network (``.net``) behind one boundary that checks the images and
targets, plus a :class:`DetectorCard` saying how to rebuild it (``save_detector`` / ``load_detector`` write and
read ``detector.safetensors`` + ``detector.json``; nothing is pickled).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._io import atomic_write_bytes
from cnnlab._registry import Registry
from cnnlab.detect._backbone import FeatureBackbone, build_backbone

DETECTORS: Registry[Callable[..., nn.Module]] = Registry("detector")

WEIGHTS_FILE, CARD_FILE = "detector.safetensors", "detector.json"
FORMAT = "cnnlab-detector/1"


def register_detector(name: str, *, paper: str, multiscale: bool, masks: bool = False,
                      proposals: str = "") -> Callable:
    """Decorator adding a detector builder ``fn(*, num_classes, backbone: FeatureBackbone-args, **options)``.

    ``paper``: where the method comes from; ``multiscale``: it uses a feature pyramid / several maps;
    ``masks``: it needs instance masks to train; ``proposals``: where its regions come from."""
    return DETECTORS.register(name, paper=paper, multiscale=multiscale, masks=masks, proposals=proposals)


def names() -> list[str]:
    """The registered detectors."""
    return DETECTORS.names()


@dataclass
class DetectorCard:
    """How a detector was built: ``detect.create(name, num_classes=..., **options)`` with the backbone rebuilt
    from ``backbone`` (a cnnlab model card's name and kwargs), then its weights loaded."""

    name: str
    num_classes: int
    classes: list[str]
    backbone: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DetectorCard:
        return cls(**{k: d[k] for k in ("name", "num_classes", "classes", "backbone", "options") if k in d})


class Detector(nn.Module):
    """A registered detector: checks its inputs at the boundary and delegates to the method's network.

    Attributes:
        net: the method's network (torchvision's ``FasterRCNN``... or cnnlab's ``RCNN``, ``FastRCNN``, ``YOLOv1``).
        card: :class:`DetectorCard`.
        backbone_prefix: dotted name of the backbone classifier's parameters (a lower learning rate is given to
            these, ``DetectConfig.backbone_lr``).
    """

    def __init__(self, net: nn.Module, card: DetectorCard) -> None:
        super().__init__()
        self.net = net
        self.card = card
        found = [n for n, m in self.named_modules() if isinstance(m, FeatureBackbone)]
        if len(found) != 1:
            raise AssertionError(f"a detector holds one FeatureBackbone, found {len(found)}")
        self.backbone_prefix = f"{found[0]}.body"

    @property
    def classes(self) -> list[str]:
        return list(self.card.classes)

    @property
    def num_classes(self) -> int:
        return self.card.num_classes

    @property
    def backbone(self) -> FeatureBackbone:
        return self.get_submodule(self.backbone_prefix.rsplit(".", 1)[0])  # type: ignore[return-value]

    def forward(self, images: Sequence[Tensor], targets: Sequence[dict[str, Tensor]] | None = None, **kwargs: Any):
        """Train mode: ``model(images, targets) -> dict of losses``; eval mode: ``model(images) -> list of dicts``.
        ``kwargs`` go to the method's network (R-CNN and Fast R-CNN take ``proposals=[Tensor[P, 4], ...]``)."""
        images = check_detection_images(images)
        if self.training:
            if targets is None:
                raise ValueError("in train mode a detector needs targets: model(images, targets) (or call .eval())")
            targets = check_targets(targets, len(images), self.num_classes, masks=DETECTORS.info(self.card.name)
                                    ["masks"], sizes=[tuple(i.shape[-2:]) for i in images])
            losses = self.net(images, targets, **kwargs)
            return {(k if k.startswith("loss_") else f"loss_{k}"): v for k, v in losses.items()}
        out = self.net(images, **kwargs)
        return [_clean_output(o, tuple(img.shape[-2:])) for o, img in zip(out, images)]

    def __repr__(self) -> str:
        return (f"Detector({self.card.name!r}, num_classes={self.num_classes}, backbone="
                f"{self.card.backbone.get('name')!r}, params={sum(p.numel() for p in self.parameters()):,})")


def _clean_output(o: dict[str, Tensor], size: tuple[int, int]) -> dict[str, Tensor]:
    keep = o["labels"] > 0  # RetinaNet's sigmoid head has a never-positive column for label 0
    out = {"boxes": o["boxes"][keep].detach(), "labels": o["labels"][keep].detach(),
           "scores": o["scores"][keep].detach()}
    if "masks" in o:
        m = o["masks"][keep].detach()
        out["masks"] = (m[:, 0] if m.dim() == 4 else m) > 0.5
    return out


def check_detection_images(images: Any) -> list[Tensor]:
    """``images`` as a list of float ``Tensor[3, H, W]`` in [0, 1]; a ``ValueError`` naming the first bad one."""
    if isinstance(images, Tensor):
        if images.dim() == 4:
            images = list(images)
        elif images.dim() == 3:
            raise ValueError("images must be a list of Tensor[3, H, W] (got one image: wrap it in a list)")
    if not isinstance(images, (list, tuple)) or not images:
        raise ValueError(f"images must be a non-empty list of Tensor[3, H, W] in [0, 1], got {type(images).__name__}")
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or img.dim() != 3 or img.shape[0] != 3:
            shape = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"image {i} must be a Tensor[3, H, W], got {shape}")
        if not img.is_floating_point():
            raise ValueError(f"image {i} must be float in [0, 1], got dtype {img.dtype}")
        if min(img.shape[-2:]) < 8:
            raise ValueError(f"image {i} is too small ({img.shape[-2]}x{img.shape[-1]}); a detector needs >= 8x8")
        if not torch.isfinite(img).all() or img.min() < 0 or img.max() > 1:
            raise ValueError(f"image {i} must hold finite values in [0, 1] (got min {float(img.min()):.3g}, "
                             f"max {float(img.max()):.3g})")
    return list(images)


def check_targets(targets: Any, n: int, num_classes: int, *, masks: bool = False,
                  sizes: Sequence[tuple[int, int]] | None = None) -> list[dict[str, Tensor]]:
    """Training targets in torchvision's convention, checked: one dict per image with float ``boxes [K, 4]``
    (finite, ``x2 > x1``, ``y2 > y1``) and int64 ``labels [K]`` in ``1..num_classes``; ``masks [K, H, W]`` when
    the method needs them."""
    if not isinstance(targets, (list, tuple)) or len(targets) != n:
        raise ValueError(f"targets must be a list of {n} dicts (one per image), got "
                         f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__}")
    out = []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise ValueError(f"target {i} must be a dict with 'boxes' and 'labels'")
        b, lab = t["boxes"], t["labels"]
        if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != 4 or not b.is_floating_point():
            raise ValueError(f"target {i}: boxes must be a float Tensor[K, 4], got "
                             f"{tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__}")
        if not isinstance(lab, Tensor) or lab.shape != (len(b),):
            raise ValueError(f"target {i}: labels must be a Tensor[{len(b)}] (one per box)")
        if len(b):
            if not torch.isfinite(b).all():
                raise ValueError(f"target {i}: boxes must be finite")
            bad = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
            if bad.any():
                raise ValueError(f"target {i}: box {b[bad][0].tolist()} has x2 <= x1 or y2 <= y1")
            if int(lab.min()) < 1 or int(lab.max()) > num_classes:
                raise ValueError(f"target {i}: labels must be in 1..{num_classes} (0 is the background), got "
                                 f"{sorted(set(lab.tolist()))}")
        if masks:
            m = t.get("masks")
            if m is None:
                raise ValueError(f"target {i} has no 'masks': this detector learns instance masks (train it on data "
                                 "with masks: scenes:, coco: with segmentations)")
            if sizes is not None and tuple(m.shape) != (len(b), *sizes[i]):
                raise ValueError(f"target {i}: masks must be [{len(b)}, {sizes[i][0]}, {sizes[i][1]}], got "
                                 f"{tuple(m.shape)}")
        tt = {"boxes": b, "labels": lab.long()}
        for k in ("masks", "proposals"):
            if k in t:
                tt[k] = t[k]
        out.append(tt)
    return out


# ------------------------------------------------------------------------------------------------ create


def _backbone_model(backbone: str | nn.Module, weights: str | None) -> nn.Module:
    from cnnlab import models

    if isinstance(backbone, nn.Module):
        models.card_of(backbone)  # a clear error for a module without a card
        return copy.deepcopy(backbone)  # the detector prunes and freezes its own copy: the user's model is untouched
    if not isinstance(backbone, str):
        raise TypeError(f"backbone must be a registry name or a cnnlab model, got {type(backbone).__name__}")
    models.MODELS.lookup(backbone)
    if weights is not None:
        return models.create(backbone, weights=weights)
    return models.create(backbone, in_channels=3)


def create(name: str, *, num_classes: int, backbone: str | nn.Module = "efficientnet_lite0",
           weights: str | None = "imagenet", classes: Sequence[str] | None = None, **options: Any) -> Detector:
    """Build a registered detector.

    Args:
        name: one of :func:`names` (``rcnn``, ``fast-rcnn``, ``faster-rcnn``, ``mask-rcnn``, ``retinanet``,
            ``ssd``, ``yolo``).
        num_classes: object classes, without the background (labels ``1..num_classes``).
        backbone: a cnnlab registry name or a cnnlab classification model (copied: yours is left as it is); its
            feature maps come from its card.
        weights: the backbone's pretrained weights (``"imagenet"`` for EfficientNet-Lite0); ``None``: random init.
        classes: class names (default ``"1"``, ``"2"``, ...).
        **options: the method's settings (sizes, anchors, heads; see each builder) and the backbone's:
            ``layers``, ``trainable_layers`` (stages trained, from the deepest; default 3 when pretrained),
            ``freeze_bn`` (default: when pretrained), ``channels_last`` (default True: the backbone in NHWC).

    Returns:
        A :class:`Detector` in train mode.

    Example:
        >>> det = create("faster-rcnn", num_classes=2, backbone="resnet_small", weights=None, min_size=64,
        ...              max_size=64)                                                  # doctest: +SKIP
    """
    from cnnlab import models
    from cnnlab._checks import check_int

    builder = DETECTORS.lookup(name)
    check_int("num_classes", num_classes)
    if weights is not None and isinstance(backbone, str):
        have = models.info(backbone)["weights"] if backbone in models.MODELS else {}
        if weights not in have and backbone in models.MODELS:
            raise ValueError(f"backbone {backbone!r} has no weights {weights!r} (available: "
                             f"{', '.join(have) or 'none'}); pass weights=None for a random init")
    net_model = _backbone_model(backbone, weights)
    card_b = models.card_of(net_model)
    _check_size(net_model, builder, options)
    bb_opts = {k: options.pop(k) for k in ("layers", "trainable_layers", "freeze_bn", "channels_last") if k in options}
    bb_opts.setdefault("channels_last", True)
    pretrained = card_b.weights is not None
    bb_opts.setdefault("freeze_bn", pretrained)
    if "trainable_layers" not in bb_opts or bb_opts["trainable_layers"] is None:
        from cnnlab.detect._backbone import stage_features

        bb_opts["trainable_layers"] = 3 if pretrained else len(stage_features(net_model))
    names_ = list(classes) if classes is not None else [str(i + 1) for i in range(num_classes)]
    if len(names_) != num_classes:
        raise ValueError(f"classes has {len(names_)} names but num_classes={num_classes}")

    def make_backbone(*, strides: Sequence[int] | None = None) -> FeatureBackbone:
        return build_backbone(net_model, layers=bb_opts.get("layers"), strides=strides,
                              trainable_layers=bb_opts["trainable_layers"], freeze_bn=bb_opts["freeze_bn"],
                              channels_last=bb_opts["channels_last"])

    net = builder(num_classes=num_classes, make_backbone=make_backbone, **options)
    card = DetectorCard(name=name, num_classes=num_classes, classes=names_,
                        backbone={"name": card_b.name, "kwargs": card_b.kwargs, "weights": card_b.weights},
                        options={**_jsonable(options), **_jsonable(bb_opts)})
    return Detector(net, card)


def _check_size(net: nn.Module, builder: Callable, options: dict[str, Any]) -> None:
    """The boundary check (``models.check_input_size``) of the input size the detector will feed its backbone."""
    import inspect

    from cnnlab import models

    params = inspect.signature(builder).parameters

    def opt(key: str):
        if key in options:
            return options[key]
        return params[key].default if key in params else None

    for key in ("size", "crop_size", "min_size"):
        v = opt(key)
        if v is None:
            continue
        h, w = (v, v) if isinstance(v, (int, float)) else tuple(v)
        if key == "min_size" and opt("max_size") is not None:
            w = max(int(w), int(opt("max_size")))
        models.check_input_size(net, (3, int(h), int(w)), what=f"detector {key}={v}")
        return


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        raise TypeError(f"detector option values must be JSON values (numbers, strings, lists), got {v!r}")

    return {k: conv(v) for k, v in d.items()}


# --------------------------------------------------------------------------------------------- checkpoints


def save_detector(path: str | os.PathLike, model: nn.Module, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``path/detector.safetensors`` and ``path/detector.json`` (card + ``extra``), atomically."""
    from safetensors.torch import save

    if not isinstance(model, Detector):
        raise TypeError(f"save_detector needs a cnnlab Detector (detect.create), got {type(model).__name__}")
    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path / WEIGHTS_FILE, save(state))
    doc = {"format": FORMAT, "card": model.card.to_json(), "extra": extra or {}}
    atomic_write_bytes(path / CARD_FILE, json.dumps(doc, indent=2).encode())
    return path


def read_detector_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON document of a detector checkpoint (a run directory or its ``detector.json``)."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.exists():
        raise FileNotFoundError(f"no such detector run or checkpoint: {str(path)!r}")
    if not (path / CARD_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        hint = " (it is a classifier checkpoint: use cnnlab eval / predict)" if (path / "model.json").is_file() else ""
        raise ValueError(f"{str(path)!r} is not a cnnlab detector (needs {CARD_FILE} and {WEIGHTS_FILE}){hint}")
    try:
        doc = json.loads((path / CARD_FILE).read_text())
        if doc.get("format") != FORMAT:
            raise KeyError("format")
        DetectorCard.from_json(doc["card"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path / CARD_FILE}: not a valid cnnlab detector card ({exc})") from None
    return doc


def load_detector(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> Detector:
    """Rebuild a detector from a checkpoint directory (a ``train-detector`` run); it comes back in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from cnnlab import models

    path = Path(path)
    if path.is_file():
        path = path.parent
    doc = read_detector_meta(path)
    card = DetectorCard.from_json(doc["card"])
    if card.name not in DETECTORS:
        raise ValueError(f"{str(path)!r} holds unknown detector {card.name!r}")
    bb = models.create(card.backbone["name"], **card.backbone["kwargs"])
    model = create(card.name, num_classes=card.num_classes, backbone=bb, weights=None, classes=card.classes,
                   **card.options)
    try:
        state = load_file(str(path / WEIGHTS_FILE), device=str(map_location))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"cannot read weights of detector {str(path)!r}: {exc}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"detector {str(path)!r} does not fit {card.name!r}: {len(missing)} missing and "
                         f"{len(unexpected)} unexpected tensors")
    model.card.backbone["weights"] = card.backbone.get("weights")
    return model.to(map_location).eval()


# ------------------------------------------------------------------------------------------------ predict


@torch.no_grad()
def predict(model: nn.Module, images: Sequence[Tensor], *, score: float = 0.5, batch_size: int = 4
            ) -> list[dict[str, Tensor]]:
    """Detections on ``images`` (``Tensor[3, H, W]`` in [0, 1], any size) with score >= ``score``.

    The model is run in eval mode and left in the mode it was in. Each result has ``boxes``, ``labels``,
    ``scores`` (and ``masks``) on the CPU, sorted by score. One call gives what a viewer needs: boxes on an
    uploaded image above a score threshold (names: ``model.classes[label - 1]``).
    """
    from cnnlab._checks import check_int, check_number
    from cnnlab._device import model_device

    check_number("score", score, minimum=0, maximum=1)
    check_int("batch_size", batch_size)
    images = [img if img.shape[0] == 3 else img.expand(3, -1, -1) for img in _as_list(images)]
    images = check_detection_images(images)
    from cnnlab.models import frozen

    dev = model_device(model)
    out = []
    with frozen(model), torch.no_grad():  # every module's mode and requires_grad come back as they were
        for i in range(0, len(images), batch_size):
            for o in model([img.to(dev) for img in images[i:i + batch_size]]):
                order = o["scores"].argsort(descending=True)
                keep = order[o["scores"][order] >= score]
                out.append({k: v[keep].cpu() for k, v in o.items()})
    return out


def _as_list(images: Any) -> list[Tensor]:
    if isinstance(images, Tensor):
        return [images] if images.dim() == 3 else list(images)
    return list(images)
