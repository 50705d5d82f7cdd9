"""A faster private copy of a network for the optimisation loop: eval-mode batch norms folded into the convolutions
before them, weights in channels-last memory format. The user's model is never touched, and the copy is used only
when its feature maps equal the original's."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cnnlab.style._features import feature_taps


def _fold_pairs(model: nn.Module) -> list[tuple[nn.Module, str, nn.Conv2d, nn.BatchNorm2d]]:
    """(parent, bn name, conv, bn) for every ``BatchNorm2d`` registered right after a ``Conv2d`` of the same width in
    the same parent (EfficientNet's ``_expand_conv`` / ``_bn0``, ResNet's ``conv1`` / ``bn1``, conv-BN blocks). The
    registration order is a guess about the forward pass; :func:`fast_copy` checks the result."""
    pairs = []
    for parent in model.modules():
        kids = list(parent.named_children())
        for (_, a), (name, b) in zip(kids, kids[1:]):
            if (isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) and b.track_running_stats
                    and b.running_mean is not None and a.out_channels == b.num_features):
                pairs.append((parent, name, a, b))
    return pairs


@torch.no_grad()
def _fold(model: nn.Module) -> int:
    pairs = _fold_pairs(model)
    for parent, name, conv, bn in pairs:
        scale = (bn.weight if bn.affine else torch.ones_like(bn.running_var)) / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + shift, requires_grad=False)
        setattr(parent, name, nn.Identity())
    return len(pairs)


def fast_copy(model: nn.Module, layers: Sequence[str], probe: Tensor,
              check: Callable[[dict[str, list[Tensor]], dict[str, list[Tensor]]], bool] | None = None) -> nn.Module:
    """The model to optimise with: a copy with batch norms folded and channels-last weights when that copy gives the
    same feature maps at ``layers`` for ``probe`` (``Tensor[1, 3, H, W]``), else ``model`` itself.

    Batch norm is folded only in eval mode (the mode style transfer runs in): ``y = gamma (x - mu) / sigma + beta``
    after a convolution is the convolution with weights ``W gamma / sigma`` and bias ``(b - mu) gamma / sigma +
    beta``. A model without such pairs is returned as it is (nothing to gain from a copy).
    """
    if not _fold_pairs(model):
        return model
    fast = copy.deepcopy(model).eval().requires_grad_(False)
    for m in fast.modules():  # the user's hooks stay on the user's model (a hook that changes outputs fails the check)
        for d in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks, m._backward_pre_hooks):
            d.clear()
    _fold(fast)
    fast = fast.to(memory_format=torch.channels_last)
    with torch.no_grad(), feature_taps(model, layers) as run_a, feature_taps(fast, layers) as run_b:
        a, b = run_a(probe), run_b(probe.contiguous(memory_format=torch.channels_last))
    same = all(len(a[n]) == len(b[n]) and all(
        x.shape == y.shape and float((x - y).abs().max()) <= 1e-3 * float(x.abs().max()) + 1e-5
        for x, y in zip(a[n], b[n])) for n in layers)
    if check is not None:
        same = same and check(a, b)
    return fast if same else model
