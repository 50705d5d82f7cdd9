"""``receptive_boxes``: the input box each unit of a layer's feature map depends on, exactly, from the trace."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlab.analysis._summary import _check_input_size, trace


def receptive_boxes(model: nn.Module, input_size: Sequence[int], layer: nn.Module | str, units: Tensor | Sequence,
                    *, dtype: torch.dtype = torch.float32, device: str | torch.device | None = "meta") -> Tensor:
    """The input box seen by each of ``units`` of the map that ``layer`` outputs: ``Tensor[K, 4]`` of rows
    ``(y0, x0, y1, x1)``, end exclusive, inside the image.

    The box is the receptive field as the network really reads it: it follows every branch of the traced
    graph (residual adds, concatenated Inception branches, ``F.pad``), and at the image border it stops where
    the unit stops depending on the input, which the field's size/stride/start clipped to the image does not
    always say (intermediate padding after floor rounding, dilation gaps, a ``"SAME"`` pad on one side). A unit
    depends on a pixel when some path of non-zero-width windows links them, as the support of its gradient in
    a network with positive weights and no zero activations.

    Args:
        model: any ``nn.Module`` taking one image batch; it is not changed (see :func:`summarize`).
        input_size: ``(C, H, W)`` or ``(N, C, H, W)``.
        layer: a module of ``model`` or its dotted name; a module called several times (a shared ReLU) is
            taken at its last call, whose output a forward hook keeps.
        units: ``Tensor[K, 2]`` (or pairs) of ``(y, x)`` positions in the layer's ``h x w`` map.
        dtype, device: of the traced pass, as in :func:`summarize`; the boxes do not depend on them.

    Returns:
        ``Tensor[K, 4]`` (int64, on the CPU).

    Raises:
        ValueError: ``layer`` is not called, does not output one ``(N, C, h, w)`` map, or its units' extents
            cannot be traced exactly (an op the trace has no rule for, a global mix such as attention or a
            context vector broadcast over the map, interpolation); or a unit lies outside the map or depends
            on no pixel at all (it reads only padding).

    Example:
        >>> from cnnlab import models
        >>> receptive_boxes(models.create("lenet5"), (1, 28, 28), "features.3", [[0, 0], [5, 5]]).tolist()
        [[0, 0, 12, 12], [8, 8, 22, 22]]
    """
    shape = _check_input_size(input_size)
    what = repr(layer) if isinstance(layer, str) else type(layer).__name__
    try:
        module = model.get_submodule(layer) if isinstance(layer, str) else layer
    except AttributeError:
        module = None
    if not any(m is module for m in model.modules()):
        raise ValueError(f"layer {what} is not a module of the model")
    tracer, _, _ = trace(model, shape, dtype, device, extents=True)
    calls = [c for c in tracer.calls if c.module is module]
    if not calls:
        raise ValueError(f"layer {what} was not called in the forward pass")
    call = calls[-1]
    node = call.node
    if node is None or call.outputs[0].dim() != 4:
        got = [tuple(t.shape) for t in call.outputs]
        raise ValueError(f"layer {what} must output one (N, C, h, w) feature map, got shapes {got}")
    if node.extent is None or node.sdims != (2, 3):
        why = node.rf.note or (f"its receptive field is {node.rf.kind}" if not node.rf.is_local
                               else "a tensor without a per-unit grid is mixed into the map")
        raise ValueError(f"the input boxes of layer {what}'s units cannot be traced exactly: {why}")
    units = torch.as_tensor(units).long().reshape(-1, 2)
    h, w = call.outputs[0].shape[-2:]
    if len(units) and (int(units[:, 0].max()) >= h or int(units[:, 1].max()) >= w or int(units.min()) < 0):
        raise ValueError(f"units must lie in the layer's {h}x{w} map, got {units.tolist()}")
    boxes = []
    for y, x in units.tolist():
        rows, cols = node.extent[0][y], node.extent[1][x]
        if rows is None or cols is None:
            raise ValueError(f"unit ({y}, {x}) of layer {what} reads only padding: it sees no pixel")
        boxes.append([rows[0], cols[0], rows[1] + 1, cols[1] + 1])
    return torch.tensor(boxes, dtype=torch.long).reshape(-1, 4)
