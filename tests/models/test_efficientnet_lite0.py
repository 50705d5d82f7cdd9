"""The pretrained EfficientNet-Lite0: strict loading, TF SAME padding, correct predictions on real photos."""

import math

import pytest
import torch
import torch.nn.functional as F

from cnnlab import data, models
from cnnlab.models._efficientnet import Conv2dSame

CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby", "Persian cat", "Siamese cat", "lynx"}


def test_loads_strictly_with_every_tensor():
    w = models.info("efficientnet_lite0")["weights"]["imagenet"]
    sd = w.state_dict()
    m = models.create("efficientnet_lite0")
    assert set(sd) == set(m.state_dict())  # strict: no missing, no unexpected key
    assert sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) == 4_652_008


@pytest.mark.parametrize(
    "name, expected",
    [("chelsea", CAT_CLASSES), ("coffee", {"espresso"}), ("rocket", {"missile"}), ("camera", {"tripod"}),
     ("stereo_motorcycle", {"moped"}), ("china", {"palace"}), ("grace_hopper", {"academic gown", "mortarboard"})],
)
def test_predicts_sample_photos(lite0, name, expected):
    top = models.predict(lite0, [data.sample_image(name)], topk=1)[0][0]
    assert top.label in expected, (name, top)


def test_espresso_is_confident(lite0):
    top = models.predict(lite0, [data.sample_image("coffee")], topk=1)[0][0]
    assert top.label == "espresso" and top.prob > 0.9


@pytest.mark.parametrize("size, k, s", [(224, 3, 2), (225, 3, 2), (112, 5, 2), (7, 5, 2), (14, 3, 1)])
def test_tf_same_padding_matches_tensorflow_rule(size, k, s):
    conv = Conv2dSame(2, 3, k, s)
    x = torch.randn(1, 2, size, size)
    out = conv(x)
    assert out.shape[-1] == math.ceil(size / s)  # TF: output = ceil(input / stride)
    # TF pads total = max((out-1)*s + k - size, 0), the odd pixel at the bottom/right
    total = max((out.shape[-1] - 1) * s + k - size, 0)
    ref = F.conv2d(F.pad(x, (total // 2, total - total // 2) * 2), conv.weight, None, s)
    torch.testing.assert_close(out, ref)


def test_symmetric_padding_is_measurably_off(lite0):
    """The asymmetric SAME padding matters: symmetric padding changes the logits."""
    x = models.preprocess(lite0, data.sample_image("coffee"))[None]
    with torch.no_grad():
        ref = lite0(x)
        for mod in lite0.modules():
            if isinstance(mod, Conv2dSame) and mod.tf_same:
                mod.tf_same, mod.padding = False, (mod.kernel_size[0] // 2,) * 2
        try:
            sym = lite0(x)
        finally:
            for mod in lite0.modules():
                if isinstance(mod, Conv2dSame) and mod.stride[0] == 2:
                    mod.tf_same, mod.padding = True, (0, 0)
        again = lite0(x)
    torch.testing.assert_close(again, ref)
    assert (sym - ref).abs().max() > 0.1


def test_weights_metadata():
    w = models.info("efficientnet_lite0")["weights"]["imagenet"]
    assert len(w.categories) == 1000 and w.categories[967] == "espresso"
    assert w.input_size == (3, 224, 224) and w.resize_size == 256 and w.interpolation == "bicubic"
    assert w.mean == (0.5, 0.5, 0.5) and w.std == (0.5, 0.5, 0.5)
    out = w.transforms()(data.sample_image("chelsea"))
    assert out.shape == (3, 224, 224) and 0 <= out.min() and out.max() <= 1
