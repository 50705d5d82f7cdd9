"""The Detect, Segment and Style panels' API, in process: detector and segmenter runs under ``--runs`` are listed
with their task and refused by the classifier panels; each answer equals the public function it calls
(``detect.detect_image``, ``segment.segment_images``, ``segment.from_attribution``, ``style.stylize``); bad input
is a 4xx."""

import numpy as np
import pytest
from studio_helpers import as_uint8, decode_png, model_state

from cnnlab import data, detect, segment

DET, SEG = "run:scenes-detector", "run:scenes-segmenter"


def _job(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 202, r.text
    job = client.app.state.studio.jobs.wait(r.json()["job"]["id"], timeout=120)
    assert job.status == "done", (job.status, job.error)
    return job.result


def test_runs_are_listed_with_their_task_and_classifier_panels_refuse_them(task_client):
    doc = task_client.get("/api/models").json()
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name[DET]["task"] == "detector" and by_name[DET]["family"] == "faster-rcnn"
    assert by_name[DET]["num_classes"] == 2 and "detector faster-rcnn" in by_name[DET]["label"]
    assert by_name[SEG]["task"] == "segmenter" and by_name[SEG]["input_size"] == [3, 32, 32]
    assert by_name["efficientnet_lite0"]["task"] == "classifier" and doc["default"] == "efficientnet_lite0"
    for path, extra in [("/api/predict", {}), ("/api/explain", {}), ("/api/attack", {}), ("/api/architecture", {}),
                        ("/api/features", {"layer": "x"}), ("/api/attack/onepixel", {}), ("/api/explain/sanity", {}),
                        ("/api/segment/attribution", {})]:
        for name, panel in [(DET, "Detect panel"), (SEG, "Segment panel")]:
            r = task_client.post(path, json={"model": name, "sample": "chelsea", **extra})
            assert r.status_code == 422, (path, r.text)
            assert "not a classifier" in r.json()["error"] and panel in r.json()["error"]
    r = task_client.get(f"/api/models/{DET}")
    assert r.status_code == 422 and "Detect panel" in r.json()["error"]


def test_detect_is_detect_image_and_leaves_the_cached_model_as_found(task_client, task_runs):
    loaded = task_client.app.state.studio.models.get(DET, "detector")
    before = model_state(loaded.model)
    res = _job(task_client, "/api/detect", {"model": DET, "sample": "chelsea", "score": 0.2})
    ref = detect.load_detector(task_runs / "scenes-detector")
    rows, picture = detect.detect_image(ref, data.sample_image("chelsea"), score=0.2)
    assert res["detections"] == rows and len(rows) > 0  # two training steps: low scores, but boxes
    assert res["arch"] == "faster-rcnn" and res["classes"] == ["0", "1"] and res["size"] == [300, 451]
    assert sum(res["counts"].values()) == len(rows)
    assert np.array_equal(decode_png(res["picture"]), picture.permute(1, 2, 0).numpy())
    high = _job(task_client, "/api/detect", {"model": DET, "sample": "chelsea", "score": 0.99})
    assert high["detections"] == [] and high["score"] == 0.99
    assert model_state(loaded.model) == before


@pytest.mark.parametrize("body, status, words", [
    ({"model": "run:nope", "sample": "chelsea"}, 404, "unknown model 'run:nope'"),
    ({"model": "run:../../etc/passwd", "sample": "chelsea"}, 404, "unknown model"),
    ({"model": SEG, "sample": "chelsea"}, 422, "is a segmenter, not a detector"),
    ({"model": "efficientnet_lite0", "sample": "chelsea"}, 422, "is a classifier, not a detector"),
    ({"sample": "chelsea"}, 422, "model is required"),
    ({"model": DET, "sample": "chelsea", "score": 2}, 422, "score must be in [0, 1]"),
    ({"model": DET, "sample": "chelsea", "score": -0.1}, 422, "score must be in [0, 1]"),
    ({"model": DET, "sample": "chelsea", "score": "nan"}, 422, "score"),
    ({"model": DET, "sample": "chelsea", "score": "high"}, 422, "score must be a number"),
    ({"model": DET}, 422, "no image"),
    ({"model": DET, "image": "upload:0000"}, 404, "unknown"),
])
def test_detect_bad_input_is_a_4xx(task_client, body, status, words):
    r = task_client.post("/api/detect", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"] and "\n" not in r.json()["error"]


def test_detect_without_runs_names_what_is_offered(client):
    assert not [m for m in client.get("/api/models").json()["models"] if m["task"] != "classifier"]
    r = client.post("/api/detect", json={"model": "run:x", "sample": "chelsea"})
    assert r.status_code == 404 and "runs: none" in r.json()["error"]


def test_segment_is_segment_images(task_client, task_runs):
    doc = task_client.post("/api/segment", json={"model": SEG, "sample": "coffee", "alpha": 0.7}).json()
    ref = segment.segment_images(segment.load(task_runs / "scenes-segmenter"), [data.sample_image("coffee")],
                                 alpha=0.7)[0]
    assert np.array_equal(decode_png(doc["overlay"]), as_uint8(ref.overlay))
    assert np.array_equal(decode_png(doc["labels"]), as_uint8(ref.colors))
    assert doc["legend"] == ref.legend() and doc["size"] == list(ref.labels.shape)
    assert [c["class"] for c in doc["classes"]] == ["background", "0", "1", "7"] and doc["input_size"] == [3, 32, 32]
    assert abs(sum(c["fraction"] for c in doc["legend"]) - 1) < 1e-6


def test_segment_undoes_the_runs_class_weights(task_client, task_runs):
    weights = segment.run_class_weights(task_runs / "scenes-segmenter")  # median frequency, from its training labels
    plain = task_client.post("/api/segment", json={"model": SEG, "sample": "coffee"}).json()
    assert plain["class_weights"] == weights and plain["undo_weights"] is None
    doc = task_client.post("/api/segment", json={"model": SEG, "sample": "coffee", "undo_weights": 1}).json()
    net = segment.load(task_runs / "scenes-segmenter")
    ref = segment.segment_images(net, [data.sample_image("coffee")], adjustment=segment.undo_weights(weights, 1.0))[0]
    assert doc["undo_weights"] == 1.0
    assert np.array_equal(decode_png(doc["labels"]), as_uint8(ref.colors)) and doc["legend"] == ref.legend()
    assert doc["legend"] != plain["legend"]  # the weights moved pixels between classes: undoing them moves them back
    zero = task_client.post("/api/segment", json={"model": SEG, "sample": "coffee", "undo_weights": 0}).json()
    assert zero["labels"] == plain["labels"] and zero["undo_weights"] is None


def test_segment_refuses_to_undo_weights_a_run_never_had(task_client, task_runs):
    import shutil

    copy = task_runs / "scenes-segmenter-unweighted"  # a checkpoint saved without segmenter.json: no class weights
    copy.mkdir()
    try:
        for name in ("model.json", "model.safetensors"):
            shutil.copy(task_runs / "scenes-segmenter" / name, copy / name)
        name = "run:scenes-segmenter-unweighted"
        doc = task_client.post("/api/segment", json={"model": name, "sample": "coffee"}).json()
        assert doc["class_weights"] is None and doc["undo_weights"] is None
        r = task_client.post("/api/segment", json={"model": name, "sample": "coffee", "undo_weights": 0.5})
        assert r.status_code == 422
        assert r.json()["error"] == f"{name} was trained without class weights: there are none to undo"
        assert str(task_runs) not in r.text  # no server path reaches the client
    finally:
        shutil.rmtree(copy)


@pytest.mark.parametrize("body, status, words", [
    ({"model": "run:nope", "sample": "chelsea"}, 404, "unknown model"),
    ({"model": DET, "sample": "chelsea"}, 422, "is a detector, not a segmenter"),
    ({"model": "lenet5", "sample": "chelsea"}, 422, "is a classifier, not a segmenter"),
    ({"sample": "chelsea"}, 422, "model is required"),
    ({"model": SEG, "sample": "chelsea", "alpha": 1.5}, 422, "alpha must be in [0, 1]"),
    ({"model": SEG, "sample": "chelsea", "undo_weights": -0.5}, 422, "undo_weights must be in [0, 1]"),
    ({"model": SEG, "sample": "chelsea", "undo_weights": "all"}, 422, "undo_weights"),
    ({"model": SEG, "sample": "nope"}, 404, "unknown sample"),
])
def test_segment_bad_input_is_a_4xx(task_client, body, status, words):
    r = task_client.post("/api/segment", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_segments_from_gradients_are_from_attribution(task_client):
    from cnnlab import models

    res = _job(task_client, "/api/segment/attribution", {"model": "efficientnet_lite0", "sample": "chelsea",
                                                         "refine": "threshold", "threshold": 0.4})
    ref = segment.from_attribution(models.load("efficientnet_lite0"), [data.sample_image("chelsea")],
                                   refine="threshold", threshold=0.4, size=224)[0]
    assert (res["class"], res["index"], res["found"]) == (ref.label, ref.index, ref.found)
    assert res["box"] == [round(float(v), 1) for v in ref.box]
    assert res["coverage"] == round(float(ref.mask.float().mean()), 4)
    assert np.array_equal(decode_png(res["boxed"]), as_uint8(segment.draw_box(ref.image, ref.box)))


@pytest.mark.parametrize("body, words", [
    ({"method": "gradcamm"}, "did you mean gradcam"),
    ({"refine": "watershed"}, "refine must be one of grabcut, threshold"),
    ({"threshold": 1.5}, "threshold must be in [0, 1]"),
    ({"size": 4}, "size"),
    ({"target": 5000}, "target"),
    ({"model": "lenet5"}, "cannot take an image resized to 28x42"),  # a fixed-size network, refused before any job
])
def test_segments_from_gradients_bad_input_is_a_422(task_client, body, words):
    r = task_client.post("/api/segment/attribution", json={"model": "efficientnet_lite0", "sample": "chelsea", **body})
    assert r.status_code == 422, r.text
    assert words in r.json()["error"]


def test_style_job_is_stylize_streams_snapshots_and_cancels(client):
    import torch

    from cnnlab import models, style

    studio = client.app.state.studio
    r = client.post("/api/style", json={"sample": "chelsea", "style": "sample:brick", "size": 64, "steps": 8})
    assert r.status_code == 202
    seen = []
    job = studio.jobs.get(r.json()["job"]["id"])
    while job.status not in ("done", "error", "cancelled"):
        doc = job.to_json()
        if doc["partial"]:
            seen.append(doc["partial"]["step"])
        job._done.wait(0.005)
    assert job.status == "done", job.error
    res = job.result
    ref = style.stylize(data.sample_image("chelsea"), data.sample_image("brick"),
                        model=models.load("efficientnet_lite0"), size=64, steps=8, snapshot_every=1,
                        generator=torch.Generator().manual_seed(0))
    assert np.array_equal(decode_png(res["image"]), as_uint8(ref.image))
    assert len(res["history"]) == 8 and res["size"] == [43, 64] and res["settings"]["optimizer"] == "lbfgs"
    assert seen and all(1 <= s <= 8 for s in seen)  # snapshots streamed while it ran
    assert job.to_json()["partial"] is None
    long = client.post("/api/style", json={"sample": "chelsea", "size": 64, "steps": 500}).json()["job"]
    while studio.jobs.get(long["id"]).progress == 0 and studio.jobs.get(long["id"]).status in ("queued", "running"):
        studio.jobs.get(long["id"])._done.wait(0.01)
    r = client.post("/api/predict", json={"model": "efficientnet_lite0", "sample": "coffee", "topk": 1})
    assert r.status_code == 200 and r.json()["topk"][0]["class"] == "espresso"
    assert studio.jobs.get(long["id"]).status == "running"  # a predict is not blocked by a style transfer
    assert client.delete(f"/api/jobs/{long['id']}").status_code == 200
    assert studio.jobs.wait(long["id"], timeout=30).status == "cancelled"


@pytest.mark.parametrize("body, status, words", [
    ({"style": "sample:nope"}, 404, "unknown sample image 'nope'"),
    ({"style": "upload:0000"}, 404, "unknown image"),
    ({"steps": 0}, 422, "steps must be an integer in [1, 500]"),
    ({"size": 5000}, 422, "size must be an integer in [64, 512]"),
    ({"size": 32}, 422, "size must be an integer in [64, 512]"),
    ({"optimizer": "sgd"}, 422, "optimizer must be one of lbfgs, adam"),
    ({"beta": -1}, 422, "beta must be in"),
    ({"model": "lenet5"}, 422, "needs a model that takes RGB images"),
    ({"model": "nope"}, 404, "unknown model"),
])
def test_style_bad_input_is_a_4xx(client, body, status, words):
    r = client.post("/api/style", json={"sample": "chelsea", **body})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
