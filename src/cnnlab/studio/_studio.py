"""The studio's state (models, images, jobs, settings) and the helpers every panel's routes share.

A panel's route reads the state with :func:`studio_of`, its parameters with :func:`params_of`, and runs the
capability call off the event loop with :func:`blocking` (a worker thread), so one slow request never stalls the
server. Images go back to the page as PNG data URIs (:func:`png_uri`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from cnnlab.studio._images import ImageStore, StoredImage
from cnnlab.studio._jobs import JobManager
from cnnlab.studio._models import LoadedModel, ModelStore
from cnnlab.studio._params import Params, read_params

T = TypeVar("T")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class StudioConfig:
    """Settings of one studio server.

    Attributes:
        runs_dir: folder scanned for checkpoints (``cnnlab train --out``, ``cnnlab transfer --out``), or ``None``.
        device: where models run (``"cpu"``, ``"cuda"``...).
        max_upload_bytes: largest request body / uploaded file (default 20 MiB).
        max_pixels: largest uploaded image, width x height, checked before decoding (default 12 MP).
        max_models: models kept loaded (LRU).
        max_images: uploads kept in memory (LRU).
        job_workers: threads running long jobs at once.
        random_small: offer the small-input registry models with random (untrained) weights.
        allowed_hosts: ``Host`` headers accepted (DNS-rebinding guard); ``("*",)`` accepts any.
    """

    runs_dir: str | None = None
    device: str = "cpu"
    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 12_000_000
    max_models: int = 4
    max_images: int = 32
    job_workers: int = 2
    random_small: bool = True
    allowed_hosts: tuple[str, ...] = field(default=LOOPBACK_HOSTS)

    def replace(self, **changes: Any) -> StudioConfig:
        known = {f.name for f in fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise TypeError(f"unknown studio setting(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return replace(self, **changes)


class Studio:
    """The state behind one app: the model store, the image store and the job manager."""

    def __init__(self, config: StudioConfig) -> None:
        from cnnlab._checks import check_int
        from cnnlab._device import resolve_device

        for name in ("max_upload_bytes", "max_pixels", "max_models", "max_images", "job_workers"):
            check_int(name, getattr(config, name))
        self.config = config
        self.device = str(resolve_device(config.device))
        self.models = ModelStore(config.runs_dir, max_models=config.max_models, random_small=config.random_small,
                                 device=self.device)
        self.images = ImageStore(max_pixels=config.max_pixels, max_images=config.max_images)
        self.jobs = JobManager(workers=config.job_workers)

    def __repr__(self) -> str:
        return f"Studio({self.models!r}, {self.images!r}, {self.jobs!r})"

    def close(self) -> None:
        """Cancel the jobs and remove the upload folder."""
        self.jobs.shutdown()
        self.images.close()

    def default_model(self) -> str:
        """The first pretrained model offered, else the first one."""
        entries = self.models.catalog()
        pre = [e for e in entries if e.pretrained and e.kind == "registry"]
        return (pre or entries)[0].name


def studio_of(request: Any) -> Studio:
    """The :class:`Studio` of the app serving ``request``."""
    return request.app.state.studio


async def params_of(request: Any) -> Params:
    """The request's parameters (JSON or multipart), bounded by the studio's upload limit."""
    return await read_params(request, max_bytes=studio_of(request).config.max_upload_bytes)


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in a worker thread (model calls are CPU- or GPU-bound and would block the event loop)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


def png_bytes(img: Tensor, *, max_side: int | None = None) -> bytes:
    """``Tensor[C, H, W]`` (C = 1 or 3) in [0, 1] encoded as PNG, downscaled to ``max_side`` if given."""
    import io

    from PIL import Image

    t = img.detach().float().cpu().clamp(0, 1)
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected an image (1 or 3, H, W), got shape {tuple(img.shape)}")
    arr = (t * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    if max_side and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def png_uri(img: Tensor, *, max_side: int | None = None) -> str:
    """``Tensor[C, H, W]`` in [0, 1] as a PNG data URI (see :func:`png_bytes`)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(png_bytes(img, max_side=max_side)).decode()


def figure_uri(fig: Any) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed)."""
    import base64

    from cnnlab._plot import figure_bytes

    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig)).decode()


def model_input(loaded: LoadedModel, image: StoredImage) -> Tensor:
    """The image prepared as the model's card says: ``Tensor[1, C, H, W]`` on the model's device."""
    from cnnlab import models

    return models.preprocess(loaded.model, image.tensor)[None].to(loaded_device(loaded.model))


def loaded_device(model: nn.Module) -> torch.device:
    from cnnlab._device import model_device

    return model_device(model)


def class_names(model: nn.Module) -> list[str] | None:
    card = getattr(model, "cnnlab", None)
    return list(card.classes) if card is not None and card.classes else None


def num_classes(model: nn.Module) -> int:
    """Output units, from the card (its classes or build arguments)."""
    card = getattr(model, "cnnlab", None)
    names = class_names(model)
    if names:
        return len(names)
    n = card.kwargs.get("num_classes") if card is not None else None
    if not isinstance(n, int):
        raise ValueError("the model's card records no class count")
    return n


def class_label(model: nn.Module, index: int) -> str:
    names = class_names(model)
    return names[index] if names and 0 <= index < len(names) else str(index)


def target_of(params: Params, model: nn.Module, name: str = "target") -> int | None:
    """The class a request names: ``None`` (the prediction), an index, or one of the model's class names."""
    v = params.raw(name)
    if v is None:
        return None
    n = num_classes(model)
    if isinstance(v, str) and not v.strip().lstrip("-").isdigit():
        names = class_names(model) or []
        if v in names:
            return names.index(v)
        raise ValueError(f"{name} must be a class index in [0, {n - 1}] or one of the model's class names, got {v!r}")
    return params.integer(name, minimum=0, maximum=n - 1)


def topk_json(preds: list[Any]) -> list[dict[str, Any]]:
    """``[{"class", "index", "prob"}]``, the shape ``cnnlab predict --json`` prints per image."""
    return [{"class": p.label, "index": p.index, "prob": round(p.prob, 6)} for p in preds]
