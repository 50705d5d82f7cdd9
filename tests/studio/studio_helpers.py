"""Helpers of the studio tests: decoding PNGs, encoding tensors as the studio does, a model's state, clients."""

import base64
import io
import warnings

import numpy as np

with warnings.catch_warnings():  # starlette 1.x asks for httpx2 (not on PyPI's mirror here); httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def decode_png(uri_or_bytes) -> np.ndarray:
    """A PNG data URI (or bytes) as a uint8 array (H, W) or (H, W, 3)."""
    from PIL import Image

    data = uri_or_bytes
    if isinstance(data, str):
        assert data.startswith("data:image/png;base64,"), data[:40]
        data = base64.b64decode(data.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.asarray(img).copy()


def png_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def as_uint8(t) -> np.ndarray:
    """A ``Tensor[C, H, W]`` in [0, 1] as the studio encodes it."""
    a = (t.detach().float().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return a[..., 0] if a.shape[2] == 1 else a


def model_state(model):
    """Everything a request must leave as it found: modes, requires_grad, hooks."""
    return ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()])


def make_client(app, **kw) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", **kw)
