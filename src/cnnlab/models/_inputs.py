"""The shared input check: can this model take images of this size, and what would one image cost?

Every entry point that feeds a model a size the user chose (``summary --input``, ``transfer --resize``, the
detection and segmentation backbones, style transfer's ``--size``) calls :func:`check_input_size` first, so that
a size the network's depth cannot take, a fixed-size classifier, a wrong channel count or a size that would need
more memory than the machine has is one clear ``ValueError`` naming the size, not a traceback from deep inside
the network.

The forward pass runs on the meta device (shapes only, no memory, no compute): for a registered model a copy is
built there from its card; any other module (wrapped, torchvision, plain) is probed with one real image when the
size is small, and with meta stand-ins for its parameters and buffers when it is large.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cnnlab._checks import check_images, check_int
from cnnlab.models._api import MODELS, ModelCard

# refuse sizes whose forward activations for one image exceed this share of physical memory
MEMORY_SHARE = 0.25
# a module that is not rebuilt from the registry is probed with one real image up to this many values (faster
# than the meta device's decompositions, and small enough for any machine), on the meta device above it
REAL_PROBE_PIXELS = 3 * 256 * 256


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def _meta_copy(model: nn.Module) -> nn.Module | None:
    card = getattr(model, "cnnlab", None)
    if not isinstance(card, ModelCard) or card.source != "cnnlab" or card.name not in MODELS:
        return None
    kwargs = dict(card.kwargs)
    adapter = kwargs.pop("input_adapter", None)
    try:
        with torch.device("meta"):
            probe = MODELS.lookup(card.name)(**kwargs)
            if adapter:
                from cnnlab.models._adapter import InputAdapter

                probe.normalize = InputAdapter(probe.normalize, **adapter)
    except (TypeError, ValueError, RuntimeError, NotImplementedError):
        return None  # a card edited by hand: probe the model itself
    return probe.eval()


def _meta_unsupported(exc: BaseException) -> bool:
    # an op without a meta kernel or one that reads data (.item()): not a statement about the size
    return isinstance(exc, NotImplementedError) or "meta" in str(exc).lower()


def activation_bytes(model: nn.Module, size: Sequence[int], *, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of the outputs of the model's leaf modules for one image of ``size`` ``(C, H, W)``, measured on the
    meta device (an estimate of the forward pass's activation memory; the check behind
    :func:`check_input_size`). Raises what the forward pass raises for a size the model cannot take.

    A registry model is rebuilt on the meta device from its card; any other module (wrapped, torchvision, plain)
    runs as it is, in eval mode and left as found: with one real image up to ``REAL_PROBE_PIXELS`` values, above
    that with meta stand-ins for its parameters and buffers (``torch.func.functional_call``; a real image again
    only if its forward cannot run on meta).
    """
    from cnnlab.models._state import frozen

    probe = _meta_copy(model)
    total = 0

    def count(_m: nn.Module, _i: object, out: object) -> None:
        nonlocal total
        if isinstance(out, Tensor):
            total += out.numel() * out.element_size()

    target = probe if probe is not None else model
    handles = [m.register_forward_hook(count) for m in target.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            if probe is not None:
                probe(torch.zeros(1, *size, dtype=dtype, device="meta"))
                return total
            with frozen(model):
                if math.prod(size) > REAL_PROBE_PIXELS:  # large: shapes only, no memory
                    stand_ins = {n: torch.empty_like(t, device="meta")
                                 for n, t in [*model.named_parameters(), *model.named_buffers()]}
                    meta_x = torch.zeros(1, *size, dtype=dtype, device="meta")
                    try:
                        torch.func.functional_call(model, stand_ins, (meta_x,), strict=False)
                        return total
                    except (RuntimeError, NotImplementedError) as exc:
                        if not _meta_unsupported(exc):
                            raise
                    total = 0
                device = next((p.device for p in model.parameters()), torch.device("cpu"))
                model(torch.zeros(1, *size, dtype=dtype, device=device))
                return total
    finally:
        for h in handles:
            h.remove()


def check_input_size(model: nn.Module, size: Sequence[int], *, what: str = "input size",
                     max_bytes: int | None = None) -> tuple[int, int, int]:
    """``(C, H, W)`` if ``model`` can take one image of that size, else a ``ValueError`` naming it.

    Args:
        model: a cnnlab model (a copy is probed on the meta device) or any ``nn.Module`` (probed with one image).
        size: ``(C, H, W)``.
        what: how the message names the size (e.g. ``"--resize 100000"``).
        max_bytes: refuse sizes whose activations for one image exceed this (default: a quarter of the machine's
            physical memory).

    Example:
        >>> from cnnlab import models
        >>> check_input_size(models.create("resnet_small"), (1, 28, 28))
        (1, 28, 28)
    """
    if len(size) != 3:
        raise ValueError(f"{what} must be (C, H, W), got {tuple(size)!r}")
    c, h, w = (int(check_int(what, v)) for v in size)
    card = getattr(model, "cnnlab", None)
    name = card.name if isinstance(card, ModelCard) else type(model).__name__
    built = f"; it was built for {'x'.join(map(str, card.input_size))}" if isinstance(card, ModelCard) else ""
    if isinstance(card, ModelCard) and card.input_size[0] != c:
        raise ValueError(f"{what} {c}x{h}x{w}: model {name!r} takes {card.input_size[0]}-channel images")
    try:
        nbytes = activation_bytes(model, (c, h, w))
    except (RuntimeError, ValueError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"model {name!r} cannot take {what} {c}x{h}x{w}{built} ({reason})") from None
    limit = int(MEMORY_SHARE * _physical_memory()) if max_bytes is None else int(max_bytes)
    if nbytes > limit:
        raise ValueError(f"{what} {c}x{h}x{w} is too large for model {name!r}: one image needs about "
                         f"{nbytes / 2**30:.1f} GiB of activations (limit {limit / 2**30:.1f} GiB)")
    return c, h, w


def check_batch(model: nn.Module, images: Tensor, *, name: str = "images") -> Tensor:
    """The boundary check of every function that runs a model on a batch of images: ``images`` is a float
    ``Tensor[N, C, H, W]``, finite, in [0, 1] (:func:`cnnlab._checks.check_images`: 0..255 pixels and NaN are
    refused), with the channels the model's card says, and of a size the model can take
    (:func:`check_input_size`, probed only when the size is not the card's own).

    Returns ``images``. A module without a card gets the pixel checks only.

    Example:
        >>> from cnnlab import models
        >>> models.check_batch(models.create("lenet5"), torch.rand(2, 1, 8, 8))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: model 'lenet5' cannot take images 1x8x8; it was built for 1x28x28 (...)
    """
    card = getattr(model, "cnnlab", None)
    if isinstance(card, ModelCard) and isinstance(images, Tensor) and images.dim() == 4:
        c = card.input_size[0]
        if images.shape[1] != c:
            n = images.shape[1]
            raise ValueError(f"{name} have {n} channel{'s' if n != 1 else ''} (shape {tuple(images.shape)}), model "
                             f"{card.name!r} takes {c}-channel images ({'x'.join(map(str, card.input_size))})")
    try:
        check_images(images, name)
    except ValueError as exc:
        if "must be pixels in [0, 1]" in str(exc) and float(images.detach().amin()) < 0:
            raise ValueError(f"{exc}; normalised inputs? cnnlab models take [0, 1] pixels: make the normalisation "
                             "a layer of the model (cnnlab.models.wrap(module, mean=..., std=...))") from None
        raise
    if isinstance(card, ModelCard) and tuple(images.shape[-2:]) != tuple(card.input_size[1:]):
        check_input_size(model, tuple(images.shape[1:]), what=name)
    return images


def prepare(model: nn.Module, images: Sequence[Tensor] | Tensor, *, name: str = "images") -> Tensor:
    """The batch a model runs on, from what users give: ``Tensor[C, H, W]`` images of any size in [0, 1], each
    prepared as the model's card says (:func:`cnnlab.models.preprocess`), or an already prepared
    ``Tensor[N, C, H, W]``; either way checked with :func:`check_batch`. Prediction, the explanations of photos
    and the attacks on photos all start here.
    """
    from cnnlab.models._predict import preprocess

    if isinstance(images, Tensor) and images.dim() == 4:
        return check_batch(model, images, name=name)
    if isinstance(images, Tensor) and images.dim() == 3:
        images = [images]
    if not isinstance(images, (Sequence, Tensor)) or not len(images):
        raise ValueError(f"{name} must be a non-empty list of Tensor[C, H, W] or a Tensor[N, C, H, W]")
    prepared = []
    for i, img in enumerate(images):
        if not isinstance(img, Tensor) or img.dim() != 3:
            got = tuple(img.shape) if isinstance(img, Tensor) else type(img).__name__
            raise ValueError(f"{name}[{i}] must be an image Tensor[C, H, W], got {got}")
        check_images(img[None], f"{name}[{i}]")
        prepared.append(preprocess(model, img))
    return check_batch(model, torch.stack(prepared), name=name)
