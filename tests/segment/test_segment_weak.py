"""Segments and boxes from gradients: the largest component's box against a slow flood fill, GrabCut recovering a
seeded object, the pretrained network left exactly as found; the upsampling comparison and its checkerboard
against the NumPy reference's transposed convolution."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _segment_helpers import hook_count

from cnnlab import data, reference, segment


def _slow_largest_box(mask):
    """8-connected flood fill in Python: the bounding box (far edge) of the component with most pixels."""
    m = mask.tolist()
    h, w = len(m), len(m[0])
    seen = [[False] * w for _ in range(h)]
    best = None
    for y0 in range(h):
        for x0 in range(w):
            if not m[y0][x0] or seen[y0][x0]:
                continue
            stack, pix = [(y0, x0)], []
            seen[y0][x0] = True
            while stack:
                y, x = stack.pop()
                pix.append((y, x))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and m[yy][xx] and not seen[yy][xx]:
                            seen[yy][xx] = True
                            stack.append((yy, xx))
            if best is None or len(pix) > len(best):
                best = pix
    if best is None:
        return None
    ys, xs = [p[0] for p in best], [p[1] for p in best]
    return [min(xs), min(ys), max(xs) + 1, max(ys) + 1]


@pytest.mark.parametrize("seed", range(4))
def test_largest_component_box_equals_a_flood_fill(seed):
    g = torch.Generator().manual_seed(seed)
    mask = F.max_pool2d((torch.rand(1, 1, 24, 31, generator=g) > 0.93).float(), 3, 1, 1)[0, 0] > 0
    assert segment.largest_component_box(mask).tolist() == _slow_largest_box(mask)
    assert segment.largest_component_box(torch.zeros(5, 5, dtype=torch.bool)) is None


def test_grabcut_seeded_by_a_blurred_map_recovers_the_object():
    g = torch.Generator().manual_seed(0)
    img = 0.25 + 0.1 * torch.rand(3, 96, 128, generator=g)
    obj = torch.zeros(96, 128, dtype=torch.bool)
    obj[30:70, 40:100] = True
    img[:, obj] = torch.tensor([0.9, 0.3, 0.2])[:, None] + 0.05 * torch.rand(3, int(obj.sum()), generator=g)
    # an explanation-like map: peaked inside the object, spilling over its border
    heat = F.avg_pool2d(obj.float()[None, None], 21, 1, 10)[0, 0]
    heat = heat / heat.max()
    mask = segment.grabcut_mask(img, heat, threshold=0.5)
    iou = (mask & obj).sum() / (mask | obj).sum()
    assert iou > 0.9
    assert segment.largest_component_box(mask).tolist() == pytest.approx([40, 30, 100, 70], abs=2)


def test_from_attribution_on_a_photo_leaves_the_network_as_found(lite0):
    lite0.eval()
    lite0._fc.train()  # a module in another mode must stay so
    flags = [p.requires_grad for p in lite0.parameters()]
    img = data.sample_image("chelsea")
    try:
        segs = segment.from_attribution(lite0, [img], method="gradcam", refine="threshold", threshold=0.3)
    finally:
        assert lite0._fc.training and not lite0._blocks[0].training
        lite0._fc.eval()
    assert [p.requires_grad for p in lite0.parameters()] == flags and hook_count(lite0) == 0
    s = segs[0]
    assert s.label in ("tiger cat", "Egyptian cat", "tabby") and s.found
    assert s.heat.shape == s.mask.shape == img.shape[-2:] and 0 <= float(s.heat.min()) <= float(s.heat.max()) <= 1
    assert torch.equal(s.mask, s.heat >= 0.3)
    x1, y1, x2, y2 = s.box.tolist()
    assert 0 <= x1 < x2 <= 451 and 0 <= y1 < y2 <= 300 and (x2 - x1) * (y2 - y1) > 0.2 * 451 * 300
    with pytest.raises(ValueError, match="unknown explanation method 'gradcams'"):
        segment.from_attribution(lite0, [img], method="gradcams")
    with pytest.raises(ValueError, match="refine must be one of grabcut, threshold"):
        segment.from_attribution(lite0, [img], refine="watershed")


def test_checkerboard_equals_the_reference_transposed_convolution():
    for k in (3, 4):
        ours = segment.checkerboard(k, 2, 6)
        ref = reference.conv_transpose2d(np.ones((1, 1, 6, 6)), np.ones((1, 1, k, k)), stride=2)[0, 0]
        np.testing.assert_allclose(ours.numpy(), ref)
    inner3, inner4 = segment.checkerboard(3, 2, 8)[2:-2, 2:-2], segment.checkerboard(4, 2, 8)[2:-2, 2:-2]
    assert set(inner3.unique().tolist()) == {1.0, 2.0, 4.0}  # uneven overlap: a checkerboard
    assert set(inner4.unique().tolist()) == {4.0}  # kernel divisible by the stride: even overlap inside


def test_upsampling_comparison():
    img = data.sample_image("camera")[:, :64, :96]
    c = segment.upsampling_comparison(img)
    for t in (c.bilinear, c.transposed_bilinear, c.transposed_random, c.unpooled):
        assert t.shape == img.shape
    assert c.pooled.shape == (1, 32, 48)
    # max unpooling: one non-zero per 2x2 window, at its maximum, with the pooled value
    assert int((c.unpooled != 0).sum()) <= 32 * 48 and torch.equal(F.max_pool2d(c.unpooled[None], 2)[0], c.pooled)
    torch.testing.assert_close(c.transposed_bilinear[:, 2:-2, 2:-2], c.bilinear[:, 2:-2, 2:-2])
    with pytest.raises(ValueError, match="even H and W"):
        segment.upsampling_comparison(torch.rand(1, 5, 6))
