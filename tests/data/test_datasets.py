"""Datasets: the real Fashion-MNIST, IDX parsing, CIFAR batches, image folders, digits."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import data


def _write_idx(path, arr):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[arr.dtype.type], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_real_fashion_mnist():
    train, test = data.fashion_mnist("train"), data.fashion_mnist("test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.uint8
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert train.classes[9] == "Ankle boot"
    assert 70 < train.images.float().mean() < 80  # Fashion-MNIST's mean pixel is about 72.9


def test_fashion_mnist_from_explicit_dir_and_env(tmp_path, monkeypatch):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 9], dtype=np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    ds = data.fashion_mnist("test", root=tmp_path)
    assert ds.images.shape == (5, 1, 28, 28) and ds.labels.tolist() == [0, 1, 2, 3, 9]
    assert np.array_equal(ds.images[:, 0].numpy(), imgs)
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    assert len(data.fashion_mnist("test")) == 5  # $CNNLAB_DATA comes before the system folder


def test_fashion_mnist_missing_gives_instructions(tmp_path, monkeypatch):
    import cnnlab.data._datasets as d

    monkeypatch.setattr(d, "SYSTEM_FASHION_MNIST", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="apt install dataset-fashion-mnist.*--data-dir"):
        data.fashion_mnist("train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.fashion_mnist("train", root=tmp_path / "nowhere")


def test_idx_truncated_and_bad_magic(tmp_path):
    p = tmp_path / "x.gz"
    with gzip.open(p, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + b"\x00" * 100)
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(p)
    q = tmp_path / "y"
    q.write_bytes(b"GIF89a....")
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(q)


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
    d[b"labels"] = [int(v) for v in d[b"labels"]]
    with open(path, "wb") as f:
        pickle.dump(d, f)
    return d


def test_cifar10_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    batches = [_cifar_batch(root / f"data_batch_{i}", 4, i) for i in range(1, 6)]
    _cifar_batch(root / "test_batch", 3, 9)
    ds = data.cifar10("train", root=tmp_path)
    assert ds.images.shape == (20, 3, 32, 32) and ds.images.dtype == torch.uint8
    first = batches[0][b"data"][0].reshape(3, 32, 32)
    assert np.array_equal(ds.images[0].numpy(), first)
    assert ds.labels[:4].tolist() == batches[0][b"labels"]
    assert len(data.load_dataset(f"cifar10:{tmp_path}", "test")) == 3


def test_cifar10_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        data.cifar10("test", root=tmp_path)


def test_image_folder(tmp_path):
    for ci, cname in enumerate(["cats", "dogs"]):
        (tmp_path / cname).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 50, 3), 40 * ci + i, np.uint8)).save(tmp_path / cname / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored")
    ds = data.load_dataset(f"folder:{tmp_path}", size=16)
    assert ds.classes == ["cats", "dogs"] and ds.images.shape == (6, 3, 16, 16)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images[4, 0, 0, 0].item() == 41
    with pytest.raises(FileNotFoundError):
        data.load_dataset(f"folder:{tmp_path / 'none'}")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load_dataset("imagenet")


def test_digits_split():
    tr, te = data.digits("train"), data.digits("test")
    assert len(tr) + len(te) == 1797 and tr.images.shape[1:] == (1, 8, 8)
    assert tr.images.max() <= 1 and te.images.min() >= 0
