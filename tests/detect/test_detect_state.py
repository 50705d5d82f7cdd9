"""The public detect functions that take a detector leave it exactly as found: each module's mode (a mix of train
and eval), each parameter's requires_grad and the user's own hooks, after a normal call and after a call that
raises inside the model (the registry-wide guard of tests/models, for detectors)."""

import pytest
from _detect_helpers import build

from cnnlab import data, detect


class Boom(Exception):
    """Raised by the user's hook inside the forward pass."""


@pytest.fixture(scope="module")
def scenes():
    return data.generate_scenes(2, size=64, classes=[0, 1], max_objects=2, min_scale=24, max_scale=40, seed=5)


CALLS = {
    "predict": lambda det, s: detect.predict(det, s.images, score=0.0),
    "evaluate": lambda det, s: detect.evaluate(det, s),
    "detect_image": lambda det, s: detect.detect_image(det, s.images[0], score=0.0),
    "anchors_at": lambda det, s: detect.anchors_at(det, s.images[0], proposals=5),
}


def _mixed(name):
    det = build(name, **({"size": 64} if name == "yolo" else {"min_size": 64, "max_size": 64}))
    det.train()
    det.net.backbone.eval()  # a frozen stage: the mix a global model.train(flag) would flatten
    head = [p for n, p in det.named_parameters() if not n.startswith("net.backbone")]
    head[0].requires_grad_(False)
    return det


def _state(m):
    return ([(n, x.training) for n, x in m.named_modules()], [(n, p.requires_grad) for n, p in m.named_parameters()],
            [(n, list(x._forward_hooks.values()), list(x._forward_pre_hooks.values())) for n, x in m.named_modules()])


@pytest.mark.parametrize("name", ["yolo", "faster-rcnn"])
@pytest.mark.parametrize("call", list(CALLS))
def test_the_detector_is_left_as_found(name, call, scenes):
    det = _mixed(name)
    seen = []
    det.net.backbone.register_forward_hook(lambda mod, i, o: seen.append(1))
    before = _state(det)
    CALLS[call](det, scenes)
    assert _state(det) == before
    if (call, name) == ("anchors_at", "yolo"):  # YOLO's grid cell is drawn without running the network
        assert not seen
        return
    assert seen, "the user's hook ran"

    armed = [1]

    def boom(mod, args):
        if armed:
            raise Boom("the user's hook raised")

    det.net.backbone.register_forward_pre_hook(boom)
    before = _state(det)
    with pytest.raises(Boom):
        CALLS[call](det, scenes)
    assert _state(det) == before
