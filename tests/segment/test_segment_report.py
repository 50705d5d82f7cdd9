"""The demo report's segmentation section: a U-Net trained on generated scenes, the upsampling pictures, segments
from the demo network's gradients (skipped with a note for a network that cannot give them)."""

import re

import torch

from cnnlab import models, segment
from cnnlab.report import DemoContext
from cnnlab.report import _section_segmentation as sec


def test_segmentation_section(lite0, tmp_path, monkeypatch):
    quick = segment.recipe("unet-scenes")
    monkeypatch.setattr(segment, "recipe", lambda name: segment.Recipe(
        arch=quick.arch, model=quick.model, train={**quick.train, "epochs": 1}, segment=quick.segment))
    lite0.eval()
    threads = torch.get_num_threads()
    imgs = {n: torch.rand(3, 60, 80) for n in ("chelsea", "stereo_motorcycle")}
    s = sec.segmentation_section(DemoContext(model=lite0, model_name="efficientnet_lite0", images=imgs,
                                             out_dir=tmp_path))
    assert s.title == "Semantic segmentation" and torch.get_num_threads() == threads
    miou = float(re.search(r"mIoU <b>([0-9.]+)%</b>", s.body).group(1))
    assert 0 < miou <= 100
    undone = re.search(r"mIoU ([0-9.]+)% &rarr; <b>([0-9.]+)%</b>", s.body)  # the class weights undone after training
    assert float(undone.group(1)) == miou and 0 < float(undone.group(2)) <= 100 and "--undo-weights 1" in s.body
    assert s.body.count("data:image/png;base64,") == 4 + 4  # examples, IoU bars, upsampling, checkerboard; 4 cards
    assert s.body.count('class="card"') == 4 and "grabcut" in s.body and "threshold" in s.body
    assert not lite0.training and all(not m._forward_hooks for m in lite0.modules())


def test_weak_part_skips_with_a_note_for_a_network_that_is_not_a_pretrained_photo_classifier(tmp_path):
    ctx = DemoContext(model=models.create("lenet5"), model_name="lenet5", images={"chelsea": torch.rand(3, 30, 40)},
                      out_dir=tmp_path)
    html = sec._weak_part(ctx)
    assert "Skipped" in html and "lenet5" in html and "<img" not in html
