"""Detection data from disk: Pascal VOC (and the Raccoon CSV split layout), COCO JSON, the spec registry, box repair
and one-line errors; the real Raccoon and BCCD sets from ../shared/data."""

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import data

SHARED = Path(os.environ.get("CNNLAB_SHARED_DATA", "/work/shared/data"))
RACCOON, BCCD = SHARED / "raccoon", SHARED / "bccd" / "BCCD"


def _xml(filename, w, h, objects):
    objs = "".join(
        f"<object><name>{n}</name><difficult>{int(d)}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>" for n, b, d in objects)
    return (f"<annotation><filename>{filename}</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>3</depth></size>{objs}</annotation>")


def _voc(root, items, split_lists=None, layout="voc"):
    ann = root / ("Annotations" if layout == "voc" else "annotations")
    img = root / ("JPEGImages" if layout == "voc" else "images")
    ann.mkdir(parents=True)
    img.mkdir(parents=True)
    for stem, (w, h, objects) in items.items():
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(img / f"{stem}.jpg")
        (ann / f"{stem}.xml").write_text(_xml(f"{stem}.jpg", w, h, objects))
    for split, stems in (split_lists or {}).items():
        if layout == "voc":
            (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
            (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(stems) + "\n")
        else:
            (root / "data").mkdir(exist_ok=True)
            rows = ["filename,width,height,class,xmin,ymin,xmax,ymax"] + [f"{s}.jpg,1,1,x,1,1,1,1" for s in stems]
            (root / "data" / f"{split}_labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_voc_boxes_become_continuous_zero_based_and_labels_follow_the_sorted_class_list(tmp_path):
    root = _voc(tmp_path / "v", {"a": (40, 30, [("dog", (1, 1, 3, 5), 0), ("cat", (10, 11, 40, 30), 1)]),
                                 "b": (20, 20, [])}, {"train": ["b", "a"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder: no repair warning
        s = data.load_detection(f"voc:{root}", "train")
    assert s.classes == ["cat", "dog"] and s.ids == ["b", "a"]
    assert s.targets[0]["boxes"].shape == (0, 4) and s.targets[0]["labels"].shape == (0,)  # images without objects
    t = s.targets[1]
    # xmin=1..xmax=3 covers the first three columns: x1=0, x2=3
    assert t["boxes"].tolist() == [[0.0, 0.0, 3.0, 5.0], [9.0, 10.0, 40.0, 30.0]]
    assert t["labels"].tolist() == [2, 1] and t["difficult"].tolist() == [False, True]
    assert s.images[1].shape == (3, 30, 40) and s.images[1].dtype == torch.float32
    pinned = data.load_detection(f"voc:{root}:train", "test")  # a :SPLIT in the spec wins
    assert pinned.ids == ["b", "a"]
    assert data.load_detection(f"voc:{root}", "all").ids == ["a", "b"]
    assert data.split_detection_spec(f"voc:{root}:train") == (f"voc:{root}", "train")


def test_raccoon_layout_reads_its_csv_split_list(tmp_path):
    root = _voc(tmp_path / "r", {"r-1": (30, 20, [("raccoon", (2, 3, 20, 18), 0)]),
                                 "r-2": (30, 20, [("raccoon", (5, 5, 9, 9), 0), ("raccoon", (1, 1, 4, 4), 0)])},
                {"train": ["r-2", "r-2", "r-1"]}, layout="raccoon")
    s = data.voc_detection(root, "train")
    assert s.ids == ["r-2", "r-1"]  # one image per file name, in the list's order
    assert [len(t["boxes"]) for t in s.targets] == [2, 1]


def test_faulty_boxes_are_clipped_or_dropped_with_one_warning_and_no_image_is_lost(tmp_path):
    root = _voc(tmp_path / "f", {"ok": (20, 20, [("a", (1, 1, 5, 5), 0)]),
                                 "edge": (20, 20, [("a", (0, 2, 25, 10), 0), ("a", (3, 3, 3, 8), 0)]),
                                 "gone": (20, 20, [("a", (7, 7, 7, 7), 0)])}, {"train": ["ok", "edge", "gone"]})
    with pytest.warns(UserWarning) as rec:
        s = data.load_detection(f"voc:{root}", "train")
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "1 boxes clipped to the image in 1 files: edge.xml (1)" in msg
    assert "2 boxes dropped (no area) in 2 files" in msg and "edge.xml (1)" in msg and "gone.xml (1)" in msg
    assert len(s) == 3  # never silently drop an image
    assert s.targets[1]["boxes"].tolist() == [[0.0, 1.0, 20.0, 10.0]]
    assert s.targets[2]["boxes"].shape == (0, 4)


@pytest.mark.parametrize("problem, xml, expected", [
    ("malformed", "<annotation><object><name>a</name>", "malformed or truncated XML"),
    ("truncated", "<annotation><size><width>9</width>", "malformed or truncated XML"),
    ("inverted", _xml("x.jpg", 20, 20, [("a", (10, 2, 5, 8), 0)]), "xmax < xmin"),
    ("not a number", _xml("x.jpg", 20, 20, [("a", ("one", 2, 5, 8), 0)]), "xmin is 'one', not a number"),
    ("no name", _xml("x.jpg", 20, 20, [("", (1, 2, 5, 8), 0)]), "has no <name>"),
    ("wrong root", "<voc></voc>", "not a Pascal VOC annotation"),
])
def test_bad_annotation_files_fail_in_one_line_naming_the_file(tmp_path, problem, xml, expected):
    root = _voc(tmp_path / "b", {"x": (20, 20, [("a", (1, 1, 5, 5), 0)])}, {"train": ["x"]})
    (root / "Annotations" / "x.xml").write_text(xml)
    with pytest.raises(ValueError) as err:
        data.load_detection(f"voc:{root}", "train", classes=["a"])
    text = str(err.value)
    assert expected in text and "x.xml" in text and "\n" not in text


def test_missing_images_unknown_labels_empty_folders_and_unknown_splits(tmp_path):
    root = _voc(tmp_path / "m", {"x": (20, 20, [("cat", (1, 1, 5, 5), 0)])}, {"train": ["x"]})
    with pytest.raises(ValueError, match=r"x\.xml: label 'cat' is not in the class list \['dog'\]"):
        data.load_detection(f"voc:{root}", "train", classes=["dog"])
    with pytest.raises(ValueError, match=r"no split 'val'.*splits found: train"):
        data.load_detection(f"voc:{root}", "val")
    (root / "JPEGImages" / "x.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"x\.xml: its image is missing"):
        data.load_detection(f"voc:{root}", "train")
    empty = tmp_path / "e"
    (empty / "Annotations").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty annotation folder"):
        data.load_detection(f"voc:{empty}", "all")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        data.load_detection(f"voc:{tmp_path / 'nowhere'}", "train")
    with pytest.raises(ValueError, match="unknown detection data 'pascal:x'"):
        data.load_detection("pascal:x")


def _coco(tmp_path, anns, cats=None, images=None):
    (tmp_path / "images").mkdir(exist_ok=True)
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "images" / name)
    doc = {"images": images or [{"id": 7, "file_name": "a.png", "width": 40, "height": 30},
                                {"id": 9, "file_name": "b.png", "width": 40, "height": 30}],
           "categories": cats or [{"id": 5, "name": "zebra"}, {"id": 2, "name": "ant"}], "annotations": anns}
    f = tmp_path / "ann.json"
    f.write_text(json.dumps(doc))
    return f


def test_coco_json_boxes_categories_and_polygon_masks(tmp_path):
    f = _coco(tmp_path, [
        {"id": 1, "image_id": 7, "category_id": 5, "bbox": [10, 5, 20, 10], "iscrowd": 0,
         "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]]},
        {"id": 2, "image_id": 7, "category_id": 2, "bbox": [0, 0, 4, 4], "iscrowd": 1},
        {"id": 3, "image_id": 7, "category_id": 2, "bbox": [1, 1, 0, 3]},  # no width: dropped with a warning
    ])
    with pytest.warns(UserWarning, match=r"1 boxes dropped \(no area\) in 1 files: a.png"):
        s = data.load_detection(f"coco:{f}")
    assert s.classes == ["ant", "zebra"]  # in category-id order
    t = s.targets[0]
    assert t["boxes"].tolist() == [[10.0, 5.0, 30.0, 15.0], [0.0, 0.0, 4.0, 4.0]]
    assert t["labels"].tolist() == [2, 1] and t["iscrowd"].tolist() == [False, True]
    assert t["masks"].shape == (2, 30, 40) and 150 <= int(t["masks"][0].sum()) <= 231
    assert s.targets[1]["boxes"].shape == (0, 4) and len(s) == 2


@pytest.mark.parametrize("text, expected", [
    ('{"images": [', "malformed or truncated JSON"),
    ('[1, 2]', "not a COCO detection file"),
    ('{"images": [{"id": 1}], "categories": []}', "lacks 'file_name'"),
])
def test_bad_coco_files_fail_in_one_line(tmp_path, text, expected):
    f = tmp_path / "bad.json"
    f.write_text(text)
    with pytest.raises(ValueError, match=expected) as err:
        data.load_detection(f"coco:{f}")
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_coco_missing_image_unknown_category_and_negative_size(tmp_path):
    f = _coco(tmp_path, [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 1, 2, 2]}])
    with pytest.raises(ValueError, match="annotation 0 has category_id 3"):
        data.load_detection(f"coco:{f}")
    f = _coco(tmp_path, [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 1, -2, 2]}])
    with pytest.raises(ValueError, match="negative or NaN width/height"):
        data.load_detection(f"coco:{f}")
    f = _coco(tmp_path, [], images=[{"id": 1, "file_name": "nothere.png"}])
    with pytest.raises(FileNotFoundError, match="image 'nothere.png' .* is missing"):
        data.load_detection(f"coco:{f}")


def test_scene_specs_give_different_scenes_per_split():
    a, b = data.load_detection("scenes:digits:3:64", "train"), data.load_detection("scenes:digits:3:64", "test")
    assert len(a) == 3 and a.images[0].shape == (3, 64, 64) and a.classes == b.classes
    assert not torch.equal(a.images[0], b.images[0])
    with pytest.raises(ValueError, match="integers N and SIZE"):
        data.load_detection("scenes:digits:many")


# ------------------------------------------------------------------------------------------- real data


def test_raccoon_has_the_authors_160_40_split_and_one_class():
    test = data.load_detection(f"voc:{RACCOON}", "test")
    assert len(test) == 40 and test.classes == ["raccoon"]
    assert sum(len(t["boxes"]) for t in test.targets) == 44
    for img, t in zip(test.images, test.targets):
        b = t["boxes"]
        assert len(b) >= 1 and (b[:, 0] >= 0).all() and (b[:, 2] <= img.shape[2]).all()
        assert (b[:, 3] <= img.shape[1]).all() and (b[:, 2] > b[:, 0]).all()
    ids = data.voc_detection(RACCOON, "train", limit=3).ids
    assert len(ids) == 3 and not set(ids) & set(test.ids)


def test_bccd_zero_area_boxes_are_dropped_and_reported_by_file(tmp_path):
    # the two BCCD files with a zero-area box, read from a folder of links to the real files (fast)
    root = tmp_path / "bccd"
    for d in ("Annotations", "JPEGImages"):
        (root / d).mkdir(parents=True)
    for stem in ("BloodImage_00338", "BloodImage_00343", "BloodImage_00000"):
        os.symlink(BCCD / "Annotations" / f"{stem}.xml", root / "Annotations" / f"{stem}.xml")
        os.symlink(BCCD / "JPEGImages" / f"{stem}.jpg", root / "JPEGImages" / f"{stem}.jpg")
    with pytest.warns(UserWarning) as rec:
        s = data.voc_detection(root, "all", classes=["Platelets", "RBC", "WBC"])
    msg = str(rec[0].message)
    assert "2 boxes dropped (no area) in 2 files: BloodImage_00338.xml (1), BloodImage_00343.xml (1)" in msg
    assert len(s) == 3
    raw = [len(data.read_voc_xml(root / "Annotations" / f"{i}.xml").boxes) for i in s.ids]
    assert [len(t["boxes"]) for t in s.targets] == [raw[0], raw[1] - 1, raw[2] - 1]
    shutil.rmtree(root)


def test_bccd_split_lists_and_classes():
    assert data.voc_classes(BCCD) == ["Platelets", "RBC", "WBC"]
    ids = {s: (BCCD / "ImageSets" / "Main" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert (len(ids["train"]), len(ids["val"]), len(ids["test"])) == (205, 87, 72)
    s = data.voc_detection(BCCD, "test", limit=2)
    assert s.ids == ids["test"][:2] and s.images[0].shape == (3, 480, 640)
