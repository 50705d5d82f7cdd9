"""Augmentation moves boxes, masks and proposals with the image: the boxes stay the tight boxes of the masks."""

import pytest
import torch

from cnnlab import data


def _mask_boxes(masks):
    out = []
    for m in masks:
        ys, xs = m.nonzero(as_tuple=True)
        out.append([float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1])
    return torch.tensor(out).reshape(-1, 4)


@pytest.fixture(scope="module")
def scene():
    s = data.generate_scenes(1, size=(64, 80), classes=[0, 1, 2], max_objects=4, seed=5)
    t = dict(s.targets[0])
    t["difficult"] = torch.zeros(len(t["boxes"]), dtype=torch.bool)
    t["proposals"] = torch.tensor([[0.0, 0.0, 10.0, 10.0], [70.0, 50.0, 80.0, 64.0], [25.0, 15.0, 45.0, 35.0]])
    return s.images[0], t


def test_flip_mirrors_image_boxes_masks_and_proposals(scene):
    img, t = scene
    fi, ft = data.hflip_detection(img, t)
    assert torch.equal(fi, img.flip(-1)) and torch.equal(ft["masks"], t["masks"].flip(-1))
    assert torch.equal(ft["boxes"], _mask_boxes(ft["masks"]))
    assert ft["proposals"].tolist() == [[70.0, 0.0, 80.0, 10.0], [0.0, 50.0, 10.0, 64.0], [35.0, 15.0, 55.0, 35.0]]
    back_i, back_t = data.hflip_detection(fi, ft)
    assert torch.equal(back_i, img) and torch.equal(back_t["boxes"], t["boxes"])
    assert torch.equal(t["masks"], scene[1]["masks"])  # nothing changed in place


def test_resize_scales_boxes_per_axis(scene):
    img, t = scene
    ri, rt = data.resize_detection(img, t, (128, 120))
    assert ri.shape == (3, 128, 120) and rt["masks"].shape[1:] == (128, 120)
    assert torch.allclose(rt["boxes"], t["boxes"] * torch.tensor([1.5, 2.0, 1.5, 2.0]))
    # nearest-neighbour masks keep their tight boxes within a pixel of the scaled boxes
    assert (rt["boxes"] - _mask_boxes(rt["masks"])).abs().max() <= 2.0
    assert torch.allclose(rt["proposals"], t["proposals"] * torch.tensor([1.5, 2.0, 1.5, 2.0]))


def test_crop_shifts_clips_and_drops_objects_mostly_outside(scene):
    img, t = scene
    top, left, h, w = 10, 20, 40, 50
    ci, ct = data.crop_detection(img, t, top, left, h, w, min_visible=0.5)
    assert torch.equal(ci, img[:, 10:50, 20:70])
    shifted = t["boxes"] - torch.tensor([20.0, 10.0, 20.0, 10.0])
    clipped = shifted.clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(0, w)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(0, h)
    area = (t["boxes"][:, 2:] - t["boxes"][:, :2]).prod(1)
    kept = (clipped[:, 2:] - clipped[:, :2]).clamp(min=0).prod(1) >= 0.5 * area
    kept &= (clipped[:, 2:] - clipped[:, :2]).clamp(min=0).prod(1) > 0
    assert torch.equal(ct["boxes"], clipped[kept])
    for key in ("labels", "masks", "difficult"):  # every per-object field goes with its box
        assert len(ct[key]) == int(kept.sum())
    assert torch.equal(ct["masks"], t["masks"][kept][:, 10:50, 20:70])
    assert ct["proposals"].tolist() == [[5.0, 5.0, 25.0, 25.0]]  # proposals left without area are dropped
    with pytest.raises(ValueError, match="outside"):
        data.crop_detection(img, t, 70, 0, 10, 10)


def test_random_augmentation_is_seeded_and_keeps_boxes_tight(scene):
    img, t = scene
    for seed in range(6):
        a = data.augment_detection(img, t, generator=torch.Generator().manual_seed(seed), scale=(0.75, 1.25),
                                   crop=1.0)
        b = data.augment_detection(img, t, generator=torch.Generator().manual_seed(seed), scale=(0.75, 1.25),
                                   crop=1.0)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
        ai, at = a
        assert at["masks"].shape[1:] == ai.shape[1:] and len(at["masks"]) == len(at["boxes"]) == len(at["labels"])
        if len(at["boxes"]):
            assert (at["boxes"][:, 2:] > at["boxes"][:, :2]).all()
            assert (at["boxes"][:, 2] <= ai.shape[2]).all() and (at["boxes"][:, 3] <= ai.shape[1]).all()
