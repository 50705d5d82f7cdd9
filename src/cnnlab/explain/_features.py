"""Looking at what a layer computes: feature maps, first-layer kernels, receptive fields and the dataset
patches that excite a channel most."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import model_device
from cnnlab.analysis import receptive_boxes
from cnnlab.explain._core import capture_layer, check_inputs, layer_name, model_state, resolve_layer
from cnnlab.explain._plot import image_grid


def feature_maps(model: nn.Module, inputs: Tensor, layer: nn.Module | str | None = None) -> Tensor:
    """The output of ``layer`` (default: the last ``nn.Conv2d``) for ``inputs``: ``Tensor[N, K, h, w]``.

    Example:
        >>> net = cnnlab.models.create("lenet5")
        >>> feature_maps(net, torch.rand(2, 1, 28, 28), "features.0").shape
        torch.Size([2, 6, 28, 28])
    """
    check_inputs(model, inputs)
    mod = resolve_layer(model, layer)
    store: dict[str, Tensor] = {}
    with model_state(model) as handles, torch.no_grad():
        handles.append(capture_layer(mod, store, grad=False))
        model(inputs)
    if "act" not in store:
        raise ValueError(f"layer {layer_name(model, mod)!r} was not called in the forward pass")
    return store["act"].detach()


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` of ``model`` in registration order."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError("model has no nn.Conv2d layer")


def kernel_grid(model: nn.Module, layer: nn.Module | str | None = None, *, ncol: int | None = None) -> Tensor:
    """The kernels of a convolution (default: the first one) tiled as one image ``Tensor[C', H, W]``, each
    kernel min-max scaled on its own; 3-channel kernels are shown in colour, others per input channel mean.
    """
    conv = first_conv(model) if layer is None else resolve_layer(model, layer)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"kernel_grid needs an nn.Conv2d layer, got {type(conv).__name__}")
    w = conv.weight.detach().float().cpu()  # (out, in / groups, kh, kw)
    tiles = w if w.shape[1] == 3 else w.mean(1, keepdim=True)
    return image_grid(tiles, ncol=ncol, pad=1)


def receptive_field(model: nn.Module, layer: nn.Module | str | None, input_shape: tuple[int, int, int],
                    units: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Input boxes seen by units of ``layer`` (default: the last ``nn.Conv2d``): ``Tensor[K, 4]`` rows
    ``(y0, x0, y1, x1)``, end exclusive, clipped to the image, for ``units`` = ``Tensor[K, 2]`` of ``(y, x)``
    positions in the layer's map.

    Exact for any architecture the analysis trace follows (padding, asymmetric "SAME" padding, residual and
    parallel branches), border units included: :func:`cnnlab.analysis.receptive_boxes` on an ``input_shape``
    = ``(C, H, W)`` image. The model is traced (on the meta device where it can be), not changed; ``dtype`` is
    that of the traced pass.

    Raises:
        ValueError: where the analysis cannot give an exact box (a layer without an ``(N, C, h, w)`` output,
            an op the trace has no rule for, a global mix), or a unit outside the layer's map.
    """
    mod = resolve_layer(model, layer)
    return receptive_boxes(model, tuple(input_shape), layer if isinstance(layer, str) else mod, units, dtype=dtype)


@dataclass
class TopPatches:
    """The dataset patches that excite one channel most.

    Attributes:
        patches: ``Tensor[k, C, rh, rw]`` crops of the receptive field (padded with 1 where the field leaves
            the image).
        scores: ``Tensor[k]`` the activations, highest first.
        indices: ``Tensor[k]`` dataset indices of the images.
        units: ``Tensor[k, 2]`` ``(y, x)`` of the unit in the layer's map.
        boxes: ``Tensor[k, 4]`` ``(y0, x0, y1, x1)`` crop boxes in the image.
    """

    patches: Tensor
    scores: Tensor
    indices: Tensor
    units: Tensor
    boxes: Tensor

    def grid(self, ncol: int | None = None) -> Tensor:
        """The patches tiled into one image ``Tensor[C, H, W]``."""
        return image_grid(self.patches, ncol=ncol, normalize=False)


def top_patches(model: nn.Module, images: Tensor, layer: nn.Module | str | None, channel: int, *, k: int = 9,
                batch_size: int = 256) -> TopPatches:
    """The ``k`` images of ``images`` (``Tensor[N, C, H, W]`` in [0, 1]) whose strongest unit of ``channel`` at
    ``layer`` is strongest, each cropped to that unit's receptive field (:func:`receptive_field`); one
    patch per image."""
    check_inputs(model, images, "images")
    check_int("k", k)
    mod = resolve_layer(model, layer)
    best, where = [], []
    dev = model_device(model)
    for chunk in images.split(batch_size):
        act = feature_maps(model, chunk.to(dev), mod)
        if not 0 <= channel < act.shape[1]:
            raise ValueError(f"channel must be in [0, {act.shape[1] - 1}], got {channel}")
        a = act[:, channel].flatten(1)  # (B, h * w): the strongest unit of every image
        v, i = a.max(1)
        best.append(v.cpu())
        where.append(torch.stack([i // act.shape[-1], i % act.shape[-1]], 1).cpu())
    scores, units = torch.cat(best), torch.cat(where)
    top = scores.topk(min(k, len(scores))).indices
    boxes = receptive_field(model, mod, tuple(images.shape[1:]), units[top])
    rh, rw = int((boxes[:, 2] - boxes[:, 0]).max()), int((boxes[:, 3] - boxes[:, 1]).max())
    h, w = images.shape[-2:]
    crops = []
    for idx, (y0, x0, y1, x1) in zip(top.tolist(), boxes.tolist()):
        crop = images[idx, :, y0:y1, x0:x1].float().cpu()
        py, px = rh - (y1 - y0), rw - (x1 - x0)  # pad on the side where the field left the image
        pad = (px if x0 == 0 and x1 < w else 0, px if not (x0 == 0 and x1 < w) else 0,
               py if y0 == 0 and y1 < h else 0, py if not (y0 == 0 and y1 < h) else 0)
        crops.append(F.pad(crop, pad, value=1.0))
    return TopPatches(torch.stack(crops), scores[top], top, units[top], boxes)
