"""The synthetic scene generator: exact boxes and masks, seeded, torchvision's target convention."""

import pytest
import torch

from cnnlab import data


def test_boxes_are_the_tight_boxes_of_the_visible_masks():
    s = data.generate_scenes(12, size=96, classes=[0, 1, 2], max_objects=4, seed=3)
    assert len(s) == 12 and s.classes == ["0", "1", "2"] and s.num_classes == 3
    for img, t in zip(s.images, s.targets):
        assert img.shape == (3, 96, 96) and 0 <= float(img.min()) and float(img.max()) <= 1
        assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
        assert t["masks"].shape == (len(t["labels"]), 96, 96) and len(t["labels"]) >= 1
        assert ((t["labels"] >= 1) & (t["labels"] <= 3)).all()
        for box, mask in zip(t["boxes"].tolist(), t["masks"]):
            rows = [y for y in range(96) if mask[y].any()]  # a slow loop over the mask
            cols = [x for x in range(96) if mask[:, x].any()]
            assert box == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
        # visible masks do not overlap: each pixel belongs to one object at most
        assert int(t["masks"].sum(0).max()) <= 1


def test_scenes_are_seeded():
    a, b = data.generate_scenes(3, seed=7), data.generate_scenes(3, seed=7)
    c = data.generate_scenes(3, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.images, b.images))
    assert not all(torch.equal(x, y) for x, y in zip(a.images, c.images))


def test_semantic_labels_paint_each_instance_with_its_class():
    s = data.generate_scenes(4, size=64, classes=[3, 5], max_scale=32, seed=0)
    for t in s.targets:
        lab = data.semantic_labels(t, (64, 64))
        assert lab.dtype == torch.int64 and set(lab.unique().tolist()) <= {0, 1, 2}
        for mask, label in zip(t["masks"], t["labels"]):
            assert (lab[mask] == label).all()
        assert (lab[~t["masks"].any(0)] == 0).all()


def test_subset_and_empty_targets():
    s = data.generate_scenes(5, size=64, max_scale=32, seed=1)
    sub = s.subset([4, 0])
    assert sub.ids == ["4", "0"] and torch.equal(sub.images[1], s.images[0])
    empty = data.DetectionSet([torch.rand(3, 10, 10)], [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}],
                              ["a"])
    assert empty[0][1]["boxes"].shape == (0, 4)


@pytest.mark.parametrize("kw, message", [
    ({"n": 0}, "n must be a positive integer"),
    ({"n": 2, "classes": [10]}, "classes must be indices"),
    ({"n": 2, "size": 64, "max_scale": 80}, r"max_scale must be an integer in \[24, 64\]"),
    ({"n": 2, "objects": "cifar"}, "objects must be 'digits' or 'fashion-mnist'"),
])
def test_bad_arguments_name_the_value(kw, message):
    with pytest.raises(ValueError, match=message):
        data.generate_scenes(**kw)
