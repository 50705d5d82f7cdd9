"""Box arithmetic shared by cnnlab's own detectors: the R-CNN box parameterisation (Girshick et al. 2014, appendix
C) and proposal-to-ground-truth sampling. IoU and NMS are torchvision's (``torchvision.ops.box_iou``, ``nms``,
``batched_nms``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import box_iou

BBOX_CLIP = math.log(1000.0 / 16)


def encode_boxes(gt: Tensor, proposals: Tensor, weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0)) -> Tensor:
    """Regression targets ``(tx, ty, tw, th)`` of ``gt`` boxes relative to ``proposals`` (both ``Tensor[N, 4]``
    x1y1x2y2): ``tx = wx (gx - px) / pw``, ``tw = ww log(gw / pw)`` (R-CNN; the weights are Fast R-CNN's target
    normalisation, the same as torchvision's ``BoxCoder``)."""
    wx, wy, ww, wh = weights
    pw, ph = proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]
    px, py = proposals[:, 0] + 0.5 * pw, proposals[:, 1] + 0.5 * ph
    gw, gh = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    gx, gy = gt[:, 0] + 0.5 * gw, gt[:, 1] + 0.5 * gh
    return torch.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * torch.log(gw / pw), wh * torch.log(gh / ph)],
                       dim=1)


def decode_boxes(deltas: Tensor, proposals: Tensor, weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0)) -> Tensor:
    """The inverse of :func:`encode_boxes`: ``deltas [N, 4]`` (or ``[N, K, 4]``, one per class) applied to
    ``proposals [N, 4]``; log-size deltas are clamped at ``log(1000 / 16)`` as torchvision does."""
    wx, wy, ww, wh = weights
    p = proposals[:, None, :] if deltas.dim() == 3 else proposals
    pw, ph = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    px, py = p[..., 0] + 0.5 * pw, p[..., 1] + 0.5 * ph
    dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
    dw, dh = (deltas[..., 2] / ww).clamp(max=BBOX_CLIP), (deltas[..., 3] / wh).clamp(max=BBOX_CLIP)
    cx, cy, w, h = px + dx * pw, py + dy * ph, pw * torch.exp(dw), ph * torch.exp(dh)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def clip_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Boxes clipped to an image of ``size = (h, w)``."""
    h, w = size
    out = boxes.clone()
    out[..., 0::2] = out[..., 0::2].clamp(0, w)
    out[..., 1::2] = out[..., 1::2].clamp(0, h)
    return out


def sample_rois(proposals: Tensor, gt_boxes: Tensor, gt_labels: Tensor, *, num: int, positive_fraction: float,
                fg_iou: float, bg_iou: tuple[float, float], generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fast R-CNN's minibatch of regions for one image (Girshick 2015, section 2.3).

    The ground-truth boxes join the proposals; up to ``positive_fraction * num`` regions with IoU >= ``fg_iou``
    to a ground-truth box are foreground (label of that box), the rest background drawn from IoU in ``bg_iou``
    (``[lo, hi)``), topped up from IoU below ``lo`` when too few.

    Returns:
        ``(rois [R, 4], labels [R] (0 = background), matched gt boxes [R, 4], IoU [R])``.
    """
    props = torch.cat([proposals, gt_boxes]) if len(gt_boxes) else proposals
    if len(gt_boxes):
        iou = box_iou(props, gt_boxes)
        best, idx = iou.max(1)
        matched = gt_boxes[idx]
        labels = gt_labels[idx].clone()
    else:
        best = torch.zeros(len(props))
        matched = props.clone()
        labels = torch.zeros(len(props), dtype=torch.int64)

    def perm(mask: Tensor) -> Tensor:
        ids = mask.nonzero().flatten()
        return ids[torch.randperm(len(ids), generator=generator)]

    fg = perm(best >= fg_iou)[: int(round(num * positive_fraction))]
    bg = perm((best < bg_iou[1]) & (best >= bg_iou[0]))
    if len(bg) < num - len(fg):
        bg = torch.cat([bg, perm(best < bg_iou[0])])
    bg = bg[: num - len(fg)]
    keep = torch.cat([fg, bg])
    labels = labels[keep]
    labels[len(fg):] = 0
    return props[keep], labels, matched[keep], best[keep]
