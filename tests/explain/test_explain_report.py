"""The demo report's explanation gallery."""


from cnnlab import data
from cnnlab.report import DemoContext
from cnnlab.report._section_explanations import COLUMNS, explanations_section


def test_gallery_has_every_method_for_every_photo(lite0, tmp_path):
    images = {"coffee": data.sample_image("coffee")}
    ctx = DemoContext(model=lite0, model_name="efficientnet_lite0", images=images, out_dir=tmp_path)
    before = [m.training for m in lite0.modules()], [p.requires_grad for p in lite0.parameters()]
    sec = explanations_section(ctx)
    assert sec.title == "Explanations"
    assert sec.body.count("<tr>") == 1 + len(images)
    assert sec.body.count("data:image/png;base64,") == len(images) * (1 + len(COLUMNS))
    assert "espresso" in sec.body
    for title, _, _ in COLUMNS:
        assert title in sec.body
    assert before == ([m.training for m in lite0.modules()], [p.requires_grad for p in lite0.parameters()])
