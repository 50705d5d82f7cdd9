"""Datasets as tensors: Fashion-MNIST (IDX files), CIFAR-10 (python batches), image folders, sklearn digits.

Small datasets live in memory as one ``uint8`` tensor, so a trainer can move them to the device once and
index batches there, without a per-sample Python loader.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from cnnlab._checks import check_int
from cnnlab._registry import Registry

DATASETS: Registry = Registry("dataset")


@dataclass
class ImageTensors:
    """A labelled image dataset held as tensors.

    Attributes:
        images: ``Tensor[N, C, H, W]``, ``uint8`` (0..255) or float in [0, 1].
        labels: ``Tensor[N]`` int64.
        classes: class names, index = label.
        name: where it came from.
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    name: str = ""

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be ({self.images.shape[0]},), got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def floats(self) -> Tensor:
        """Images as float32 in [0, 1]."""
        if self.images.dtype == torch.uint8:
            return self.images.float().div_(255)
        return self.images.float()

    def subset(self, index: Tensor | slice | list[int]) -> ImageTensors:
        """The samples at ``index``."""
        return ImageTensors(self.images[index], self.labels[index], self.classes, self.name)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------- Fashion-MNIST

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# md5 of the original .gz files as published (used when downloading).
FASHION_MNIST_FILES = {
    "train": (("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
              ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe")),
    "test": (("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
             ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")),
}
SYSTEM_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a NumPy array, checking its header against its size."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read IDX file {str(path)!r}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number)")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise ValueError(f"{str(path)!r} has an unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{str(path)!r} is truncated: header says {shape}, found {data.size} values")
    return data.reshape(shape)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnlab"


def fashion_mnist_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: ``root``, ``$CNNLAB_DATA`` (and its ``fashion-mnist``
    sub-folder), the Debian package's folder, the user cache."""
    dirs: list[Path] = []
    if root is not None:
        dirs += [Path(root), Path(root) / "fashion-mnist"]
    env = os.environ.get("CNNLAB_DATA")
    if env:
        dirs += [Path(env), Path(env) / "fashion-mnist"]
    dirs += [Path(SYSTEM_FASHION_MNIST), _cache_dir() / "fashion-mnist"]
    return dirs


def _find_fashion_files(split: str, root: str | os.PathLike | None) -> tuple[Path, Path] | None:
    for d in fashion_mnist_dirs(root):
        found = []
        for fname, _ in FASHION_MNIST_FILES[split]:
            for cand in (d / fname, d / fname[:-3]):  # .gz or already unpacked
                if cand.is_file():
                    found.append(cand)
                    break
        if len(found) == 2:
            return found[0], found[1]
    return None


def download_fashion_mnist(dest: str | os.PathLike | None = None, *, timeout: float = 30) -> Path:
    """Download the four original .gz files into ``dest`` (default: the user cache), checking their md5."""
    dest = Path(dest) if dest is not None else _cache_dir() / "fashion-mnist"
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        for fname, md5 in FASHION_MNIST_FILES[split]:
            target = dest / fname
            if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
                continue
            try:
                with urllib.request.urlopen(FASHION_MNIST_URL + fname, timeout=timeout) as r:
                    data = r.read()
            except OSError as exc:
                raise FileNotFoundError(f"cannot download Fashion-MNIST ({exc})") from None
            if hashlib.md5(data).hexdigest() != md5:
                raise ValueError(f"downloaded {fname} fails its md5 check")
            from cnnlab._io import atomic_write_bytes

            atomic_write_bytes(target, data)
    return dest


@DATASETS.register("fashion-mnist")
def fashion_mnist(split: str = "train", root: str | os.PathLike | None = None, *,
                  download: bool = False) -> ImageTensors:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28 grey images of 10 clothing classes.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a directory holding the four IDX .gz files (searched first, see :func:`fashion_mnist_dirs`).
        download: fetch the files into the user cache when they are nowhere (needs a network).

    Returns:
        :class:`ImageTensors` with ``uint8`` images of shape ``(N, 1, 28, 28)``.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if root is not None and not Path(root).exists():
        raise FileNotFoundError(f"Fashion-MNIST directory {str(root)!r} does not exist")
    found = _find_fashion_files(split, root)
    if found is None and download:
        download_fashion_mnist()
        found = _find_fashion_files(split, root)
    if found is None:
        raise FileNotFoundError(
            "Fashion-MNIST not found (looked in " + ", ".join(str(d) for d in fashion_mnist_dirs(root)[:4])
            + "); install it with `apt install dataset-fashion-mnist` or pass --data-dir DIR"
        )
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"Fashion-MNIST files in {found[0].parent} do not match: {images.shape}, {labels.shape}")
    return ImageTensors(torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64)),
                        list(FASHION_MNIST_CLASSES), "fashion-mnist")


