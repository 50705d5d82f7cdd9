"""The demo report's attack section on the pretrained EfficientNet-Lite0."""

import re

from cnnlab import data
from cnnlab.report import DEMO_SECTIONS, DemoContext
from cnnlab.report._demo import section_names


def test_attack_section_shows_twins_and_new_classes(lite0, tmp_path):
    assert "attacks" in section_names()
    ctx = DemoContext(model=lite0, model_name="efficientnet_lite0", out_dir=tmp_path,
                      images={n: data.sample_image(n) for n in ("chelsea", "coffee")})
    was = lite0.training
    sec = DEMO_SECTIONS.lookup("attacks")(ctx)
    assert sec.title == "Adversarial examples" and lite0.training == was
    assert sec.body.count("<img") == 2 * 4  # original, FGSM, PGD, perturbation per photo
    fooled = re.search(r"PGD with 2 steps (\d) of 2", sec.body)
    assert fooled and int(fooled.group(1)) >= 1  # one grey level is enough
    assert "espresso" in sec.body  # the clean class is shown
