"""Occlusion sensitivity (Zeiler & Fergus 2014), every window batched (shared arguments: ``explain._core``)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab._device import check_autocast
from cnnlab.explain._core import Target, check_inputs, model_state, register_method, resolve_target, target_scores


def _pair(v: int | Sequence[int], name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(v)
    if len(t) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in t):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {v!r}")
    return t  # type: ignore[return-value]


def _window_masks(size: int, window: int, stride: int, device: torch.device) -> Tensor:
    """``Tensor[n, size]`` bool: row ``i`` covers ``[i * stride, i * stride + window)``, clipped at the edge;
    ``n = ceil((size - window) / stride) + 1`` so the last window reaches the border (as Captum's)."""
    n = -(-(size - window) // stride) + 1
    pos = torch.arange(size, device=device)
    start = torch.arange(n, device=device)[:, None] * stride
    return (pos >= start) & (pos < start + window)


@register_method("occlusion", kind="pixel")
def occlusion(model: nn.Module, inputs: Tensor, target: Target = None, *, window: int | Sequence[int] = 16,
              stride: int | Sequence[int] | None = None, fill: float | Tensor = 0.5, batch_size: int = 256,
              dtype: torch.dtype | None = None, channels_last: bool = True) -> Tensor:
    """Occlusion sensitivity (Zeiler & Fergus 2014): slide a ``window`` patch of ``fill`` over the image with
    ``stride``; each pixel gets the mean drop of the class score over the windows covering it; the last window in a
    row or column is clipped at the border, so every pixel is covered (a window larger than the image and a
    stride larger than the window, which would leave pixels no window covers, are refused). Equal to Captum's
    ``Occlusion`` with a window spanning all channels.

    Args:
        window: patch size, int or ``(h, w)`` (default 16).
        stride: step between windows, int or ``(h, w)`` (default ``window // 2``).
        fill: the patch value in pixel space (default 0.5, mid-grey), or ``Tensor[C]`` per channel.
        batch_size: occluded images per forward pass; all windows of all samples go through the model in
            batches of this size.
        dtype: e.g. ``torch.bfloat16`` runs the forward passes under autocast (faster on GPUs, a little
            less exact); the map is float32.
        channels_last: run the forward passes on channels-last batches (the model itself is not changed):
            oneDNN and cuDNN convolutions are faster in that layout, and the maps are the same to float
            rounding. A model that cannot take them (a ``.view`` on its features) falls back to the default
            layout after its first failed pass.

    Returns:
        ``Tensor[N, C, H, W]`` (the same value in every channel).

    Example:
        >>> net = cnnlab.models.create("lenet5")
        >>> occlusion(net, torch.rand(2, 1, 28, 28), target=0, window=7, stride=7).shape
        torch.Size([2, 1, 28, 28])
    """
    check_inputs(model, inputs)
    n, c, h, w = inputs.shape
    (kh, kw), (sh, sw) = _pair(window, "window"), _pair(stride if stride is not None else
                                                       tuple(max(1, k // 2) for k in _pair(window, "window")),
                                                       "stride")
    def show(a: int, b: int) -> str:
        return str(a) if a == b else f"{a}x{b}"

    if kh > h or kw > w:
        raise ValueError(f"window {show(kh, kw)} is larger than the {h}x{w} image")
    if sh > kh or sw > kw:
        # windows further apart than their size leave pixels that no window covers: a map with holes
        raise ValueError(f"stride {show(sh, sw)} is larger than the window {show(kh, kw)}: pixels between the "
                         "windows would get no attribution (use a stride <= the window)")
    check_int("batch_size", batch_size)
    dev = inputs.device
    x = inputs.detach()
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=dev)
    if fill_t.dim() == 1 and fill_t.numel() == c:
        fill_t = fill_t.view(1, 1, c, 1, 1)
    elif fill_t.dim() != 0:
        raise ValueError(f"fill must be a number or a Tensor[{c}], got shape {tuple(fill_t.shape)}")
    rows, cols = _window_masks(h, kh, sh, dev), _window_masks(w, kw, sw, dev)  # (ny, H), (nx, W)
    ny, nx = rows.shape[0], cols.shape[0]
    per = max(1, batch_size // n)  # windows per forward pass
    if dtype is not None:
        check_autocast(dev, dtype, "dtype")
    autocast = torch.autocast(dev.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    layout = [torch.channels_last] if channels_last else []

    def forward(batch: Tensor) -> Tensor:
        if layout:
            try:
                return model(batch.contiguous(memory_format=layout[0]))
            except RuntimeError:  # e.g. a .view() of NCHW-contiguous features: the default layout from now on
                layout.clear()
        return model(batch)

    drops = []
    with model_state(model), torch.no_grad(), autocast:
        out = forward(x)
        if callable(target) and not isinstance(target, Tensor):
            cls, base = None, target_scores(out, target).float()
        else:
            cls = resolve_target(out, target)
            base = target_scores(out, cls).float()
        for p0 in range(0, ny * nx, per):
            p = torch.arange(p0, min(p0 + per, ny * nx), device=dev)
            mask = rows[p // nx][:, :, None] & cols[p % nx][:, None, :]  # (B, H, W)
            occluded = torch.where(mask[None, :, None], fill_t, x[:, None]).flatten(0, 1)  # (N * B, C, H, W)
            o = forward(occluded)
            t = target if cls is None else cls.repeat_interleave(len(p))
            drops.append(base[:, None] - target_scores(o, t).float().view(n, len(p)))
    d = torch.cat(drops, 1).view(n, ny, nx)
    r, cl = rows.to(d.dtype), cols.to(d.dtype)
    # (N, ny, nx) x (ny, H) x (nx, W) -> (N, H, W): sum the drops of every window covering a pixel
    total = torch.einsum("nij,ih,jw->nhw", d, r, cl)
    count = r.sum(0)[:, None] * cl.sum(0)[None, :]
    attr = total / count.clamp_min(1)
    return attr[:, None].expand(n, c, h, w).to(inputs.dtype if inputs.is_floating_point() else torch.float32)
