"""Loading users' images and the offline sample photos as ``Tensor[C, H, W]`` in [0, 1]."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _pil_to_tensor(img) -> Tensor:
    """A Pillow image in any mode -> float ``Tensor[C, H, W]`` in [0, 1], C = 1 (grey) or 3 (colour)."""
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        return torch.from_numpy(np.clip(arr / peak, 0, 1)).float()[None]
    if mode == "F":
        return torch.from_numpy(np.clip(np.asarray(img, dtype=np.float32), 0, 1))[None]
    if mode in ("1", "L"):
        return torch.from_numpy(np.asarray(img.convert("L"), dtype=np.uint8).copy()).float()[None] / 255
    if mode in ("LA", "RGBA", "PA", "P") or "transparency" in img.info:
        # Composite transparent pixels onto white, the way viewers show them.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
        if mode in ("LA",):
            img = img.convert("L")
            return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).float()[None] / 255
    elif mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255


def load_image(path: str | os.PathLike) -> Tensor:
    """Read any Pillow-readable image file as ``Tensor[C, H, W]`` in [0, 1].

    Grey images give C = 1, everything else C = 3: palette and transparency are composited onto white, CMYK
    is converted, 16-bit images keep their range, and the EXIF orientation is applied.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an empty, corrupt, truncated or non-image file, or a decompression bomb.

    Example:
        >>> img = load_image("photo.jpg")  # doctest: +SKIP
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such image file: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                return _pil_to_tensor(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"{str(path)!r} is too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise ValueError(f"{str(path)!r} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is corrupt or truncated: {exc}") from None


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        out = getattr(skimage.data, name)()
        return out[0] if isinstance(out, tuple) else out  # stereo_motorcycle: the left view

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f, Image.open(f) as img:
        return np.asarray(img.convert("RGB"))


_SAMPLES: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "camera": _skimage("camera"),
    "stereo_motorcycle": _skimage("stereo_motorcycle"),
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "grace_hopper": _grace_hopper,
    "brick": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
}


def sample_names() -> list[str]:
    """Names of the photos that ship offline with scikit-image, scikit-learn and matplotlib."""
    return list(_SAMPLES)


def sample_image(name: str) -> Tensor:
    """A bundled sample photo as ``Tensor[C, H, W]`` in [0, 1] (C = 1 for the grey ones).

    Example:
        >>> sample_image("chelsea").shape
        torch.Size([3, 300, 451])
    """
    if name not in _SAMPLES:
        raise ValueError(f"unknown sample image {name!r}; known: {', '.join(_SAMPLES)}")
    arr = _SAMPLES[name]()
    t = torch.from_numpy(np.array(arr, copy=True))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    if t.dtype == torch.uint8:
        return t.float() / 255
    return t.float().clamp(0, 1)


def image_from_spec(spec: str) -> Tensor:
    """``"sample:NAME"`` for a bundled photo, otherwise a file path."""
    if spec.startswith("sample:"):
        return sample_image(spec[len("sample:"):])
    return load_image(spec)


def to_channels(img: Tensor, channels: int) -> Tensor:
    """Adapt ``Tensor[C, H, W]`` or ``[N, C, H, W]`` to ``channels``: grey -> RGB repeats, RGB -> grey uses
    ITU-R 601 luma."""
    c = img.shape[-3]
    if c == channels:
        return img
    if c == 1:
        return img.expand(*img.shape[:-3], channels, *img.shape[-2:]).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=img.dtype, device=img.device).view(3, 1, 1)
        return (img * w).sum(-3, keepdim=True)
    raise ValueError(f"cannot convert a {c}-channel image to {channels} channels")


def resize_and_crop(img: Tensor, resize: int | Sequence[int], crop: Sequence[int], *,
                    interpolation: str = "bilinear", channels: int | None = None) -> Tensor:
    """Resize then centre-crop ``Tensor[C, H, W]`` (values stay in [0, 1]).

    Args:
        resize: an int resizes the shorter side to it keeping the aspect ratio (torchvision convention);
            a pair ``(h, w)`` resizes to exactly that.
        crop: ``(h, w)`` of the centre crop.
        interpolation: ``"bilinear"`` or ``"bicubic"`` (antialiased, like PIL).
        channels: adapt to this many channels first (see :func:`to_channels`).
    """
    if not isinstance(img, Tensor) or img.dim() != 3:
        raise ValueError(f"expected an image tensor (C, H, W), got {getattr(img, 'shape', type(img))}")
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {interpolation!r}")
    if channels is not None:
        img = to_channels(img, channels)
    h, w = img.shape[-2:]
    if isinstance(resize, int):
        # torchvision: the shorter side becomes `resize`, the longer int(resize * long / short)
        size = (resize, int(resize * w / h)) if h <= w else (int(resize * h / w), resize)
    else:
        size = (int(resize[0]), int(resize[1]))
    if size != (h, w):
        kw = {} if interpolation == "nearest" else {"align_corners": False, "antialias": True}
        img = F.interpolate(img[None], size=size, mode=interpolation, **kw)[0].clamp(0, 1)
    ch, cw = int(crop[0]), int(crop[1])
    if ch > img.shape[-2] or cw > img.shape[-1]:
        raise ValueError(f"crop {ch}x{cw} is larger than the resized image {tuple(img.shape[-2:])}")
    top, left = int(round((img.shape[-2] - ch) / 2)), int(round((img.shape[-1] - cw) / 2))  # torchvision
    return img[:, top:top + ch, left:left + cw].contiguous()
