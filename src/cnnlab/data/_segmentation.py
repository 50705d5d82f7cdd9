"""Semantic-segmentation data: images with one class label per pixel.

A :class:`SegmentationSet` is an :class:`~cnnlab.data.ImageTensors` whose labels are maps ``Tensor[N, H, W]``
(int64; ``ignore_index`` marks void pixels, left out of losses and metrics). Three sources fill it, one registry
(``SEGMENTATION_DATASETS``) and one spec reader (:func:`load_segmentation`) serve the CLI's ``--data``:

- ``camvid:DIR``: CamVid road scenes as prepared for SegNet (Brostow et al. 2009; Badrinarayanan et al. 2017):
  ``train.txt`` / ``val.txt`` / ``test.txt`` list ``image label`` pairs, 360x480, 11 classes, label 11 = void.
- ``segfolder:DIR``: your own images and label PNGs (see :func:`segmentation_folder`).
- ``scenes``: synthetic scenes from :func:`cnnlab.data.generate_scenes` (digits pasted on textures, exact masks),
  offline and fast, for tests and the demo.

Also here: joint augmentation of images and label maps (:func:`augment_segmentation`: flip, scale, crop with
one sampling grid, so they stay aligned) and SegNet's median-frequency class weights
(:func:`median_frequency_weights`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab._checks import check_int, check_number, check_size
from cnnlab._registry import Registry
from cnnlab.data._datasets import IMAGE_SUFFIXES, ImageTensors

SEGMENTATION_DATASETS: Registry = Registry("segmentation dataset")

CAMVID_CLASSES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
                  "Pedestrian", "Bicyclist"]
CAMVID_IGNORE = 11
# the SegNet tutorial's colours (Scripts/test_segmentation_camvid.py), class order as above
CAMVID_PALETTE = [(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
                  (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192)]
# the class weights (median frequency balancing) of the tutorial's segnet_basic_train.prototxt
CAMVID_TUTORIAL_WEIGHTS = [0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418, 0.6823, 6.2478, 7.3614]


@dataclass
class SegmentationSet(ImageTensors):
    """Images and their per-pixel class labels, held as tensors.

    Attributes:
        images: ``Tensor[N, C, H, W]``, ``uint8`` (0..255) or float in [0, 1].
        labels: ``Tensor[N, H, W]`` int64: class ``0..K-1`` per pixel, or ``ignore_index`` (void).
        classes: the ``K`` class names (void is not a class).
        name: where it came from.
        ignore_index: the label of void pixels (not in ``0..K-1``).
        ids: one identifier per image (file stem or index).
    """

    ignore_index: int = 255
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        n, _, h, w = self.images.shape
        if self.labels.shape != (n, h, w):
            raise ValueError(f"labels must be ({n}, {h}, {w}) for images {tuple(self.images.shape)}, "
                             f"got {tuple(self.labels.shape)}")
        if self.labels.dtype != torch.int64:
            raise ValueError(f"labels must be int64 class indices, got {self.labels.dtype}")
        k = len(self.classes)
        if k < 1:
            raise ValueError("a segmentation set needs at least one class")
        check_int("ignore_index", self.ignore_index, minimum=None)
        if 0 <= self.ignore_index < k:
            raise ValueError(f"ignore_index {self.ignore_index} is one of the {k} classes; use a value outside "
                             f"0..{k - 1}")
        bad = ((self.labels < 0) | (self.labels >= k)) & (self.labels != self.ignore_index)
        if bool(bad.any()):
            v = sorted(set(self.labels[bad].unique().tolist()))[:5]
            raise ValueError(f"labels hold values {v} outside the {k} classes 0..{k - 1} "
                             f"(and ignore_index {self.ignore_index})")
        if not self.ids:
            self.ids = [str(i) for i in range(n)]
        elif len(self.ids) != n:
            raise ValueError(f"{n} images but {len(self.ids)} ids")

    def subset(self, index: Tensor | slice | Sequence[int]) -> SegmentationSet:
        """The samples at ``index`` (a slice, positions or a boolean mask)."""
        pos = torch.arange(len(self))[index if not isinstance(index, list) else torch.tensor(index, dtype=torch.long)]
        return dataclasses.replace(self, images=self.images[pos], labels=self.labels[pos],
                                   ids=[self.ids[int(i)] for i in pos.reshape(-1)])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def pixel_counts(self) -> Tensor:
        """Labelled pixels per class, ``Tensor[K]`` int64 (void left out)."""
        keep = self.labels != self.ignore_index
        return torch.bincount(self.labels[keep], minlength=self.num_classes)

    def __repr__(self) -> str:
        return (f"SegmentationSet({self.name!r}, {len(self)} images {tuple(self.images.shape[1:])}, "
                f"{self.num_classes} classes, ignore_index={self.ignore_index})")


# --------------------------------------------------------------------------------------------- reading


def read_label_png(path: str | os.PathLike) -> Tensor:
    """A label image as class indices ``Tensor[H, W]`` int64: grey (8/16-bit) or palette PNGs, whose pixel values
    (palette indices, not colours) are the labels. Colour images are refused: they hold colours, not classes."""
    return torch.from_numpy(_label_array(Path(path)).astype(np.int64))


def _label_array(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"no such label file: {str(path)!r}")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LA", "HSV", "LAB"):
                raise ValueError(f"label file {str(path)!r} is a {mode} colour image; labels must be single-channel "
                                 "class indices (grey or palette PNG)")
            arr = np.asarray(img.convert("L") if mode == "1" else img)
    except UnidentifiedImageError:
        raise ValueError(f"label file {str(path)!r} is not an image Pillow can read") from None
    except OSError as exc:
        raise ValueError(f"label file {str(path)!r} is corrupt or truncated: {exc}") from None
    if arr.ndim != 2:
        raise ValueError(f"label file {str(path)!r} must be single-channel, got shape {arr.shape}")
    return arr


def _image_uint8(path: Path) -> np.ndarray:
    """``uint8`` ``[3, H, W]``: plain RGB / grey files decoded directly (the dataset's common case, several times
    faster than through floats); every other mode through :func:`cnnlab.data.load_image`."""
    from PIL import Image, ImageOps

    from cnnlab.data._images import load_image, to_channels

    try:
        with Image.open(path) as img:
            simple = img.mode in ("RGB", "L") and "transparency" not in img.info and not img.getexif().get(0x0112)
            if simple:
                img.load()
                arr = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
                return np.ascontiguousarray(arr.transpose(2, 0, 1))
    except Exception:  # noqa: BLE001 - anything odd: load_image gives the one-line error
        pass
    t = to_channels(load_image(path), 3)
    return (t * 255).round().to(torch.uint8).numpy()


def _resize_pair(img: Tensor, lab: Tensor, size: tuple[int, int] | None) -> tuple[Tensor, Tensor]:
    """uint8 image ``[3, H, W]`` and int64 labels ``[H, W]`` resized to ``size`` (bilinear with antialiasing;
    nearest for the labels)."""
    if size is None or tuple(img.shape[-2:]) == size:
        return img, lab
    x = F.interpolate(img[None].float(), size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    lab = F.interpolate(lab[None, None].float(), size=size, mode="nearest")[0, 0].long()
    return x.round().clamp(0, 255).to(torch.uint8), lab


def _read_pairs(pairs: list[tuple[Path, Path]], classes: list[str], ignore_index: int, size: tuple[int, int] | None,
                name: str) -> SegmentationSet:
    """Read ``(image, label)`` files into a set; bad pairs raise one line naming the file."""
    if not pairs:
        raise ValueError(f"{name}: no image/label pairs")
    k = len(classes)
    images, labels, ids = [], [], []
    hw = None
    for img_path, lab_path in pairs:
        for p in (img_path, lab_path):
            if not p.is_file():
                raise FileNotFoundError(f"{name}: missing file {str(p)!r}")
        img = _image_uint8(img_path)
        lab = _label_array(lab_path)
        if lab.shape != img.shape[1:]:
            raise ValueError(f"label {str(lab_path)!r} is {lab.shape[0]}x{lab.shape[1]} but its image "
                             f"{str(img_path)!r} is {img.shape[1]}x{img.shape[2]}")
        if lab.size and (int(lab.min()) < 0 or int(lab.max()) >= k):
            vals = np.unique(lab)
            bad = [int(v) for v in vals if (v < 0 or v >= k) and v != ignore_index]
            if bad:
                raise ValueError(f"label {str(lab_path)!r} holds values {bad[:5]} outside the {k} classes "
                                 f"0..{k - 1} (void: {ignore_index})")
        x, y = _resize_pair(torch.from_numpy(img), torch.from_numpy(lab.astype(np.int64)), size)
        if hw is None:
            hw = tuple(x.shape[-2:])
        elif tuple(x.shape[-2:]) != hw:
            raise ValueError(f"image {str(img_path)!r} is {x.shape[1]}x{x.shape[2]} but the first image is "
                             f"{hw[0]}x{hw[1]}; pass a size to resize them all")
        images.append(x)
        labels.append(y)
        ids.append(img_path.stem)
    return SegmentationSet(torch.stack(images), torch.stack(labels), list(classes), name,
                           ignore_index=ignore_index, ids=ids)


def _list_file(root: Path, split: str) -> list[tuple[Path, Path]]:
    """``image label`` pairs of ``root/split.txt`` (paths relative to ``root``; SegNet's absolute
    ``/SegNet/CamVid/...`` prefixes are cut to the part below ``root``'s name)."""
    path = root / f"{split}.txt"
    pairs = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{str(path)!r} line {n}: expected 'image label', got {line!r}")
        pairs.append(tuple(_relative(root, p) for p in parts))
    return pairs  # type: ignore[return-value]


def _relative(root: Path, p: str) -> Path:
    q = Path(p)
    if q.is_absolute() and not q.exists() and root.name in q.parts:
        q = Path(*q.parts[q.parts.index(root.name) + 1:])
    return q if q.is_absolute() else root / q


def _size_arg(size) -> tuple[int, int] | None:
    return None if size is None else check_size("size", size, minimum=8)


@SEGMENTATION_DATASETS.register("camvid")
def camvid(root: str | os.PathLike | None = None, split: str = "train", *,
           size: int | tuple[int, int] | None = None) -> SegmentationSet:
    """CamVid as prepared for SegNet: 367 train / 101 val / 233 test road scenes at 360x480, 11 classes (Sky,
    Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist), label 11 = void.

    Args:
        root: the CamVid folder (e.g. ``/work/shared/data/camvid``).
        split: ``"train"``, ``"val"`` or ``"test"`` (the files ``root/{split}.txt`` list ``image label`` pairs).
        size: resize to ``(h, w)`` (images antialiased bilinear, labels nearest), e.g. ``(180, 240)`` for the
            half resolution of CPU runs; ``None`` keeps 360x480.

    Example:
        >>> test = camvid("/work/shared/data/camvid", "test", size=(180, 240))   # doctest: +SKIP
        >>> test.images.shape, test.labels.shape, test.ignore_index
        (torch.Size([233, 3, 180, 240]), torch.Size([233, 180, 240]), 11)
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    if root is None:
        raise ValueError("CamVid needs a directory: camvid:DIR")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CamVid directory {str(root)!r} does not exist")
    if not (root / f"{split}.txt").is_file():
        raise FileNotFoundError(f"{str(root)!r} has no {split}.txt (CamVid as prepared for SegNet lists "
                                "'image label' pairs in train.txt, val.txt, test.txt)")
    return _read_pairs(_list_file(root, split), CAMVID_CLASSES, CAMVID_IGNORE, _size_arg(size), f"camvid:{root}")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names, one per line (line ``i`` names label ``i``); blank lines and ``#`` comments skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no class-name file {str(path)!r} (one class name per line; line i names label i)")
    names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not names:
        raise ValueError(f"class-name file {str(path)!r} names no class")
    if len(set(names)) != len(names):
        raise ValueError(f"class-name file {str(path)!r} repeats a class name")
    return names


@SEGMENTATION_DATASETS.register("segfolder")
def segmentation_folder(root: str | os.PathLike | None = None, split: str = "train", *,
                        size: int | tuple[int, int] | None = None, ignore_index: int = 255) -> SegmentationSet:
    """Your own images and label PNGs::

        DIR/classes.txt            one class name per line: line i (from 0) names label value i
        DIR/images/NAME.jpg|png    the images (any Pillow-readable format)
        DIR/labels/NAME.png        label maps: grey or palette PNG, pixel value = class, 255 = void (ignored)

    With ``DIR/train/``, ``DIR/val/``, ``DIR/test/`` sub-folders (each with ``images/`` and ``labels/``), ``split``
    picks one; otherwise the whole folder is used. A ``DIR/{split}.txt`` of ``image label`` pairs (CamVid's
    layout) is read instead when present. Images of different sizes need ``size``.

    Bad input is one ``ValueError`` naming the file: an image without a label (or the reverse), a label of
    another size than its image, label values outside the class list, a file that is not an image.
    """
    if root is None:
        raise ValueError("a segmentation folder needs a directory: segfolder:DIR")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"segmentation folder {str(root)!r} does not exist")
    classes = read_class_names(root / "classes.txt")
    name = f"segfolder:{root}"
    if (root / f"{split}.txt").is_file():
        return _read_pairs(_list_file(root, split), classes, ignore_index, _size_arg(size), name)
    base = root / split if (root / split).is_dir() else root
    img_dir, lab_dir = base / "images", base / "labels"
    for d in (img_dir, lab_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"segmentation folder {str(base)!r} has no {d.name}/ sub-folder")
    images = {p.stem: p for p in sorted(img_dir.iterdir()) if p.is_file() and not p.name.startswith(".")}
    labels = {p.stem: p for p in sorted(lab_dir.iterdir()) if p.is_file() and not p.name.startswith(".")}
    for stem, p in images.items():
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{str(p)!r} is not an image file (suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})")
        if stem not in labels:
            raise ValueError(f"image {str(p)!r} has no label file {str(lab_dir / (stem + '.png'))!r}")
    for stem, p in labels.items():
        if stem not in images:
            raise ValueError(f"label {str(p)!r} has no image in {str(img_dir)!r}")
    return _read_pairs([(images[s], labels[s]) for s in images], classes, ignore_index, _size_arg(size), name)


@SEGMENTATION_DATASETS.register("scenes")
def scene_segmentation(root: str | os.PathLike | None = None, split: str = "train", *, n: int | None = None,
                       size: int | tuple[int, int] = 64, classes: Sequence[int] = (0, 1, 7), max_objects: int = 3,
                       min_scale: int | None = None, max_scale: int | None = None, seed: int = 0) -> SegmentationSet:
    """Synthetic scenes (:func:`cnnlab.data.generate_scenes`: scikit-learn's digits pasted on offline textures)
    with exact per-pixel labels: class 0 is the background, class ``i`` the ``i``-th chosen digit. Splits use
    disjoint seeds; ``n`` defaults to 128 train / 32 val / 32 test images; objects measure 3/8 to 5/8 of the
    shorter side unless ``min_scale`` / ``max_scale`` say otherwise. ``root`` is unused."""
    from cnnlab.data._scenes import generate_scenes, semantic_labels

    offsets = {"train": 0, "val": 1, "test": 2}
    if split not in offsets:
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    n = n if n is not None else (128 if split == "train" else 32)
    h, w = check_size("size", size, minimum=16)
    min_scale = min_scale if min_scale is not None else max(4, round(min(h, w) * 3 / 8))
    max_scale = max_scale if max_scale is not None else max(min_scale, round(min(h, w) * 5 / 8))
    s = generate_scenes(n, size=(h, w), classes=list(classes), max_objects=max_objects, min_scale=min_scale,
                        max_scale=max_scale, seed=seed * 3 + offsets[split] + 1000)
    images = torch.stack([(im * 255).round().to(torch.uint8) for im in s.images])
    labels = torch.stack([semantic_labels(t, (h, w)) for t in s.targets])
    return SegmentationSet(images, labels, ["background", *s.classes], f"scenes:{split}", ignore_index=255,
                           ids=[f"scene-{split}-{i}" for i in range(n)])


def load_segmentation(spec: str, split: str = "train", **kwargs) -> SegmentationSet:
    """A segmentation set from a CLI-style spec: ``camvid:DIR``, ``segfolder:DIR`` or ``scenes``.

    The loaders of ``SEGMENTATION_DATASETS`` are called as ``loader(root=DIR, split=split, **kwargs)``; ``kwargs``
    go to the loader (e.g. ``size=(180, 240)``).

    Example:
        >>> load_segmentation("scenes", "test", n=4).labels.shape
        torch.Size([4, 64, 64])
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"a segmentation data spec must be camvid:DIR, segfolder:DIR or scenes, got {spec!r}")
    name, _, path = spec.partition(":")
    SEGMENTATION_DATASETS.lookup(name)
    if name in ("camvid", "segfolder") and not path:
        raise ValueError(f"{name} needs a directory: {name}:DIR")
    return SEGMENTATION_DATASETS.get(name, split=split, root=path or None, **kwargs)


def segmentation_palette(classes: Sequence[str]) -> list[tuple[int, int, int]]:
    """One RGB colour per class: CamVid's own colours for its classes, else a fixed qualitative palette
    (matplotlib's tab20, black for a class named background)."""
    if list(classes) == CAMVID_CLASSES:
        return list(CAMVID_PALETTE)
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    out = []
    for i, c in enumerate(classes):
        if i == 0 and c.lower() in ("background", "bg", "_background_"):
            out.append((0, 0, 0))
            continue
        r, g, b, _ = cmap((i * 2 % 20 + i * 2 // 20) / 20)  # the saturated half of tab20 first
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


# ------------------------------------------------------------------------------------------- weighting


def median_frequency_weights(labels: Tensor | SegmentationSet, num_classes: int | None = None, *,
                             ignore_index: int | None = None) -> Tensor:
    """Median frequency balancing (Eigen & Fergus 2015, used by SegNet): ``w_c = median(f) / f_c`` with
    ``f_c`` = pixels of class ``c`` / labelled pixels of the images in which ``c`` appears.

    Void pixels (``ignore_index``) count in neither. A class absent from every image gets weight 0.

    Args:
        labels: ``Tensor[N, H, W]`` class maps, or a :class:`SegmentationSet` (its classes and ignore index).
        num_classes, ignore_index: required with a tensor.

    Returns:
        ``Tensor[K]`` float32.

    Example:
        >>> median_frequency_weights(torch.tensor([[[0, 0, 0, 1]]]), 2, ignore_index=255)
        tensor([0.6667, 2.0000])
    """
    if isinstance(labels, SegmentationSet):
        num_classes, ignore_index, labels = labels.num_classes, labels.ignore_index, labels.labels
    if num_classes is None or ignore_index is None:
        raise ValueError("median_frequency_weights of a tensor needs num_classes and ignore_index")
    if labels.dim() != 3:
        raise ValueError(f"labels must be (N, H, W), got shape {tuple(labels.shape)}")
    k = check_int("num_classes", num_classes)
    keep = labels != ignore_index
    n = labels.shape[0]
    # one bincount over (image, class) pairs; void goes to an extra column k that is dropped
    pairs = torch.arange(n, device=labels.device)[:, None, None] * (k + 1) + torch.where(keep, labels, k)
    per_image = torch.bincount(pairs.flatten(), minlength=n * (k + 1)).view(n, k + 1)[:, :k].double()
    labelled = keep.flatten(1).sum(1).double()  # [N]
    present = per_image > 0
    freq = per_image.sum(0) / (present.double() * labelled[:, None]).sum(0).clamp_min(1)
    seen = present.any(0)
    if not bool(seen.any()):
        raise ValueError("no labelled pixel: cannot compute class frequencies")
    vals = freq[seen].sort().values  # the median of an even count is the mean of the two middle values
    m = len(vals)
    med = vals[m // 2] if m % 2 else (vals[m // 2 - 1] + vals[m // 2]) / 2
    return torch.where(seen, med / freq.clamp_min(1e-300), torch.zeros_like(freq)).float()


# ----------------------------------------------------------------------------------------- augmentation


def augment_segmentation(images: Tensor, labels: Tensor, *, generator: torch.Generator | None = None,
                         hflip: bool = True, scale: tuple[float, float] = (1.0, 1.0),
                         crop: int | tuple[int, int] | None = None, ignore_index: int = 255) -> tuple[Tensor, Tensor]:
    """Random flips, rescaling and crops applied to images and their label maps with one sampling grid per image,
    so every label stays on its pixel.

    Each image draws a horizontal flip (probability 1/2 with ``hflip``), a zoom factor ``s`` uniform in
    ``scale`` and a crop position; the output (of size ``crop``, default the input's) samples the input over a
    window of ``crop / s`` pixels. Images are sampled bilinearly, labels by nearest neighbour; pixels that fall
    outside the input (zooming out, ``s < 1``) are black with label ``ignore_index``.

    Args:
        images: float ``Tensor[B, C, H, W]`` in [0, 1].
        labels: ``Tensor[B, H, W]`` int64.
        generator: the source of randomness (on the images' device), for reproducible runs.
        hflip: random horizontal flips.
        scale: ``(min, max)`` zoom factors (> 0); ``(1, 1)`` keeps the scale.
        crop: output ``(h, w)`` (at most the input's); ``None`` keeps the input size.
        ignore_index: label of pixels without a source.

    Returns:
        ``(images, labels)`` of shapes ``[B, C, h, w]`` and ``[B, h, w]``.
    """
    if images.dim() != 4 or labels.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"images (B, C, H, W) and labels (B, H, W) must match, got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}")
    lo, hi = (check_number("scale", s, minimum=0, open_min=True) for s in scale)
    if lo > hi:
        raise ValueError(f"scale must be (min, max) with min <= max, got {tuple(scale)}")
    b, _, h, w = images.shape
    ch, cw = (h, w) if crop is None else check_size("crop", crop)
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} is larger than the images ({h}x{w})")
    dev = images.device
    if not hflip and lo == hi == 1 and (ch, cw) == (h, w):
        return images, labels

    def uniform(n: int) -> Tensor:
        return torch.rand(n, generator=generator, device=dev)

    s = lo + (hi - lo) * uniform(b)
    flip = (uniform(b) < 0.5) if hflip else torch.zeros(b, dtype=torch.bool, device=dev)
    if lo == hi == 1 and (ch, cw) == (h, w):  # flips only: exact, by indexing
        f4, f3 = flip.view(b, 1, 1, 1), flip.view(b, 1, 1)
        return torch.where(f4, images.flip(-1), images), torch.where(f3, labels.flip(-1), labels)
    # the sampled window in normalised coordinates: half-extent (cw / w) / s, centre anywhere that keeps it
    # inside the image when it fits (zoom in) or keeps the image inside it (zoom out)
    ex, ey = (cw / w) / s, (ch / h) / s
    tx = (uniform(b) * 2 - 1) * (1 - ex).abs()
    ty = (uniform(b) * 2 - 1) * (1 - ey).abs()
    theta = torch.zeros(b, 2, 3, device=dev, dtype=images.dtype)
    theta[:, 0, 0] = torch.where(flip, -ex, ex)
    theta[:, 1, 1] = ey
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, [b, 1, ch, cw], align_corners=False)
    out_img = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # labels + 1 so that 0 marks the padding (outside the input), which becomes ignore_index
    lab = F.grid_sample((labels + 1).to(images.dtype)[:, None], grid, mode="nearest", padding_mode="zeros",
                        align_corners=False)[:, 0].round().long()
    out_lab = torch.where(lab == 0, torch.full_like(lab, ignore_index), lab - 1)
    return out_img.clamp(0, 1), out_lab
