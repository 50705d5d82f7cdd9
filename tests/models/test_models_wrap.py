"""Your own model everywhere: models.wrap gives any nn.Module a card, so predict, checkpoints, explanations,
attacks and the summary take it; its checkpoint comes back only from a module the caller passes."""

import pytest
import torch
from torch import nn

from cnnlab import analysis, explain, models, robust
from cnnlab.cli import main


class SmallNet(nn.Module):
    """A user's own classifier: conv-BN-ReLU x2, global pool, linear; it expects normalised inputs."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        return self.head(self.pool(self.body(x)).flatten(1))


MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _wrapped():
    torch.manual_seed(0)
    net = SmallNet()
    return net, models.wrap(net, classes=["cat", "dog", "fox"], input_size=(3, 16, 16), mean=MEAN, std=STD,
                            classifier="head", features=["body.2", "body.5"], pool="pool", name="small")


def test_the_card_records_the_facts_and_normalisation_is_a_layer_in_front():
    net, m = _wrapped()
    card = m.cnnlab
    assert (card.name, card.source, card.classes, card.input_size) == ("small", "module", ["cat", "dog", "fox"],
                                                                        (3, 16, 16))
    assert card.module_class.endswith("test_models_wrap.SmallNet")
    assert card.classifier == "net.head" and card.pool == "net.pool"
    assert [(f.module, f.channels, f.stride) for f in card.features] == [("net.body.2", 8, 1), ("net.body.5", 16, 2)]
    x = torch.rand(2, 3, 16, 16)
    ref = net.eval()((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    torch.testing.assert_close(m.eval()(x), ref)


def test_predict_checkpoint_explain_attack_and_summary_take_it(tmp_path):
    net, m = _wrapped()
    m.eval()
    preds = models.predict(m, [torch.rand(3, 40, 30)], topk=2)
    assert len(preds[0]) == 2 and preds[0][0].label in ("cat", "dog", "fox")
    path = models.save_checkpoint(tmp_path / "mine", m)
    with pytest.raises(ValueError, match=r"holds your own module .*SmallNet .*module=SmallNet\(\.\.\.\)"):
        models.load(str(path))
    back = models.load_checkpoint(path, module=SmallNet())
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(back(x), m(x))
    with pytest.raises(ValueError, match="holds a .*SmallNet, got module= .*Linear"):
        models.load_checkpoint(path, module=nn.Linear(2, 2))
    assert explain.gradcam(m, x, 1).shape == (2, 1, 16, 16)  # default layer: the card's deepest feature map
    torch.testing.assert_close(explain.cam(m, x, 1), explain.cam(m, x, 1, layer="net.body.5"))
    adv = robust.fgsm(m, x, torch.tensor([0, 1]), eps=0.05)
    assert float((adv - x).abs().max()) <= 0.05 + 1e-6
    s = analysis.summarize(m, (3, 16, 16))
    assert s.model == "small" and s.total_params == sum(p.numel() for p in net.parameters())


def test_a_module_checkpoint_is_one_line_from_the_cli(tmp_path, capsys):
    _, m = _wrapped()
    path = models.save_checkpoint(tmp_path / "mine", m)
    assert main(["predict", "sample:coffee", "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "holds your own module" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": 5}, r"SmallNet gives outputs of shape \(1, 3\) for one image; classes says 5"),
    ({"classes": 3, "classifier": "fc"}, "classifier 'fc' is no module of SmallNet"),
    ({"classes": 3, "features": ["body.9"]}, "feature layer 'body.9' is no module of SmallNet"),
    ({"classes": 3, "features": ["head"]}, r"feature layer 'head' gives \(1, 3\), not a feature map"),
    ({"classes": 3, "mean": MEAN}, "give both mean and std"),
    ({"classes": 3, "mean": (0.5,), "std": (0.5,)}, r"mean must have one value per channel \(3\), got 1"),
    ({"classes": 3, "mean": MEAN, "std": (0.1, 0.0, 0.1)}, "std must be positive"),
    ({"classes": 3, "input_size": (1, 16, 16)}, "SmallNet cannot take input_size 1x16x16"),
    ({"classes": "abc"}, "classes must be a class count or a non-empty list"),
])
def test_bad_wrap_arguments_name_the_value(kwargs, message):
    kw = {"input_size": (3, 16, 16), **kwargs}
    with pytest.raises(ValueError, match=message):
        models.wrap(SmallNet(), **kw)


def test_a_cnnlab_model_is_not_wrapped_again():
    with pytest.raises(ValueError, match="already has a cnnlab card"):
        models.wrap(models.create("lenet5"), classes=10, input_size=(1, 28, 28))
