"""The demo report's losses-and-transfer section."""

import re

import torch

from cnnlab.report import DemoContext
from cnnlab.report._section_transfer import transfer_section


def test_transfer_section_reports_a_probe_accuracy(lite0, tmp_path):
    lite0.eval()
    threads = torch.get_num_threads()
    section = transfer_section(DemoContext(model=lite0, model_name="efficientnet_lite0", images={}, out_dir=tmp_path))
    assert section.title == "Losses and transfer learning"
    acc = float(re.search(r"<b>([0-9.]+)%</b> test accuracy", section.body).group(1))
    assert 50 < acc <= 100  # ImageNet features separate the digits far above chance (10%)
    assert section.body.count("data:image/png;base64,") == 1
    assert torch.get_num_threads() == threads
    assert not lite0.training and all(not m._forward_hooks for m in lite0.modules())