# ------------------------------------------------------------------------------------------------ CIFAR-10

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: a CIFAR batch never needs anything else."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python batch: {exc}") from None
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python batch (no data/labels)")
    data = np.asarray(d["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{str(path)!r}: expected rows of 3072 bytes, got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(d["labels"], dtype=np.int64)


@DATASETS.register("cifar10")
def cifar10(split: str = "train", root: str | os.PathLike | None = None) -> ImageTensors:
    """CIFAR-10 from the python batches (``data_batch_1..5``, ``test_batch``) in ``root`` or its
    ``cifar-10-batches-py`` sub-folder; 32x32 RGB, 10 classes. Files are read without unpickling code."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if root is None:
        raise ValueError("CIFAR-10 needs a directory: cifar10:DIR")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 directory {str(root)!r} does not exist")
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    files = [root / n for n in names if (root / n).is_file()]
    if not files:
        raise FileNotFoundError(f"no CIFAR-10 {split} batches ({', '.join(names)}) in {str(root)!r}")
    parts = [_read_cifar_batch(f) for f in files]
    classes = list(CIFAR10_CLASSES)
    meta = root / "batches.meta"
    if meta.is_file():
        try:
            with meta.open("rb") as f:
                m = _NumpyOnlyUnpickler(f, encoding="bytes").load()
            names_raw = m.get(b"label_names") or m.get("label_names")
            if names_raw:
                classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names_raw]
        except (pickle.UnpicklingError, EOFError, OSError, AttributeError):
            pass
    return ImageTensors(torch.from_numpy(np.concatenate([p[0] for p in parts])),
                        torch.from_numpy(np.concatenate([p[1] for p in parts])), classes, "cifar10")


# ------------------------------------------------------------------------------------------- image folder

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@DATASETS.register("folder")
def image_folder(split: str = "train", root: str | os.PathLike | None = None, *,
                 size: int | tuple[int, int] = 32, channels: int | None = None) -> ImageTensors:
    """Images in class sub-folders (``root/CLASS/*.png``), resized to ``size`` and held as ``uint8``.

    If ``root`` has ``train``/``test`` sub-folders, ``split`` picks one; otherwise the whole folder is used.
    Channels follow the majority of files (grey -> 1, else 3) unless ``channels`` is given.
    """
    from cnnlab.data._images import load_image, resize_and_crop, to_channels

    if root is None:
        raise ValueError("an image folder needs a directory: folder:DIR")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {str(root)!r} does not exist")
    if (root / split).is_dir():
        root = root / split
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {str(root)!r} has no class sub-folders")
    hw = (size, size) if isinstance(size, int) else tuple(size)
    imgs, labels = [], []
    for ci, cname in enumerate(classes):
        for f in sorted((root / cname).iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                imgs.append(load_image(f))
                labels.append(ci)
    if not imgs:
        raise ValueError(f"image folder {str(root)!r} has no images")
    if channels is None:
        channels = 1 if sum(i.shape[0] == 1 for i in imgs) * 2 > len(imgs) else 3
    batch = torch.stack([resize_and_crop(to_channels(i, channels), hw, hw) for i in imgs])
    return ImageTensors((batch * 255).round().to(torch.uint8), torch.tensor(labels), classes,
                        f"folder:{root}")


# ------------------------------------------------------------------------------------------------- digits


@DATASETS.register("digits")
def digits(split: str = "train", root: str | os.PathLike | None = None, *, test_fraction: float = 0.25,
           seed: int = 0) -> ImageTensors:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16 scaled to [0, 1]), split 75/25 with a
    fixed seed."""
    from sklearn.datasets import load_digits

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    d = load_digits()
    images = torch.from_numpy(d.images / 16.0).float()[:, None]
    labels = torch.from_numpy(d.target.astype(np.int64))
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(labels) * test_fraction))
    idx = perm[n_test:] if split == "train" else perm[:n_test]
    return ImageTensors(images[idx], labels[idx], [str(i) for i in range(10)], "digits")


def load_dataset(spec: str, split: str = "train", *, data_dir: str | os.PathLike | None = None,
                 **kwargs) -> ImageTensors:
    """A dataset from a CLI-style spec: ``fashion-mnist``, ``cifar10:DIR``, ``folder:DIR`` or ``digits``.

    ``data_dir`` is the root for specs without a directory (e.g. Fashion-MNIST's IDX folder).
    """
    name, _, path = spec.partition(":")
    DATASETS.lookup(name)
    root = path or (str(data_dir) if data_dir is not None else None)
    return DATASETS.get(name, split=split, root=root, **kwargs)


def stratified_subset(data: ImageTensors, n: int, *, seed: int = 0) -> ImageTensors:
    """``n`` samples with the class proportions of ``data`` (every class at least once when ``n`` allows),
    chosen with a seeded generator."""
    check_int("subset size", n)
    if n >= len(data):
        return data
    g = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()
    classes = labels.unique()
    per = {int(c): (labels == c).nonzero().flatten() for c in classes}
    quota = {c: max(1, round(n * len(ix) / len(labels))) for c, ix in per.items()}
    while sum(quota.values()) > n:  # rounding overshoot: take from the largest quotas
        quota[max(quota, key=quota.get)] -= 1
    while sum(quota.values()) < n:
        quota[max(per, key=lambda c: len(per[c]) - quota[c])] += 1
    picked = [ix[torch.randperm(len(ix), generator=g)[:quota[c]]] for c, ix in per.items()]
    idx = torch.cat(picked)
    return data.subset(idx[torch.randperm(len(idx), generator=g)])
