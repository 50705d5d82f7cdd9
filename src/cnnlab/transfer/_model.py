"""Building a transfer model: new classifier, input adapter, frozen blocks, frozen batch-norm statistics.
(A smaller backbone learning rate is a parameter group of the engine: ``TrainConfig.lr_multipliers``.)"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cnnlab._checks import check_int
from cnnlab.models import ModelCard, check_input_size, classifier_name, load, rebuild


def head_name(model: nn.Module) -> str:
    """Dotted name of the classifier, as the model's card records it (:func:`cnnlab.models.classifier_name`)."""
    return classifier_name(model)


def _get(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)


def transfer_model(source: str | os.PathLike | nn.Module, *, num_classes: int, classes: Sequence[str] | None = None,
                   in_channels: int | None = None, input_size: Sequence[int] | None = None,
                   resize: Sequence[int] | int | None = None, interpolation: str = "bilinear",
                   seed: int = 0, keep_head: bool | None = None) -> nn.Module:
    """A copy of ``source`` with a classifier for ``num_classes`` and an explicit input adapter; everything else
    keeps the source's weights.

    The classifier is new and randomly initialised, unless the source already classifies these classes: a
    checkpoint whose card names exactly ``classes`` (a linear probe, an earlier fine-tune) keeps its trained
    classifier, so fine-tuning it starts from its accuracy instead of from chance.

    Args:
        source: a registry name (its pretrained weights, e.g. ``"efficientnet_lite0"`` -> ImageNet), a
            checkpoint directory, or a cnnlab model.
        num_classes: classes of the new task.
        classes: their names (stored in the card).
        in_channels: channels of the new data (1 for grey); a grey -> RGB adapter is added when the network
            wants 3.
        input_size: ``(h, w)`` of the new data as it is fed (recorded as the card's input size).
        resize: ``(h, w)`` (or one int) the network sees; ``None`` keeps ``input_size``.
        seed: seeds the new classifier's initialisation.
        keep_head: ``None`` (default): keep the source's classifier when its classes are ``classes`` (same names,
            same order); ``True``: keep it, and raise ``ValueError`` when the classes differ; ``False``: always a
            new classifier.

    Returns:
        A model in train mode; its card records the adapter (``kwargs["input_adapter"]``), so
        :func:`cnnlab.models.load_checkpoint` rebuilds the adapted model.

    Example:
        >>> m = transfer_model("efficientnet_lite0", num_classes=10, in_channels=1, input_size=(28, 28),
        ...                    resize=64)
        >>> m(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    check_int("num_classes", num_classes)
    if classes is not None and len(classes) != num_classes:
        raise ValueError(f"got {len(classes)} class names for num_classes={num_classes}")
    src = source if isinstance(source, nn.Module) else load(source)
    card: ModelCard | None = getattr(src, "cnnlab", None)
    if card is None:
        raise ValueError("source model has no cnnlab card; build it with cnnlab.models.create")
    same_classes = classes is not None and card.classes is not None and list(card.classes) == list(classes) \
        and int(card.kwargs.get("num_classes", -1)) == num_classes
    if keep_head and not same_classes:
        raise ValueError(f"keep_head=True needs a source that classifies the same classes; {card.name!r} has "
                         f"{card.classes[:3] if card.classes else card.kwargs.get('num_classes')} ...")
    keep = same_classes if keep_head is None else bool(keep_head)
    kwargs: dict[str, Any] = dict(card.kwargs)
    net_c, net_h, net_w = card.input_size
    old_adapter = kwargs.pop("input_adapter", None)
    if old_adapter:  # the network behind an existing adapter
        net_c = int(kwargs["in_channels"])
        if old_adapter.get("size"):
            net_h, net_w = old_adapter["size"]
    c_in = in_channels if in_channels is not None else net_c
    hw = tuple(int(v) for v in input_size) if input_size is not None else (net_h, net_w)
    if resize is None:
        size = hw
    else:
        size = (int(resize), int(resize)) if isinstance(resize, int) else tuple(int(v) for v in resize)
    adapter = None
    if c_in != int(kwargs["in_channels"]) or tuple(size) != tuple(hw):
        adapter = {"in_channels": c_in, "size": list(size) if tuple(size) != tuple(hw) else None,
                   "interpolation": interpolation}
    kwargs["num_classes"] = num_classes
    what = str(source) if not isinstance(source, nn.Module) else card.name

    def build(kw: dict[str, Any]) -> nn.Module:  # the registry's or torchvision's architecture, as the card says
        net_card = dataclasses.replace(card, kwargs=kw, input_size=(int(kwargs["in_channels"]), *size))
        return rebuild(net_card, what=what)

    with torch.device("meta"):  # the network at the size it will see: one clear line for a size it cannot take
        net = build(kwargs)
    check_input_size(net, (int(kwargs["in_channels"]), *size),
                     what="resize" if resize is not None else "the data's size")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build({**kwargs, **({"input_adapter": adapter} if adapter else {})})
    head = head_name(model)
    state = {k: v for k, v in src.state_dict().items() if keep or not k.startswith(head + ".")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(keep or not k.startswith(head + ".") for k in missing):
        raise ValueError(f"source weights do not fit the rebuilt {card.name!r}: {missing[:3]} {unexpected[:3]}")
    model.cnnlab = dataclasses.replace(model.cnnlab, input_size=(c_in, *hw),
                                       classes=list(classes) if classes is not None else None, weights=None,
                                       resize_size=None, interpolation="bilinear")
    model.cnnlab_source = {"source": str(source) if not isinstance(source, nn.Module) else card.name,
                           "weights": card.weights, "kept_head": keep}
    return model.train()


# ---------------------------------------------------------------------------------------------- freezing


def backbone_blocks(model: nn.Module) -> tuple[list[str], list[str]]:
    """(stem, blocks): dotted names of the parameterised modules before the first block, and of the blocks.

    Blocks are the children of the model's top-level ``nn.ModuleList`` / ``nn.Sequential`` containers (for
    EfficientNet-Lite0 its 16 MBConv blocks, for ResNet its residual blocks), in order; the classifier is
    never part of them.
    """
    head = head_name(model)
    stem: list[str] = []
    blocks: list[str] = []
    for name, child in model.named_children():
        if name == "normalize" or head == name or head.startswith(name + "."):
            if isinstance(child, (nn.ModuleList, nn.Sequential)) and head.startswith(name + "."):
                # a classifier Sequential: its parameterised layers before the head count as blocks
                for sub, m in child.named_children():
                    if f"{name}.{sub}" != head and any(True for _ in m.parameters()):
                        blocks.append(f"{name}.{sub}")
            continue
        if isinstance(child, (nn.ModuleList, nn.Sequential)):
            for sub, m in child.named_children():
                if isinstance(m, (nn.ModuleList, nn.Sequential)):  # ResNet stages hold blocks
                    blocks += [f"{name}.{sub}.{s}" for s, mm in m.named_children() if any(True for _ in
                                                                                        mm.parameters())]
                elif any(True for _ in m.parameters()):
                    blocks.append(f"{name}.{sub}")
        elif any(True for _ in child.parameters()) and not blocks:
            stem.append(name)
    if not blocks and len(stem) > 1:  # no block containers (GoogLeNet): top-level modules after the first
        stem, blocks = stem[:1], stem[1:]
    return stem, blocks


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that always normalises with its running statistics and never updates them, even in
    train mode (its affine parameters can still learn). Same state-dict keys as ``nn.BatchNorm2d``."""

    def train(self, mode: bool = True) -> FrozenStatsBatchNorm2d:
        return super().train(False)


