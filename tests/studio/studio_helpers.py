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


def tiny_task_runs(root):
    """A runs folder with a tiny detector and a tiny segmenter, each trained for two steps on generated scenes
    (as ``cnnlab train-detector`` / ``train-segmenter`` save them; the segmenter with class weights):
    ``(detector dir, segmenter dir)``."""
    from pathlib import Path

    import torch

    from cnnlab import data, detect, models, segment, train

    root = Path(root)
    torch.manual_seed(0)
    scenes = data.generate_scenes(4, size=96, classes=[0, 1], max_objects=2, seed=0)
    bb = models.create("efficientnet_lite0", weights=None, width=0.5)
    det = detect.create("faster-rcnn", num_classes=2, classes=scenes.classes, backbone=bb, min_size=96, max_size=96,
                        anchor_sizes=[16, 32, 64, 128], fpn_channels=32, representation=64, rpn_pre_nms_test=100,
                        rpn_post_nms_test=32, rpn_pre_nms_train=200, rpn_post_nms_train=64, rois_per_image=32,
                        detections_per_image=20)
    detect.fit(det, scenes, None, detect.DetectConfig(epochs=1, batch_size=2, max_steps=2, progress=False))
    det_dir = root / "scenes-detector"
    detect.save_detector(det_dir, det)
    seg_dir = root / "scenes-segmenter"  # with segmenter.json and its median-frequency class weights
    cfg = train.TrainConfig(epochs=1, batch_size=4, optimizer="adam", lr=1e-2, schedule="none", weight_decay=0.0,
                            device="cpu", progress=False, tensorboard=False, max_steps=2, out_dir=str(seg_dir))
    segment.train_segmenter("unet", "scenes", cfg, size=32, limit=8, model_kwargs={"base": 4, "depth": 1},
                            test=False, validate=False)
    return det_dir, seg_dir
