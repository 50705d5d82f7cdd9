"""Detection data sets read from disk: Pascal VOC folders (also the Raccoon layout and BCCD) and COCO JSON, and the
one registry of detection data specs behind ``--data`` (``voc:DIR[:SPLIT]``, ``coco:FILE``, ``scenes:...``).

Every loader returns a :class:`~cnnlab.data.DetectionSet` in torchvision's convention: ``boxes`` are float
``x1 y1 x2 y2`` in *continuous, 0-based* pixel coordinates (``x2`` is the far edge of the last pixel), ``labels``
are ``1..C`` (0 is the background).

Pascal VOC writes boxes as 1-based, inclusive pixel indices: ``<xmin>1</xmin><xmax>3</xmax>`` covers the first
three columns. Converted: ``x1 = xmin - 1``, ``x2 = xmax`` (so that box has width 3, ``x1=0, x2=3``); the same for
y. COCO's ``[x, y, w, h]`` is already continuous and 0-based: ``x2 = x + w``.

Faulty annotations (BCCD has some) are repaired and reported, never fatal: a box reaching past the image is
clipped to it, a box with no area (``xmax == xmin`` as written, or nothing left after clipping) is dropped, and one
warning names the files and the counts. An image whose boxes were all dropped stays in the set with an empty
target: no image is ever dropped. What cannot be repaired raises ``ValueError`` naming the file and the problem in
one line: malformed or truncated XML/JSON, a missing image file, a box with ``xmax < xmin``, a label outside the
class list, an empty annotation folder.

Example:
    >>> from cnnlab import data
    >>> train = data.load_detection("voc:/work/shared/data/raccoon", "train")   # doctest: +SKIP
    >>> len(train), train.classes                                               # doctest: +SKIP
    (160, ['raccoon'])
"""

from __future__ import annotations

import csv
import json
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from cnnlab._registry import Registry
from cnnlab.data._scenes import DetectionSet, generate_scenes

DETECTION_DATA: Registry[Callable[..., DetectionSet]] = Registry("detection data")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG")


def register_detection_data(name: str, *, help: str) -> Callable:
    """Decorator adding a loader ``fn(arg, split, *, classes=None) -> DetectionSet`` for the spec ``name:ARG``."""
    return DETECTION_DATA.register(name, help=help)


# ----------------------------------------------------------------------------------------- repair report


@dataclass
class _Repairs:
    """Box faults found while reading a data set: counts and the files they are in (reported in one warning)."""

    clipped: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def warn(self, where: str) -> None:
        parts = []
        for what, files in (("clipped to the image", self.clipped), ("dropped (no area)", self.dropped)):
            if files:
                names = sorted(files)
                shown = ", ".join(f"{n} ({files[n]})" for n in names[:8]) + (
                    f" and {len(names) - 8} more files" if len(names) > 8 else "")
                parts.append(f"{sum(files.values())} boxes {what} in {len(names)} files: {shown}")
        if parts:
            warnings.warn(f"{where}: " + "; ".join(parts), stacklevel=3)


def _repair_boxes(boxes: Tensor, width: int, height: int, name: str, repairs: _Repairs) -> Tensor:
    """Clip ``boxes`` (continuous x1y1x2y2) to the image and return the mask of boxes with area left."""
    if len(boxes) == 0:
        return torch.ones(0, dtype=torch.bool)
    clipped = boxes.clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(0, height)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    moved = int(((clipped != boxes).any(1) & keep).sum())
    if moved:
        repairs.clipped[name] = repairs.clipped.get(name, 0) + moved
    if not keep.all():
        repairs.dropped[name] = repairs.dropped.get(name, 0) + int((~keep).sum())
    boxes.copy_(clipped)
    return keep


# --------------------------------------------------------------------------------------------- Pascal VOC


@dataclass
class VocAnnotation:
    """One VOC XML file as written (boxes still 1-based inclusive): what :func:`read_voc_xml` returns."""

    path: Path
    filename: str | None
    width: int | None
    height: int | None
    names: list[str]
    boxes: list[tuple[float, float, float, float]]  # xmin, ymin, xmax, ymax as written
    difficult: list[bool]


