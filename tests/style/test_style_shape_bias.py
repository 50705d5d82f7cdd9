"""Shape vs texture bias (Geirhos et al., ICLR 2019): the paper's figures from its raw decisions, its 16-class
mapping, the decision rule, a pretrained model on a handful of stimuli, the plot, and wrong layouts."""

import ast
import re
import shutil
from pathlib import Path

import pytest
import torch

from cnnlab import models, style

ROOT = Path("/work/shared/data/texture-vs-shape")
RAW = ROOT / "raw-data" / "style-transfer-512-nomask-experiment"


@pytest.mark.parametrize("observer, expected", [("alexnet", 42.9), ("vgg", 17.2), ("googlenet", 31.2)])
def test_the_papers_caffe_cnns_are_reproduced_from_their_raw_decisions(observer, expected):
    r = style.shape_bias_from_decisions(RAW / f"style-transfer-512-nomask-experiment_{observer}_session_1.csv")
    assert round(100 * r.shape_bias, 1) == expected and r.conflict_images == 1200
    assert abs(r.shape_fraction + r.texture_fraction + r.other_fraction - 1) < 1e-12


def test_resnet50_and_the_pooled_humans_are_reproduced():
    r = style.shape_bias_from_decisions(ROOT / "raw-data" / "style-transfer-512-nomask-experiment-trained-CNNs" /
                                        "style-transfer-512-nomask-experiment_resnet50_session-1.csv")
    assert round(100 * r.shape_bias, 1) == 22.1
    humans = sorted(RAW.glob("*_subject-*_session_1.csv"))
    h = style.shape_bias_from_decisions(humans)
    assert len(humans) == 10 and h.name == "humans" and h.conflict_images == 12000
    assert round(100 * h.shape_bias, 1) == 95.9
    paper = style.paper_results(ROOT / "raw-data")
    assert {k: round(100 * v.shape_bias, 1) for k, v in paper.items()} == {
        "AlexNet": 42.9, "GoogLeNet": 31.2, "VGG-16": 17.2, "ResNet-50": 22.1, "humans": 95.9}


def test_the_16_class_mapping_is_the_papers():
    """Read the paper's helper as text (its code is not imported) and compare the *_indices lists."""
    src = (ROOT / "code" / "helper" / "human_categories.py").read_text()
    ref = {m.group(1): ast.literal_eval(m.group(2)) for m in re.finditer(r"(\w+)_indices = (\[[^\]]*\])", src)}
    assert sorted(ref) == list(style.CATEGORIES)
    assert {c: list(v) for c, v in style.IMAGENET_INDICES.items()} == ref


def test_decisions_use_the_mean_probability_of_each_class():
    """One very likely bird class loses to a class whose few ImageNet classes are all fairly likely."""
    p = torch.zeros(2, 1000)
    p[0, 8] = 0.5  # one of bird's 49 classes: mean 0.5 / 49
    p[0, 385] = p[0, 386] = 0.2  # elephant's two classes: mean 0.2
    p[1, 499] = 1.0  # knife
    assert style.decisions_from_probabilities(p) == ["elephant", "knife"]
    torch.testing.assert_close(style.category_probabilities(p)[0, style.CATEGORIES.index("bird")],
                               torch.tensor(0.5 / 49))
    tie = torch.full((1, 1000), 2.0**-10, dtype=torch.float64)  # exact in binary: every class mean is equal
    assert style.decisions_from_probabilities(tie) == ["airplane"]  # a tie: the first class, as the paper's loop


def test_stimulus_names_parse():
    assert style.parse_stimulus("cat1-elephant2.png") == ("cat", "elephant")
    assert style.parse_stimulus("0001_s5n_dnn_0_airplane_00_airplane1-bicycle2.png") == ("airplane", "bicycle")
    with pytest.raises(ValueError, match="not a cue-conflict stimulus name"):
        style.parse_stimulus("cat1-zebra2.png")


def test_a_pretrained_model_on_a_handful_of_stimuli(lite0):
    before = [m.training for m in lite0.modules()], [p.requires_grad for p in lite0.parameters()]
    r = style.shape_bias(lite0, ROOT, max_per_class=1)
    assert len(r.decisions) == 16 and r.silhouette_accuracy is not None and r.edge_accuracy is not None
    # the decisions equal the paper's rule applied by hand to the model's softmax outputs
    from cnnlab import data

    d = r.decisions[3]
    img = data.load_image(ROOT / "stimuli" / "style-transfer-preprocessed-512" / d.shape / d.image)
    with torch.no_grad():
        prob = lite0(img[None]).softmax(-1)[0]
    means = {c: float(prob[list(style.IMAGENET_INDICES[c])].mean()) for c in style.CATEGORIES}
    assert d.decision == max(style.CATEGORIES, key=lambda c: means[c])
    kinds = [x.kind for x in r.decisions if x.shape != x.texture]
    assert r.shape_fraction == kinds.count("shape") / len(kinds)
    assert before == ([m.training for m in lite0.modules()], [p.requires_grad for p in lite0.parameters()])


def test_the_plot_has_one_row_per_class(tmp_path):
    from cnnlab._plot import save_figure

    fig = style.plot_shape_bias(list(style.paper_results(ROOT / "raw-data").values()), title="t", note="n")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(style.CATEGORIES)
    assert len(ax.collections) == 5 and "humans (95.9%)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert save_figure(fig, tmp_path / "p.png").stat().st_size > 10_000


def test_wrong_layouts_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such stimuli folder"):
        style.find_stimuli(tmp_path / "missing")
    with pytest.raises(ValueError, match="has neither style-transfer-preprocessed-512/ nor the 16 class folders"):
        style.find_stimuli(tmp_path)
    (tmp_path / "airplane").mkdir()
    (tmp_path / "bear").mkdir()
    with pytest.raises(ValueError, match="lacks the class folders bicycle, bird"):
        style.find_stimuli(tmp_path)
    for c in style.CATEGORIES:
        (tmp_path / c).mkdir(exist_ok=True)
        src = next((ROOT / "stimuli" / "style-transfer-preprocessed-512" / c).iterdir())
        shutil.copy(src, tmp_path / c / src.name)
    found = style.find_stimuli(tmp_path)
    assert sum(map(len, found.cue_conflict.values())) == 16 and found.silhouettes is None
    wrong = next((tmp_path / "cat").iterdir())
    shutil.copy(wrong, tmp_path / "dog" / wrong.name)
    with pytest.raises(ValueError, match="has shape 'cat' but lies in folder 'dog'"):
        style.find_stimuli(tmp_path)


def test_bad_models_and_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="1000 ImageNet outputs"):
        style.shape_bias(models.create("resnet18", num_classes=10), ROOT, max_per_class=1)
    bad = tmp_path / "d.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a decisions file in the paper's format"):
        style.shape_bias_from_decisions(bad)
    with pytest.raises(FileNotFoundError, match="no such decisions file"):
        style.shape_bias_from_decisions(tmp_path / "none.csv")
