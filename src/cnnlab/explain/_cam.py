"""Class activation maps at a layer: CAM, Grad-CAM, guided Grad-CAM (shared arguments: ``explain._core``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnlab.explain._core import (
    Target,
    capture_layer,
    check_feature_map,
    check_inputs,
    layer_name,
    model_state,
    prepare_target,
    register_method,
    resolve_layer,
    resolve_target,
    target_scores,
    upsample,
)
from cnnlab.explain._gradient import guided_backprop


def _finish(maps: Tensor, inputs: Tensor, relu: bool, size: bool, mode: str) -> Tensor:
    if relu:
        maps = maps.clamp_min(0)
    return upsample(maps, inputs, mode=mode) if size else maps


def layer_gradients(model: nn.Module, inputs: Tensor, target: Target, layer: nn.Module | str | None
                    ) -> tuple[Tensor, Tensor]:
    """The activation ``A`` of ``layer`` and ``d score / d A`` (both ``Tensor[N, K, h, w]``); the backward
    pass stops at the layer."""
    check_inputs(model, inputs)
    target = prepare_target(target, inputs.device)
    mod = resolve_layer(model, layer)
    store: dict[str, Tensor] = {}
    with model_state(model) as handles:
        handles.append(capture_layer(mod, store, grad=True))
        with torch.enable_grad():
            out = model(inputs.detach())
            if "act" not in store:
                raise ValueError(f"layer {layer_name(model, mod)!r} was not called in the forward pass")
            check_feature_map(model, mod, store["act"], "a layer method (Grad-CAM)")
            scores = target_scores(out, target)
            (grad,) = torch.autograd.grad(scores.sum(), store["act"], allow_unused=True)
    if grad is None:
        raise ValueError(f"the target score does not depend on layer {layer_name(model, mod)!r}")
    return store["act"].detach(), grad


@register_method("gradcam", kind="layer")
def gradcam(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: nn.Module | str | None = None,
            relu: bool = True, upsample_to_input: bool = True, mode: str = "bilinear") -> Tensor:
    """Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of the gradient of the class score at
    ``layer``; map = ReLU of the weighted sum of the layer's channels.

    Args:
        layer: where to look (default: the last ``nn.Conv2d``).
        relu: apply the ReLU (default ``True``; ``False`` gives the signed map).
        upsample_to_input: resize to the input's ``H x W`` with :func:`upsample` (default ``True``);
            ``False`` returns the layer's resolution.
        mode: interpolation of the upsampling (``"bilinear"``, ``"bicubic"``, ``"nearest"``).

    Returns:
        ``Tensor[N, 1, H, W]`` (or ``[N, 1, h, w]``), unnormalised; see :func:`normalize_maps`.

    Example:
        >>> net = cnnlab.models.create("resnet_small", in_channels=3)
        >>> gradcam(net, torch.rand(2, 3, 32, 32), target=[1, 7], layer="layer3").shape
        torch.Size([2, 1, 32, 32])
    """
    act, grad = layer_gradients(model, inputs, target, layer)
    # (N, K, h, w) -> (N, K, 1, 1): global-average the gradients into channel weights
    weights = grad.mean((2, 3), keepdim=True)
    maps = (weights * act).sum(1, keepdim=True)
    return _finish(maps, inputs, relu, upsample_to_input, mode)


@register_method("cam", kind="layer")
def cam(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: nn.Module | str | None = None,
        fc: nn.Module | str | None = None, relu: bool = False, upsample_to_input: bool = True,
        mode: str = "bilinear") -> Tensor:
    """Class activation map (Zhou et al. 2016) for networks ending in global average pooling + a linear layer:
    ``M_c(x, y) = sum_k w[c, k] A_k(x, y)``, so that ``mean(M_c) + b_c`` is the class score.

    Args:
        layer: the feature maps that are pooled (default: the input of the last ``nn.AdaptiveAvgPool2d``).
        fc: the linear classifier (default: the last ``nn.Linear``).
        relu: clamp negative evidence to 0 (default ``False``: the map as in the paper).

    Raises:
        ValueError: when the head is not global average pooling + linear at ``layer`` (use :func:`gradcam`).
    """
    check_inputs(model, inputs)
    head_fc, head_pool = _cam_head(model)
    linear = resolve_layer(model, fc if fc is not None else head_fc)
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"fc must be an nn.Linear, got {type(linear).__name__}")
    store: dict[str, Tensor] = {}
    with model_state(model) as handles:
        if layer is None:
            if head_pool is None:
                raise ValueError("CAM needs a global-average-pooling + linear head; this model's card records "
                                 "none (use gradcam, or pass layer=)")
            pool = resolve_layer(model, head_pool)
            handles.append(pool.register_forward_pre_hook(lambda m, args: store.__setitem__("act", args[0])))
        else:
            handles.append(capture_layer(resolve_layer(model, layer), store, grad=False))
        handles.append(linear.register_forward_pre_hook(lambda m, args: store.__setitem__("fc_in", args[0])))
        with torch.no_grad():
            out = model(inputs.detach())
    if "act" not in store or "fc_in" not in store:
        raise ValueError("CAM needs the feature layer and the linear layer to run in the forward pass")
    act, fc_in = store["act"], store["fc_in"]
    if layer is not None:
        check_feature_map(model, resolve_layer(model, layer), act, "CAM")
    pooled = act.mean((2, 3)) if act.dim() == 4 else None
    if pooled is None or fc_in.dim() != 2 or pooled.shape != fc_in.shape or not torch.allclose(
            pooled, fc_in, rtol=1e-4, atol=1e-4 * float(fc_in.abs().max().clamp_min(1))):
        raise ValueError("CAM needs global average pooling of the layer followed by the linear layer; "
                         "this model's head is different (use gradcam)")
    if callable(target) and not isinstance(target, Tensor):
        raise TypeError("CAM explains a class: target must be None, an int or per-sample classes")
    cls = resolve_target(out, target)
    w = linear.weight.detach()[cls].to(act.dtype)  # (N, K)
    maps = torch.einsum("nk,nkhw->nhw", w, act)[:, None]
    return _finish(maps, inputs, relu, upsample_to_input, mode)


def _cam_head(model: nn.Module) -> tuple[str, str | None]:
    """(classifier, global pool) names: from the model's card, or for a plain module without one its last
    ``nn.Linear`` and last ``nn.AdaptiveAvgPool2d``."""
    from cnnlab.models import ModelCard, last_module_name

    card = getattr(model, "cnnlab", None)
    if isinstance(card, ModelCard) and card.classifier is not None:
        return card.classifier, card.pool
    fc = last_module_name(model, nn.Linear)
    if fc is None:
        raise ValueError("CAM needs an nn.Linear classifier; this model has none (use gradcam)")
    return fc, last_module_name(model, nn.AdaptiveAvgPool2d)


@register_method("guided-gradcam", kind="pixel")
def guided_gradcam(model: nn.Module, inputs: Tensor, target: Target = None, *,
                   layer: nn.Module | str | None = None, mode: str = "bilinear") -> Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM map upsampled to the input
    (``mode``), ``Tensor[N, C, H, W]`` — class-discriminative and fine-grained."""
    cam_maps = gradcam(model, inputs, target, layer=layer, relu=True, upsample_to_input=True, mode=mode)
    return guided_backprop(model, inputs, target) * cam_maps
