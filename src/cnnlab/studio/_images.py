"""The studio's images: the offline sample photos and uploads, decoded once and kept in memory.

An upload is checked before it is kept: its size (the request limit), its pixel count read from the header
(``max_pixels``, before anything is decoded), then it is decoded by :func:`cnnlab.data.load_image`, which refuses
empty, corrupt, truncated and non-image files and decompression bombs whatever the file's name or declared type
says. The bytes are written only to a file inside the studio's own temporary folder, deleted as soon as they
are decoded; the folder itself is removed when the studio stops. Clients name images by reference only:
``sample:NAME`` or ``upload:ID`` (a random id), never by a path.
"""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from cnnlab.studio._params import Params, StudioError, Upload, not_found


@dataclass
class StoredImage:
    """An image the API can refer to: ``ref`` (``sample:NAME`` / ``upload:ID``), a display name, and the pixels
    ``Tensor[C, H, W]`` in [0, 1]."""

    ref: str
    name: str
    tensor: Tensor

    def to_json(self) -> dict:
        c, h, w = self.tensor.shape
        return {"image": self.ref, "name": self.name, "channels": c, "height": h, "width": w}

    def __repr__(self) -> str:
        return f"StoredImage({self.ref!r}, {tuple(self.tensor.shape)})"


class ImageStore:
    """Samples and uploads by reference; uploads in a bounded LRU (``max_images``, ``max_total_bytes``).

    Args:
        max_pixels: largest upload (width x height) decoded.
        max_images: uploads kept; the oldest is dropped first (a client then uploads it again).
        max_total_bytes: memory the kept uploads may hold (float pixels).
    """

    def __init__(self, *, max_pixels: int, max_images: int = 32, max_total_bytes: int = 512 * 2**20) -> None:
        self.max_pixels = max_pixels
        self.max_images = max_images
        self.max_total_bytes = max_total_bytes
        self._tmp = tempfile.TemporaryDirectory(prefix="cnnlab-studio-")
        self._uploads: OrderedDict[str, StoredImage] = OrderedDict()
        self._samples: dict[str, StoredImage] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ImageStore({len(self._uploads)} uploads, folder={self._tmp.name!r})"

    @property
    def folder(self) -> Path:
        """The temporary folder uploads pass through (empty between requests)."""
        return Path(self._tmp.name)

    def close(self) -> None:
        """Forget every upload and remove the temporary folder."""
        with self._lock:
            self._uploads.clear()
        self._tmp.cleanup()

    def sample(self, name: str) -> StoredImage:
        from cnnlab import data

        if name not in data.sample_names():
            raise not_found(f"unknown sample image {name!r}; known: {', '.join(data.sample_names())}")
        with self._lock:
            hit = self._samples.get(name)
        if hit is None:
            hit = StoredImage(f"sample:{name}", name, data.sample_image(name))
            with self._lock:
                self._samples[name] = hit
        return hit

    def get(self, ref: str) -> StoredImage:
        """An image by reference: ``sample:NAME`` or ``upload:ID``."""
        if not isinstance(ref, str):
            raise TypeError(f"image must be a string such as 'sample:chelsea', got {type(ref).__name__}")
        kind, _, key = ref.partition(":")
        if kind == "sample":
            return self.sample(key)
        if kind == "upload":
            with self._lock:
                hit = self._uploads.get(key)
                if hit is not None:
                    self._uploads.move_to_end(key)
            if hit is None:
                raise not_found(f"unknown image {ref!r} (uploads are kept while the studio runs, the oldest are "
                                "dropped first: upload it again)")
            return hit
        raise ValueError(f"image must be 'sample:NAME' or 'upload:ID', got {ref[:80]!r}")

    def resolve(self, params: Params) -> StoredImage:
        """The image a request names: its upload, else ``image`` (a reference), else ``sample`` (a name)."""
        if params.upload is not None:
            return self.add(params.upload)
        ref = params.string("image")
        if ref is not None:
            return self.get(ref)
        name = params.string("sample")
        if name is not None:
            return self.sample(name)
        raise ValueError("no image: upload a file, or give image ('sample:NAME' / 'upload:ID') or sample (NAME)")

    def add(self, upload: Upload) -> StoredImage:
        """Decode an upload (see the module docstring) and keep it; ``ValueError`` naming the file if it is
        not an image cnnlab can read."""
        tensor = self.decode(upload)
        key = secrets.token_hex(8)
        stored = StoredImage(f"upload:{key}", upload.filename, tensor)
        with self._lock:
            self._uploads[key] = stored
            while len(self._uploads) > self.max_images or (
                    len(self._uploads) > 1 and self._bytes() > self.max_total_bytes):
                self._uploads.popitem(last=False)
        return stored

    def _bytes(self) -> int:
        return sum(s.tensor.numel() * s.tensor.element_size() for s in self._uploads.values())

    def decode(self, upload: Upload) -> Tensor:
        from cnnlab.data import load_image

        name = upload.filename
        if not upload.data:
            raise ValueError(f"{name!r} is empty")
        self._check_pixels(upload)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".upload")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(upload.data)
            try:
                return load_image(tmp)
            except (ValueError, OSError) as exc:  # name the user's file, not the temporary one
                raise ValueError(str(exc).replace(repr(str(tmp)), repr(name)).replace(str(tmp), name)) from None
        finally:
            os.unlink(tmp)

    def _check_pixels(self, upload: Upload) -> None:
        """Refuse an image whose header declares more than ``max_pixels`` before decoding it."""
        import warnings

        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(upload.data)) as img:
                    w, h = img.size
        except Exception:  # noqa: BLE001 - not readable here: load_image gives the precise message
            return
        if w * h > self.max_pixels:
            raise StudioError(413, f"{upload.filename!r} is {w}x{h} pixels ({w * h / 1e6:.1f} MP); the studio "
                              f"takes images up to {self.max_pixels / 1e6:.1f} MP")