def _frozen_copy(bn: nn.BatchNorm2d) -> FrozenStatsBatchNorm2d:
    new = FrozenStatsBatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    new = new.to(next(iter(bn.buffers())).device)
    new.load_state_dict(bn.state_dict())
    for p_new, p_old in zip(new.parameters(), bn.parameters()):
        p_new.requires_grad_(p_old.requires_grad)
    return new.train(False)


def freeze_bn_stats(module: nn.Module) -> int:
    """Replace every ``nn.BatchNorm2d`` inside ``module`` by :class:`FrozenStatsBatchNorm2d` (same weights and
    statistics); returns how many were replaced."""
    count = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.BatchNorm2d) and not isinstance(child, FrozenStatsBatchNorm2d):
            setattr(module, name, _frozen_copy(child))
            count += 1
        else:
            count += freeze_bn_stats(child)
    return count


def _freeze_bn_at(model: nn.Module, name: str) -> None:
    sub = model.get_submodule(name)
    if isinstance(sub, nn.BatchNorm2d) and not isinstance(sub, FrozenStatsBatchNorm2d):
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, _frozen_copy(sub))
    else:
        freeze_bn_stats(sub)


def parse_mode(mode: str) -> tuple[str, int]:
    """``"linear"``, ``"finetune"`` or ``"freeze:N"`` -> (kind, N)."""
    if mode in ("linear", "finetune"):
        return mode, 0
    if isinstance(mode, str) and mode.startswith("freeze:"):
        try:
            n = int(mode.split(":", 1)[1])
        except ValueError:
            n = -1
        if n >= 0:
            return "freeze", n
    raise ValueError(f"mode must be 'linear', 'freeze:N' (N >= 0) or 'finetune', got {mode!r}")


def freeze(model: nn.Module, mode: str, *, bn_stats: bool = False) -> dict[str, int]:
    """Set ``requires_grad`` for a transfer mode, in place.

    - ``"linear"``: only the classifier learns (a linear probe).
    - ``"freeze:N"``: the stem and the first N blocks (:func:`backbone_blocks`) are frozen, and their
      batch-norm statistics too; ``freeze:0`` freezes nothing.
    - ``"finetune"``: everything learns (give the backbone a smaller learning rate with
      ``TrainConfig.lr_multipliers``, as :func:`cnnlab.transfer.train_config` does, or :func:`param_groups`).

    Args:
        bn_stats: also freeze the batch-norm statistics of the whole network (:func:`freeze_bn_stats`).

    Returns:
        Counts: ``{"trainable": ..., "frozen": ..., "frozen_blocks": ..., "blocks": ...}`` (parameters,
        blocks).
    """
    kind, n = parse_mode(mode)
    stem, blocks = backbone_blocks(model)
    if n > len(blocks):
        raise ValueError(f"freeze:{n} asks for more blocks than the model has ({len(blocks)})")
    head = head_name(model)
    for p in model.parameters():
        p.requires_grad_(kind != "linear")
    if kind == "linear":
        for p in _get(model, head).parameters():
            p.requires_grad_(True)
        freeze_bn_stats(model)
    elif kind == "freeze" and n > 0:
        for name in stem + blocks[:n]:
            for p in _get(model, name).parameters():
                p.requires_grad_(False)
            _freeze_bn_at(model, name)
    if bn_stats:
        freeze_bn_stats(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"trainable": trainable, "frozen": frozen, "frozen_blocks": n if kind == "freeze" else
            (len(blocks) if kind == "linear" else 0), "blocks": len(blocks)}