def read_voc_xml(path: str | os.PathLike) -> VocAnnotation:
    """Read one Pascal VOC annotation file (no conversion; see :func:`voc_boxes`).

    Raises:
        ValueError: the file is not well-formed XML, is no ``<annotation>``, or has an object without a name, a
            box coordinate that is missing or not a number, or ``xmax < xmin`` / ``ymax < ymin``; the message is
            one line naming the file.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path}: malformed or truncated XML ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if root.tag != "annotation":
        raise ValueError(f"{path}: not a Pascal VOC annotation (root element <{root.tag}>, expected <annotation>)")

    def number(node: ET.Element | None, what: str, obj: int | None = None) -> float:
        text = node.text.strip() if node is not None and node.text else ""
        where = f"object {obj + 1} " if obj is not None else ""
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"{path}: {where}{what} is {text!r}, not a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{path}: {where}{what} is {text!r}, not a finite number")
        return v

    size = root.find("size")
    width = height = None
    if size is not None and size.find("width") is not None and size.find("height") is not None:
        width, height = int(number(size.find("width"), "width")), int(number(size.find("height"), "height"))
        if width <= 0 or height <= 0:
            width = height = None  # some tools write 0: the image itself is the authority
    names, boxes, difficult = [], [], []
    for i, obj in enumerate(root.findall("object")):
        name_node = obj.find("name")
        name = name_node.text.strip() if name_node is not None and name_node.text else ""
        if not name:
            raise ValueError(f"{path}: object {i + 1} has no <name>")
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{path}: object {i + 1} ({name}) has no <bndbox>")
        x1, y1, x2, y2 = (number(bb.find(k), k, i) for k in ("xmin", "ymin", "xmax", "ymax"))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"{path}: object {i + 1} ({name}) has xmax < xmin or ymax < ymin "
                             f"(box {x1:g} {y1:g} {x2:g} {y2:g})")
        diff = obj.find("difficult")
        names.append(name)
        boxes.append((x1, y1, x2, y2))
        difficult.append(diff is not None and (diff.text or "0").strip() not in ("0", "", "false"))
    fn = root.find("filename")
    return VocAnnotation(path, fn.text.strip() if fn is not None and fn.text else None, width, height, names, boxes,
                         difficult)


def voc_boxes(ann: VocAnnotation) -> Tensor:
    """The annotation's boxes in torchvision's convention: ``Tensor[K, 4]`` float, continuous 0-based x1y1x2y2.

    VOC's ``xmin..xmax`` are 1-based inclusive pixel indices, so ``x1 = xmin - 1`` and ``x2 = xmax``.
    A box written with ``xmax == xmin`` has no area in the annotator's intent (BCCD has two) and is reported as
    degenerate by the loader, not kept as a one-pixel box.
    """
    b = torch.tensor(ann.boxes, dtype=torch.float32).reshape(-1, 4)
    zero = (b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1])
    b[:, 0] -= 1
    b[:, 1] -= 1
    b[zero, 2:] = b[zero, :2]  # keep them without area so that the repair step drops and reports them
    return b


def _voc_layout(root: Path) -> tuple[Path, Path]:
    """(annotation folder, image folder) of a VOC-style directory."""
    if not root.is_dir():
        raise FileNotFoundError(f"no such directory: {str(root)!r}")
    ann = next((root / d for d in ("Annotations", "annotations") if (root / d).is_dir()), None)
    if ann is None:
        if any(root.glob("*.xml")):
            ann = root
        else:
            raise ValueError(f"{root}: no Annotations/ (or annotations/) folder of VOC .xml files")
    img = next((root / d for d in ("JPEGImages", "images", "Images") if (root / d).is_dir()), ann)
    return ann, img


def _split_ids(root: Path, ann_dir: Path, split: str) -> list[str]:
    """The image ids of ``split``: ``ImageSets/Main/SPLIT.txt``, ``SPLIT.txt``, a CSV split list
    (``data/SPLIT_labels.csv``, ``SPLIT_labels.csv``, ``SPLIT.csv``: ids are the stems of its ``filename`` column),
    or every annotation file for ``"all"`` (and for ``"train"`` in a folder that has no split lists at all)."""
    if split == "all":
        ids = sorted(p.stem for p in ann_dir.glob("*.xml"))
        if not ids:
            raise ValueError(f"{ann_dir}: empty annotation folder (no .xml files)")
        return ids
    for txt in (root / "ImageSets" / "Main" / f"{split}.txt", root / f"{split}.txt"):
        if txt.is_file():
            ids = [line.split()[0] for line in txt.read_text().splitlines() if line.strip()]
            if not ids:
                raise ValueError(f"{txt}: empty split list")
            return ids
    for c in (root / "data" / f"{split}_labels.csv", root / f"{split}_labels.csv", root / f"{split}.csv"):
        if c.is_file():
            with open(c, newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "filename" not in reader.fieldnames:
                    raise ValueError(f"{c}: a CSV split list needs a 'filename' column, got {reader.fieldnames}")
                ids = list(dict.fromkeys(Path(r["filename"]).stem for r in reader if r.get("filename")))
            if not ids:
                raise ValueError(f"{c}: empty split list")
            return ids
    have = sorted({p.stem for p in (root / "ImageSets" / "Main").glob("*.txt")}
                  | {p.name[: -len("_labels.csv")] for p in (root / "data").glob("*_labels.csv")})
    if not have and split == "train":  # a folder without split lists: everything is training data
        return _split_ids(root, ann_dir, "all")
    raise ValueError(f"{root}: no split {split!r} (no ImageSets/Main/{split}.txt or data/{split}_labels.csv); "
                     f"splits found: {', '.join(have) if have else 'none'}; 'all' reads every annotation")


def _find_image(img_dir: Path, ann: VocAnnotation, image_id: str) -> Path:
    candidates = [img_dir / (image_id + ext) for ext in IMAGE_EXTENSIONS]
    if ann.filename:
        candidates.insert(0, img_dir / ann.filename)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"{ann.path}: its image is missing (looked for {candidates[0]})")


def voc_classes(root: str | os.PathLike) -> list[str]:
    """Class names of a VOC folder: every object name in its annotation files, sorted."""
    ann_dir, _ = _voc_layout(Path(root))
    files = sorted(ann_dir.glob("*.xml"))
    if not files:
        raise ValueError(f"{ann_dir}: empty annotation folder (no .xml files)")
    return sorted({n for f in files for n in read_voc_xml(f).names})


def voc_detection(root: str | os.PathLike, split: str = "train", *, classes: Sequence[str] | None = None,
                  limit: int | None = None) -> DetectionSet:
    """A Pascal VOC folder as a :class:`DetectionSet`.

    Layouts: ``Annotations/*.xml`` + ``JPEGImages/`` + ``ImageSets/Main/SPLIT.txt`` (VOC, BCCD) or
    ``annotations/*.xml`` + ``images/`` + a CSV split list ``data/SPLIT_labels.csv`` (the Raccoon set, whose
    ``filename`` column names the images of the split). ``split="all"`` reads every annotation file, and so does
    ``"train"`` in a folder without any split list.

    Boxes are converted from VOC's 1-based inclusive pixel indices to torchvision's continuous 0-based
    ``x1 y1 x2 y2`` (``x1 = xmin - 1``, ``x2 = xmax``), clipped to the image, and boxes without area dropped, with
    one warning naming the files (see the module docstring). Targets carry ``difficult`` (bool ``Tensor[K]``).

    Args:
        root: the folder.
        split: split name.
        classes: the class list (label ``k`` = ``classes[k - 1]``); default: every object name in the folder's
            annotation files, sorted. An object whose name is not in it raises ``ValueError``.
        limit: read only the first ``limit`` images of the split.

    Raises:
        ValueError: see the module docstring; FileNotFoundError: no such folder or a missing image.
    """
    from cnnlab.data._images import load_image, to_channels

    root = Path(root)
    ann_dir, img_dir = _voc_layout(root)
    ids = _split_ids(root, ann_dir, split)
    if limit is not None:
        ids = ids[: int(limit)]
    classes = list(classes) if classes is not None else voc_classes(root)
    index = {c: i + 1 for i, c in enumerate(classes)}
    repairs = _Repairs()
    images, targets, names = [], [], []
    for image_id in ids:
        xml = ann_dir / f"{image_id}.xml"
        if not xml.is_file():
            raise FileNotFoundError(f"{xml}: annotation file missing (listed in split {split!r})")
        ann = read_voc_xml(xml)
        unknown = [n for n in ann.names if n not in index]
        if unknown:
            raise ValueError(f"{xml}: label {unknown[0]!r} is not in the class list {classes}")
        img = to_channels(load_image(_find_image(img_dir, ann, image_id)), 3)
        h, w = img.shape[1:]
        if ann.width is not None and (ann.width, ann.height) != (w, h):
            warnings.warn(f"{xml}: says the image is {ann.width}x{ann.height} but it is {w}x{h}; boxes are kept "
                          "as written and clipped to the image", stacklevel=2)
        boxes = voc_boxes(ann)
        keep = _repair_boxes(boxes, w, h, xml.name, repairs)
        labels = torch.tensor([index[n] for n in ann.names], dtype=torch.int64)
        difficult = torch.tensor(ann.difficult, dtype=torch.bool)
        images.append(img)
        targets.append({"boxes": boxes[keep], "labels": labels[keep], "difficult": difficult[keep]})
        names.append(image_id)
    repairs.warn(f"voc:{root}:{split}")
    return DetectionSet(images, targets, classes, f"voc:{root}:{split}", names)


# ------------------------------------------------------------------------------------------------- COCO


def _coco_file(path: Path, split: str) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        for c in (path / f"{split}.json", path / "annotations" / f"instances_{split}.json",
                  *sorted((path / "annotations").glob(f"instances_{split}*.json"))):
            if c.is_file():
                return c
        raise ValueError(f"{path}: no COCO file for split {split!r} ({split}.json or "
                         f"annotations/instances_{split}*.json)")
    raise FileNotFoundError(f"no such COCO annotation file: {str(path)!r}")


def coco_detection(path: str | os.PathLike, split: str = "train", *, classes: Sequence[str] | None = None,
                   masks: bool = False, limit: int | None = None, image_dir: str | os.PathLike | None = None
                   ) -> DetectionSet:
    """A COCO-format JSON file (``images``, ``annotations``, ``categories``) as a :class:`DetectionSet`.

    ``path`` is the JSON file, or a folder holding ``SPLIT.json`` or ``annotations/instances_SPLIT*.json``. Image
    files (``file_name``) are looked for in ``image_dir``, beside the JSON file, in its ``images/`` folder, and
    for ``annotations/`` layouts in the sibling ``SPLIT*/`` or ``images/`` folders. Categories become labels
    ``1..C`` in order of category id (``classes`` overrides the names used; a category whose name is not in it
    raises). COCO's ``[x, y, w, h]`` becomes ``x1 y1 x2 y2 = x, y, x + w, y + h`` (already continuous and
    0-based); targets carry ``iscrowd``, and ``masks`` when ``masks=True`` (from the polygons or RLE, through
    pycocotools).
    """
    from cnnlab.data._images import load_image, to_channels

    file = _coco_file(Path(path), split)
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: malformed or truncated JSON ({exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{file}: not a text (JSON) file") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "categories")):
        raise ValueError(f"{file}: not a COCO detection file (needs 'images' and 'categories' lists)")
    anns = doc.get("annotations", [])
    if not isinstance(anns, list):
        raise ValueError(f"{file}: 'annotations' must be a list")
    try:
        cats = sorted(doc["categories"], key=lambda c: int(c["id"]))
        cat_names = {int(c["id"]): str(c["name"]) for c in cats}
        imgs = [(int(im["id"]), str(im["file_name"]), im.get("width"), im.get("height")) for im in doc["images"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{file}: a category or image entry lacks {exc} (categories need id and name, "
                         "images id and file_name)") from None
    names = [cat_names[k] for k in sorted(cat_names)]
    classes = list(classes) if classes is not None else names
    index = {c: i + 1 for i, c in enumerate(classes)}
    for n in names:
        if n not in index:
            raise ValueError(f"{file}: category {n!r} is not in the class list {classes}")
    by_image: dict[int, list[dict[str, Any]]] = {i: [] for i, *_ in imgs}
    for k, a in enumerate(anns):
        try:
            image_id, cat = int(a["image_id"]), int(a["category_id"])
            x, y, bw, bh = (float(v) for v in a["bbox"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{file}: annotation {k} is malformed ({type(exc).__name__}: {exc}); needs image_id, "
                             "category_id and bbox [x, y, w, h]") from None
        if image_id not in by_image:
            raise ValueError(f"{file}: annotation {k} refers to image id {image_id}, which is not in 'images'")
        if cat not in cat_names:
            raise ValueError(f"{file}: annotation {k} has category_id {cat}, which is not in 'categories'")
        if bw < 0 or bh < 0 or any(v != v for v in (x, y, bw, bh)):
            raise ValueError(f"{file}: annotation {k} has a negative or NaN width/height (bbox {a['bbox']})")
        by_image[image_id].append(a)
    if limit is not None:
        imgs = imgs[: int(limit)]
    dirs = [Path(image_dir)] if image_dir is not None else [file.parent, file.parent / "images"]
    if file.parent.name == "annotations":
        dirs += [*sorted(p for p in file.parent.parent.glob(f"{split}*") if p.is_dir()), file.parent.parent / "images"]
    repairs = _Repairs()
    images, targets, ids = [], [], []
    for image_id, fname, _, _ in imgs:
        where = next((d / fname for d in dirs if (d / fname).is_file()), None)
        if where is None:
            raise FileNotFoundError(f"{file}: image {fname!r} (id {image_id}) is missing (looked in "
                                    f"{', '.join(str(d) for d in dirs)})")
        img = to_channels(load_image(where), 3)
        h, w = img.shape[1:]
        objs = by_image[image_id]
        boxes = torch.tensor([[float(v) for v in o["bbox"]] for o in objs], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        keep = _repair_boxes(boxes, w, h, fname, repairs)
        t: dict[str, Tensor] = {
            "boxes": boxes[keep],
            "labels": torch.tensor([index[cat_names[int(o["category_id"])]] for o in objs], dtype=torch.int64)[keep],
            "iscrowd": torch.tensor([bool(o.get("iscrowd", 0)) for o in objs], dtype=torch.bool)[keep],
        }
        if masks:
            t["masks"] = _coco_masks(objs, h, w, file)[keep]
        images.append(img)
        targets.append(t)
        ids.append(Path(fname).stem)
    repairs.warn(f"coco:{file}")
    return DetectionSet(images, targets, classes, f"coco:{file}", ids)


def _coco_masks(objs: list[dict[str, Any]], h: int, w: int, file: Path) -> Tensor:
    from pycocotools import mask as mask_utils

    out = torch.zeros(len(objs), h, w, dtype=torch.bool)
    for i, o in enumerate(objs):
        seg = o.get("segmentation")
        if not seg:
            continue
        try:
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            out[i] = torch.from_numpy(mask_utils.decode(rle).astype(bool))
        except (TypeError, ValueError, AttributeError, IndexError) as exc:
            raise ValueError(f"{file}: annotation of image {o.get('image_id')} has a malformed segmentation "
                             f"({exc})") from None
    return out


# -------------------------------------------------------------------------------------------- the specs


def _split_spec_path(arg: str) -> tuple[str, str | None]:
    """``DIR[:SPLIT]`` -> (DIR, SPLIT or None); a trailing ``:SPLIT`` counts only when DIR exists without it."""
    if ":" in arg:
        head, tail = arg.rsplit(":", 1)
        if tail and "/" not in tail and (os.path.exists(head) or not os.path.exists(arg)):
            return head, tail
    return arg, None


@register_detection_data("voc", help="voc:DIR[:SPLIT]  Pascal VOC folder (Annotations/, JPEGImages/, "
                                     "ImageSets/Main/SPLIT.txt) or the Raccoon layout (annotations/, images/, "
                                     "data/SPLIT_labels.csv)")
def _voc_spec(arg: str, split: str, *, classes: Sequence[str] | None = None, limit: int | None = None
              ) -> DetectionSet:
    root, pinned = _split_spec_path(arg)
    return voc_detection(root, pinned or split, classes=classes, limit=limit)


@register_detection_data("coco", help="coco:FILE  COCO JSON (images beside it or in images/); or a folder with "
                                      "SPLIT.json / annotations/instances_SPLIT*.json")
def _coco_spec(arg: str, split: str, *, classes: Sequence[str] | None = None, limit: int | None = None
               ) -> DetectionSet:
    path, pinned = _split_spec_path(arg)
    return coco_detection(path, pinned or split, classes=classes, limit=limit, masks=True)


SCENE_SEEDS = {"train": 0, "val": 1, "test": 2}


@register_detection_data("scenes", help="scenes[:OBJECTS[:N[:SIZE]]]  synthetic scenes (digits | fashion-mnist) "
                                        "with exact boxes and masks; train / val / test are different seeds")
def _scenes_spec(arg: str, split: str, *, classes: Sequence[str] | None = None, limit: int | None = None
                 ) -> DetectionSet:
    parts = [p for p in arg.split(":") if p] if arg else []
    objects = parts[0] if parts else "digits"
    try:
        n = int(parts[1]) if len(parts) > 1 else 200
        size = int(parts[2]) if len(parts) > 2 else 128
    except ValueError:
        raise ValueError(f"scenes spec is scenes:OBJECTS:N:SIZE with integers N and SIZE, got scenes:{arg}") from None
    if split not in SCENE_SEEDS:
        raise ValueError(f"scenes have the splits {', '.join(SCENE_SEEDS)}, got {split!r}")
    if limit is not None:
        n = min(n, int(limit))
    s = generate_scenes(n, size=size, objects=objects, seed=1000 + SCENE_SEEDS[split])
    if classes is not None and list(classes) != s.classes:
        raise ValueError(f"scenes:{arg} has the classes {s.classes}, not {list(classes)}")
    s.name = f"scenes:{arg}:{split}" if arg else f"scenes:{split}"
    return s


def split_detection_spec(spec: str) -> tuple[str, str | None]:
    """``("voc:DIR", "val")`` for ``"voc:DIR:val"``; ``(spec, None)`` when the spec pins no split."""
    name, _, arg = spec.partition(":")
    if name == "scenes" or not arg:
        return spec, None
    path, pinned = _split_spec_path(arg)
    return f"{name}:{path}", pinned


def detection_specs() -> list[str]:
    """One help line per detection data spec."""
    return [DETECTION_DATA.info(n)["help"] for n in DETECTION_DATA.names()]


def load_detection(spec: str, split: str = "train", *, classes: Sequence[str] | None = None,
                   limit: int | None = None) -> DetectionSet:
    """The ``split`` of a detection data spec: ``voc:DIR[:SPLIT]``, ``coco:FILE[:SPLIT]``,
    ``scenes[:OBJECTS[:N[:SIZE]]]`` (see :func:`detection_specs`). A ``:SPLIT`` in the spec pins the split
    (``voc:DIR:val``) whatever ``split`` asks for.

    Args:
        spec: the spec.
        split: ``"train"``, ``"val"``, ``"test"``, ... (``"all"`` for every annotation of a VOC folder).
        classes: the class list to map names to labels (a trained detector's); default: the data's own.
        limit: the first ``limit`` images only.
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"detection data spec must be a non-empty string, got {spec!r}")
    name, _, arg = spec.partition(":")
    if name not in DETECTION_DATA:
        known = ", ".join(DETECTION_DATA.names())
        raise ValueError(f"unknown detection data {spec!r}: use one of {known} (voc:DIR, coco:FILE, scenes:digits)")
    if name != "scenes" and not arg:
        raise ValueError(f"detection data spec {spec!r} needs a path: {name}:PATH")
    return DETECTION_DATA.lookup(name)(arg, split, classes=classes, limit=limit)
