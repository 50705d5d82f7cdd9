"""The demo report's detection section: trains, reports AP, draws boxes, anchors and selective search."""

import re

import pytest
import torch

from cnnlab.report import DemoContext
from cnnlab.report import _section_detection as sec


def test_detection_section_renders_boxes_ap_anchors_and_proposals(monkeypatch, tmp_path):
    monkeypatch.setattr(sec, "TRAIN", 8)  # the layout, not the training budget: the demo itself runs the full one
    monkeypatch.setattr(sec, "TEST", 4)
    monkeypatch.setattr(sec, "EPOCHS", 1)
    monkeypatch.setattr(sec, "_DONE", {})
    threads = torch.get_num_threads()
    ctx = DemoContext(model=torch.nn.Identity(), model_name="none", images={}, out_dir=tmp_path)
    s = sec.detection_section(ctx)
    assert s.title == "Object detection"
    ap = float(re.search(r"<b>mAP@0.5 ([0-9.]+)%</b>", s.body).group(1))
    assert 0 <= ap <= 100 and ctx.cache["detection"]["map50"] * 100 == pytest.approx(ap, abs=0.06)
    for loss in ("objectness", "rpn_box_reg", "classifier", "box_reg"):  # the four Faster R-CNN losses
        assert f"<th>{loss}</th>" in s.body
    assert s.body.count("data:image/png;base64,") == 2 * 4 + 3  # truth + detections per image, PR, anchors, SS
    assert re.search(r"(\d+) regions on the sample photo", s.body)
    assert torch.get_num_threads() == threads
    again = DemoContext(model=torch.nn.Identity(), model_name="other", images={}, out_dir=tmp_path)
    assert sec.detection_section(again) is s and again.cache["detection"] == ctx.cache["detection"]  # once a process
