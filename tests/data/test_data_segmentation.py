"""Segmentation data: CamVid as prepared for SegNet, user folders of images and label PNGs (and their bad inputs),
generated scenes, joint augmentation that keeps labels on their pixels, SegNet's median-frequency weights."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab import data

CAMVID = Path("/work/shared/data/camvid")


# ------------------------------------------------------------------------------------------------- CamVid


def test_camvid_lists_the_segnet_split_and_reads_real_pairs(tmp_path):
    counts = {s: len((CAMVID / f"{s}.txt").read_text().split()) // 2 for s in ("train", "val", "test")}
    assert counts == {"train": 367, "val": 101, "test": 233}
    # three real pairs of val.txt, listed by absolute path in a CamVid-layout folder of our own (fast to read)
    pairs = (CAMVID / "val.txt").read_text().splitlines()[:3]
    (tmp_path / "val.txt").write_text("".join(" ".join(str(CAMVID / p) for p in ln.split()) + "\n" for ln in pairs))
    val = data.camvid(tmp_path, "val")
    assert isinstance(val, data.SegmentationSet) and isinstance(val, data.ImageTensors)
    assert val.images.shape == (3, 3, 360, 480) and val.images.dtype == torch.uint8
    assert val.labels.shape == (3, 360, 480) and val.labels.dtype == torch.int64
    assert val.classes == data.CAMVID_CLASSES and val.ignore_index == 11 and len(val.classes) == 11
    assert set(val.labels.unique().tolist()) <= set(range(12)) and (val.labels == 11).any()
    # the first pair, read independently
    img_rel, lab_rel = pairs[0].split()
    assert val.ids[0] == Path(img_rel).stem
    ref_lab = torch.from_numpy(np.asarray(Image.open(CAMVID / lab_rel)).astype(np.int64))
    ref_img = torch.from_numpy(np.asarray(Image.open(CAMVID / img_rel).convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(val.labels[0], ref_lab) and torch.equal(val.images[0], ref_img)
    half = data.camvid(tmp_path, "val", size=(180, 240))
    assert half.images.shape == (3, 3, 180, 240)
    # labels are subsampled by nearest neighbour: no value a pixel of the original did not have
    assert torch.equal(half.labels[0], F.interpolate(ref_lab[None, None].float(), size=(180, 240))[0, 0].long())


def test_median_frequency_weights_equal_a_slow_loop_of_the_definition():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (5, 6, 7), generator=g)
    labels[0][labels[0] == 2] = 1  # class 2 absent from image 0
    labels[1, :2] = 255  # void
    labels[2] = 0
    k, ignore = 4, 255
    freq = []
    for c in range(k):  # f_c = pixels of c / labelled pixels of the images where c appears
        pix = tot = 0
        for lab in labels:
            n_c = int((lab == c).sum())
            if n_c:
                pix += n_c
                tot += int((lab != ignore).sum())
        freq.append(pix / tot)
    med = float(np.median(freq))
    ref = torch.tensor([med / f for f in freq])
    torch.testing.assert_close(data.median_frequency_weights(labels, k, ignore_index=ignore), ref.float())


def test_median_frequency_weights_on_camvid_train_rank_like_the_tutorials():
    # the SegNet tutorial's segnet_basic_train.prototxt weights; this copy's labels give the same order except that
    # SignSymbol and Pole swap (the tutorial's 9.64 for SignSymbol is not reproduced: ours is 3.85)
    pairs = [ln.split() for ln in (CAMVID / "train.txt").read_text().splitlines() if ln.strip()]
    labels = torch.stack([data.read_label_png(CAMVID / lab)[::2, ::2] for _, lab in pairs])  # 180x240 subsample
    ours = data.median_frequency_weights(labels, 11, ignore_index=11)
    pub = torch.tensor(data.CAMVID_TUTORIAL_WEIGHTS)
    r_ours, r_pub = ours.argsort().argsort().float(), pub.argsort().argsort().float()
    spearman = 1 - 6 * ((r_ours - r_pub) ** 2).sum() / (11 * (11 ** 2 - 1))
    assert spearman > 0.9
    assert ours[4] == pytest.approx(1.0)  # Pavement is the median class, as in the tutorial (0.905 there)


# ---------------------------------------------------------------------------------------- user folders


def _folder(root: Path, n=3, size=(20, 30), classes=("sky", "road", "car")) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("# one name per line\n" + "\n".join(classes) + "\n")
    g = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(g.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / "images" / f"im{i}.png")
        lab = g.integers(0, len(classes), size, dtype=np.uint8)
        lab[0, 0] = 255
        Image.fromarray(lab).save(root / "labels" / f"im{i}.png")
    return root


def test_segfolder_reads_images_labels_and_class_names(tmp_path):
    root = _folder(tmp_path / "set")
    s = data.load_segmentation(f"segfolder:{root}", "train")
    assert s.classes == ["sky", "road", "car"] and len(s) == 3 and s.ignore_index == 255
    assert s.images.shape == (3, 3, 20, 30) and s.ids == ["im0", "im1", "im2"]
    ref = torch.from_numpy(np.asarray(Image.open(root / "labels" / "im1.png")).astype(np.int64))
    assert torch.equal(s.labels[1], ref) and s.labels[1, 0, 0] == 255
    # a palette label PNG holds indices, not colours
    lab = np.asarray(Image.open(root / "labels" / "im2.png"))
    pal = Image.fromarray(lab)
    pal.putpalette([10, 20, 30] * 256)
    pal.save(root / "labels" / "im2.png")
    assert torch.equal(data.load_segmentation(f"segfolder:{root}").labels[2], torch.from_numpy(lab.astype(np.int64)))
    assert data.load_segmentation(f"segfolder:{root}", size=(10, 15)).labels.shape == (3, 10, 15)


def test_segfolder_split_subfolders_and_list_files(tmp_path):
    root = tmp_path / "set"
    _folder(root / "train", n=2)
    _folder(root / "test", n=1)
    (root / "classes.txt").write_text("sky\nroad\ncar\n")
    assert len(data.load_segmentation(f"segfolder:{root}", "train")) == 2
    assert len(data.load_segmentation(f"segfolder:{root}", "test")) == 1
    (root / "val.txt").write_text("train/images/im1.png train/labels/im1.png\n")
    assert data.load_segmentation(f"segfolder:{root}", "val").ids == ["im1"]


@pytest.mark.parametrize("break_it, message", [
    (lambda r: Image.fromarray(np.zeros((5, 5), np.uint8)).save(r / "labels" / "im1.png"),
     r"labels/im1.png' is 5x5 but its image .*im1.png' is 20x30"),
    (lambda r: Image.fromarray(np.full((20, 30), 7, np.uint8)).save(r / "labels" / "im0.png"),
     r"labels/im0.png' holds values \[7\] outside the 3 classes"),
    (lambda r: (r / "labels" / "im2.png").unlink(), r"images/im2.png' has no label file"),
    (lambda r: (r / "images" / "im2.png").unlink(), r"labels/im2.png' has no image"),
    (lambda r: (r / "images" / "notes.txt").write_text("hello"), r"notes.txt' is not an image file"),
    (lambda r: (r / "images" / "im0.png").write_bytes(b"not a png"), r"im0.png' is not an image file Pillow"),
    (lambda r: Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(r / "labels" / "im0.png"),
     r"labels/im0.png' is a RGB colour image"),
    (lambda r: (r / "classes.txt").unlink(), r"no class-name file"),
])
def test_segfolder_bad_input_is_one_error_naming_the_file(tmp_path, break_it, message):
    root = _folder(tmp_path / "set")
    break_it(root)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        data.load_segmentation(f"segfolder:{root}")


def test_specs_and_bad_specs(tmp_path):
    for spec, message in (("camvid", "camvid needs a directory"), ("segfold:x", "did you mean segfolder"),
                          (f"camvid:{tmp_path}", "has no train.txt"), ("segfolder:/no/such", "does not exist")):
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            data.load_segmentation(spec)
    with pytest.raises(ValueError, match="split must be"):
        data.camvid(CAMVID, "dev")


# -------------------------------------------------------------------------------------------------- scenes


def test_scenes_are_the_generators_masks_painted_with_their_classes():
    s = data.load_segmentation("scenes", "test", n=4)
    ref = data.generate_scenes(4, size=64, classes=[0, 1, 7], min_scale=24, max_scale=40, seed=1002)
    assert s.classes == ["background", "0", "1", "7"] and s.labels.shape == (4, 64, 64)
    for i, t in enumerate(ref.targets):
        assert torch.equal(s.labels[i], data.semantic_labels(t, (64, 64)))
    assert not torch.equal(s.images, data.load_segmentation("scenes", "train", n=4).images)


# ------------------------------------------------------------------------------------------- the set type


def test_segmentation_set_checks_and_subsets():
    imgs, labs = torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, 8, 8, dtype=torch.long)
    s = data.SegmentationSet(imgs, labs, ["a", "b"], "t", ignore_index=255)
    sub = s.subset([3, 1])
    assert len(sub) == 2 and sub.ids == ["3", "1"] and isinstance(sub, data.SegmentationSet)
    assert s.subset(slice(1, 3)).ids == ["1", "2"]
    assert s.pixel_counts().tolist() == [256, 0]
    bad = labs.clone()
    bad[0, 0, 0] = 5
    for kw, message in ((dict(labels=bad), r"values \[5\] outside the 2 classes"),
                        (dict(labels=labs[:, :4]), r"labels must be \(4, 8, 8\)"),
                        (dict(ignore_index=1), "ignore_index 1 is one of the 2 classes")):
        args = {"images": imgs, "labels": labs, "classes": ["a", "b"], "ignore_index": 255, **kw}
        with pytest.raises(ValueError, match=message):
            data.SegmentationSet(**args)


# ------------------------------------------------------------------------------------------- augmentation


def _blocks(n=4, size=64, block=8, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, k, (n, size // block, size // block), generator=g)
    lab = lab.repeat_interleave(block, 1).repeat_interleave(block, 2)
    return (lab.float() / (k - 1))[:, None].repeat(1, 3, 1, 1), lab


def test_flips_move_image_and_label_together_exactly():
    img, lab = _blocks()
    g = torch.Generator().manual_seed(3)
    out_img, out_lab = data.augment_segmentation(img, lab, generator=g, hflip=True)
    flipped = [not torch.equal(out_lab[i], lab[i]) for i in range(len(lab))]
    assert any(flipped) and not all(flipped)  # some images flipped, some not
    for i in range(len(lab)):
        exp_img, exp_lab = (img[i].flip(-1), lab[i].flip(-1)) if flipped[i] else (img[i], lab[i])
        assert torch.equal(out_lab[i], exp_lab) and torch.allclose(out_img[i], exp_img, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(scale=(0.6, 1.5)), dict(scale=(1.2, 1.6), crop=(40, 48)),
                                dict(scale=(0.5, 0.8), hflip=False)])
def test_zooms_and_crops_keep_every_label_on_its_pixel(kw):
    img, lab = _blocks(k=5)
    out_img, out_lab = data.augment_segmentation(img, lab, generator=torch.Generator().manual_seed(1),
                                                 ignore_index=255, **kw)
    h, w = kw.get("crop", (64, 64))
    assert out_img.shape == (4, 3, h, w) and out_lab.shape == (4, h, w)
    est = (out_img[:, 0] * 4).round().long()  # the class each pixel's colour encodes
    keep = out_lab != 255
    f = out_lab.float()[:, None]
    edge = (F.max_pool2d(f, 3, 1, 1) != -F.max_pool2d(-f, 3, 1, 1))[:, 0]
    # bilinear image samples blend only across class borders: every disagreement sits next to a label border
    assert ((est != out_lab) & keep & ~edge).sum() == 0
    assert (est == out_lab)[keep].float().mean() > 0.8
    if kw["scale"][1] < 1:  # zooming out leaves pixels without a source: void, black
        void = ~keep[0]
        inner = -F.max_pool2d(-void.float()[None, None], 3, 1, 1)[0, 0] > 0  # void pixels not next to the content
        assert inner.any() and (out_img[0][:, inner] == 0).all()
    again = data.augment_segmentation(img, lab, generator=torch.Generator().manual_seed(1), ignore_index=255, **kw)
    assert torch.equal(again[1], out_lab)


def test_augmentation_bad_arguments():
    img, lab = _blocks()
    with pytest.raises(ValueError, match="crop 80x80 is larger"):
        data.augment_segmentation(img, lab, crop=80)
    with pytest.raises(ValueError, match="min <= max"):
        data.augment_segmentation(img, lab, scale=(2.0, 1.0))
    with pytest.raises(ValueError, match="must match"):
        data.augment_segmentation(img, lab[:, :10])
