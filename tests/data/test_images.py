"""Loading users' images: every mode comes out right, bad files give one clear error."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import data


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_png_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = data.load_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy() * 255, arr, atol=1e-4)


def test_grey_stays_one_channel(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    t = data.load_image(_save(Image.fromarray(arr, "L"), tmp_path / "g.png"))
    assert t.shape == (1, 3, 4)
    np.testing.assert_allclose(t[0].numpy() * 255, arr, atol=1e-4)


def test_16_bit_keeps_its_range(tmp_path):
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    t = data.load_image(_save(Image.fromarray(arr), tmp_path / "g16.png"))
    np.testing.assert_allclose(t[0, 0].numpy(), [0, 32768 / 65535, 1], atol=1e-6)


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[0, 0] = [255, 0, 0, 255]  # opaque red
    arr[1, 1] = [0, 0, 0, 0]  # fully transparent -> white
    t = data.load_image(_save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png"))
    assert t.shape == (3, 2, 2)
    assert t[:, 0, 0].tolist() == [1, 0, 0] and t[:, 1, 1].tolist() == [1, 1, 1]


def test_palette_and_cmyk(tmp_path):
    pal = Image.fromarray(np.full((4, 4, 3), (10, 200, 30), np.uint8)).convert("P", palette=Image.ADAPTIVE)
    t = data.load_image(_save(pal, tmp_path / "p.png"))
    assert t.shape == (3, 4, 4)
    torch.testing.assert_close(t[:, 0, 0], torch.tensor([10, 200, 30]) / 255, atol=2 / 255, rtol=0)
    cmyk = Image.new("CMYK", (3, 3), (0, 255, 255, 0))  # pure red in CMYK
    t = data.load_image(_save(cmyk, tmp_path / "c.jpg", quality=100))
    assert t.shape == (3, 3, 3) and t[0].mean() > 0.9 and t[1].mean() < 0.1


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((2, 4, 3), dtype=np.uint8)  # 2 high, 4 wide
    arr[0, 0] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    t = data.load_image(_save(img, tmp_path / "r.png", exif=exif))
    assert t.shape == (3, 4, 2)  # now 4 high, 2 wide
    assert t[:, 0, 1].tolist() == [1, 1, 1]  # the top-left pixel moved to the top-right


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty"), (b"hello, not an image", "not an image file"),
     (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "(corrupt|not an image)")],
)
def test_bad_files_one_clear_error(tmp_path, content, message):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        data.load_image(p)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "JPEG")
    p = tmp_path / "t.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        data.load_image(p)


def test_decompression_bomb(tmp_path, monkeypatch):
    p = _save(Image.new("L", (200, 200)), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    with pytest.raises(ValueError, match="too large"):
        data.load_image(p)


def test_missing_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        data.load_image(tmp_path / "nope.png")
    with pytest.raises(ValueError, match="directory"):
        data.load_image(tmp_path)


def test_sample_images():
    names = data.sample_names()
    assert {"chelsea", "coffee", "rocket", "camera", "china", "grace_hopper"} <= set(names)
    cat = data.sample_image("chelsea")
    assert cat.shape == (3, 300, 451) and 0 <= cat.min() and cat.max() <= 1
    assert data.sample_image("camera").shape == (1, 512, 512)
    assert data.image_from_spec("sample:coffee").shape == (3, 400, 600)
    with pytest.raises(ValueError, match="unknown sample image"):
        data.sample_image("eagle")


def test_resize_and_crop_matches_torchvision():
    from torchvision.transforms import v2

    img = data.sample_image("chelsea")
    ours = data.resize_and_crop(img, 256, (224, 224), interpolation="bilinear")
    ref = v2.Compose([v2.Resize(256, antialias=True), v2.CenterCrop(224)])(img)
    torch.testing.assert_close(ours, ref.clamp(0, 1), atol=1e-5, rtol=0)
    assert data.to_channels(torch.rand(1, 4, 4), 3).shape == (3, 4, 4)
    grey = data.to_channels(torch.ones(3, 2, 2), 1)
    torch.testing.assert_close(grey, torch.ones(1, 2, 2))
