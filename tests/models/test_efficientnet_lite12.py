"""The pretrained EfficientNet-Lite1 and -Lite2: strict loading, the scaled architecture read off the weights,
their own input sizes and preprocessing, and correct predictions on the sample photos."""

import itertools

import pytest
import torch

from cnnlab import data, models

CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby", "Persian cat", "Siamese cat", "lynx"}
VARIANTS = {"efficientnet_lite1": (240, 272, 5_416_680), "efficientnet_lite2": (260, 292, 6_092_072)}


@pytest.fixture(scope="module", params=list(VARIANTS))
def pretrained(request):
    return request.param, models.create(request.param, weights="imagenet").eval()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_loads_strictly_with_every_tensor(name):
    w = models.info(name)["weights"]["imagenet"]
    sd = w.state_dict()
    m = models.create(name)
    assert set(sd) == set(m.state_dict())  # strict: no missing, no unexpected key
    assert all(sd[k].shape == v.shape for k, v in m.state_dict().items())
    params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
    assert params == VARIANTS[name][2] == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name, repeats, widths", [
    ("efficientnet_lite1", [1, 3, 3, 4, 4, 5, 1], [16, 24, 40, 80, 112, 192, 320]),
    ("efficientnet_lite2", [1, 3, 3, 4, 4, 5, 1], [16, 24, 48, 88, 120, 208, 352]),
])
def test_depth_and_width_scaling_follow_the_lite_rule(name, repeats, widths):
    """Middle stages' repeats x 1.1 / 1.2 rounded up, first and last stage fixed; channels x width rounded to 8."""
    with torch.device("meta"):
        m = models.create(name)
    outs = [b._bn2.num_features for b in m._blocks]
    stages = [len(list(g)) for _, g in itertools.groupby(outs)]
    assert stages == repeats and sorted(set(outs), key=outs.index) == widths
    assert m._conv_stem.out_channels == 32 and m._conv_head.out_channels == 1280  # stem and head fixed


def test_weights_metadata_and_preprocessing(pretrained):
    name, net = pretrained
    size, resize, _ = VARIANTS[name]
    w = models.info(name)["weights"]["imagenet"]
    assert w.input_size == (3, size, size) and w.resize_size == resize and w.interpolation == "bicubic"
    assert w.mean == (0.5, 0.5, 0.5) and w.std == (0.5, 0.5, 0.5)
    assert net.cnnlab.input_size == (3, size, size) and models.info(name)["input_size"] == (3, size, size)
    assert models.preprocess(net, data.sample_image("chelsea")).shape == (3, size, size)
    assert net._bn0.eps == 1e-3  # TensorFlow's batch-norm epsilon


@pytest.mark.parametrize("photo, expected", [
    ("chelsea", CAT_CLASSES), ("coffee", {"espresso"}), ("camera", {"tripod"}), ("stereo_motorcycle", {"moped"}),
    ("china", {"palace"}),
])
def test_predicts_sample_photos(pretrained, photo, expected):
    top = models.predict(pretrained[1], [data.sample_image(photo)], topk=1)[0][0]
    assert top.label in expected and top.prob > 0.15, (pretrained[0], photo, top)


@pytest.mark.parametrize("photo, expected", [("rocket", {"missile"}),
                                             ("grace_hopper", {"academic gown", "mortarboard", "military uniform"})])
def test_harder_photos_are_in_the_top5(pretrained, photo, expected):
    """Lite1 and Lite2 call the rocket 'space shuttle' / 'drilling platform' (missile is in their top 5)."""
    top = models.predict(pretrained[1], [data.sample_image(photo)], topk=5)[0]
    assert expected & {p.label for p in top}, (pretrained[0], photo, top)


def test_feature_maps_have_the_scaled_channels(pretrained):
    name, net = pretrained
    feats = models.feature_info(net)
    assert [f.stride for f in feats] == [2, 4, 8, 16, 32, 32]
    assert feats[2].channels == (40 if name.endswith("1") else 48)
