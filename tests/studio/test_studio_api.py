"""The studio's JSON API, in process: every endpoint answers what the public API computes for the same input, and
bad input gets a 4xx with a one-line JSON message."""

import json

import numpy as np
import pytest
import torch
from studio_helpers import as_uint8, decode_png, model_state, png_bytes

from cnnlab import analysis, data, explain, models, robust


def test_page_lists_every_panel_and_loads_only_its_own_files(client):
    from cnnlab.studio import import_panels

    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    panels = import_panels()
    assert [p.name for p in panels][:4] == ["predict", "architecture", "explain", "attack"]
    for p in panels:
        assert f'data-panel="{p.name}"' in page.text and f'id="panel-{p.name}"' in page.text
        assert f'src="/static/panels/{p.name}.js"' in page.text
        assert client.get(f"/static/panels/{p.name}.js").status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # offline: nothing from a CDN, no inline script (the CSP would block it)
    for path in ["/", "/static/studio.js", "/static/studio.css", "/static/start.js"]:
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text, path
    assert "<script>" not in page.text
    assert client.get("/api/health").json()["panels"] == [p.name for p in panels]


def test_models_offer_pretrained_weights_and_label_random_ones(client):
    doc = client.get("/api/models").json()
    by_name = {m["name"]: m for m in doc["models"]}
    assert doc["default"] == "efficientnet_lite0"
    assert by_name["efficientnet_lite0"]["pretrained"] and "imagenet" in by_name["efficientnet_lite0"]["label"]
    assert not by_name["lenet5"]["pretrained"] and "random weights" in by_name["lenet5"]["label"]
    for name in models.names():  # every registry model with weights; large random ones are not offered
        meta = models.info(name)
        assert (name in by_name) == bool(meta["weights"] or meta["small"]), name
    details = client.get("/api/models/lenet5").json()
    assert details["input_size"] == [1, 28, 28] and details["num_classes"] == 10
    assert [f["module"] for f in details["feature_layers"]] == [f.module for f in
                                                                models.feature_info(models.create("lenet5"))]
    assert {m["name"]: m["applies"] for m in details["methods"]}["cam"] is False  # no GAP head
    lite = client.get("/api/models/efficientnet_lite0").json()
    assert lite["classes"][967] == "espresso" and "centre-crop 224x224" in lite["preprocessing"]["text"]
    assert client.get("/api/models/vgg16").status_code == 404


def test_predict_json_is_what_the_cli_prints(client, capsys, monkeypatch):
    from cnnlab.cli import main

    doc = client.post("/api/predict", json={"model": "efficientnet_lite0", "sample": "coffee"}).json()
    cached = client.app.state.studio.models.get("efficientnet_lite0").model
    monkeypatch.setattr(models, "load", lambda spec, **kw: cached)  # the same weights, not loaded a second time
    assert main(["predict", "sample:coffee", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert doc["topk"] == cli[0]["topk"]
    assert doc["topk"][0]["class"] == "espresso" and set(doc["topk"][0]) == {"class", "index", "prob"}


def test_predict_upload_and_reuse_by_reference(client, tmp_path):
    png = png_bytes((80, 60), (30, 160, 60))
    up = client.post("/api/predict", files={"file": ("green.png", png, "image/png")},
                     data={"model": "lenet5", "topk": "3", "seen": "true"})
    assert up.status_code == 200, up.text
    doc = up.json()
    (tmp_path / "green.png").write_bytes(png)
    net = client.app.state.studio.models.get("lenet5").model
    ref = models.predict(net, [data.load_image(tmp_path / "green.png")], topk=3)[0]
    assert [t["index"] for t in doc["topk"]] == [p.index for p in ref]
    np.testing.assert_allclose([t["prob"] for t in doc["topk"]], [p.prob for p in ref], atol=1e-6)
    assert decode_png(doc["seen"]).shape == (28, 28)  # what lenet5 sees: grey 28x28
    again = client.post("/api/predict", json={"model": "lenet5", "image": doc["image"], "topk": 3}).json()
    assert again["topk"] == doc["topk"]
    info = client.post("/api/images", files={"file": ("green.png", png, "image/png")}).json()
    assert (info["width"], info["height"], info["channels"]) == (80, 60, 3)
    preview = client.get(f"/api/images/{info['image']}/preview?max_side=40")
    assert preview.headers["content-type"] == "image/png" and decode_png(preview.content).shape == (30, 40, 3)


@pytest.mark.parametrize("name, body, status, words", [
    ("empty.png", b"", 422, "empty"),
    ("text.png", b"this is not an image", 422, "not an image"),
    ("truncated.png", png_bytes()[:70], 422, "corrupt or truncated"),
])
def test_bad_uploads_get_a_clear_message(client, name, body, status, words):
    r = client.post("/api/images", files={"file": (name, body, "image/png")})
    assert r.status_code == status and words in r.json()["error"] and name in r.json()["error"]
    assert "/tmp" not in r.json()["error"] and "Traceback" not in r.text


def test_upload_limits_and_the_temporary_folder(tmp_path, monkeypatch):
    import tempfile

    from PIL import Image
    from studio_helpers import make_client

    from cnnlab import studio

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # everything a temporary file could touch
    app = studio.create_app(max_upload_bytes=50_000, max_pixels=1_000_000)
    folder = app.state.studio.images.folder
    assert folder.parent == tmp_path
    with make_client(app) as c:
        big = c.post("/api/images", files={"file": ("big.bin", b"\0" * 60_000, "image/png")})
        assert big.status_code == 413 and "50,000" in big.json()["error"]
        buf = __import__("io").BytesIO()
        Image.new("L", (1200, 1000)).save(buf, "PNG")  # small file, 1.2 MP
        many = c.post("/api/images", files={"file": ("wide.png", buf.getvalue(), "image/png")})
        assert many.status_code == 413 and "1200x1000" in many.json()["error"]
        two = c.post("/api/images", files=[("a", ("a.png", png_bytes(), "image/png")),
                                           ("b", ("b.png", png_bytes(), "image/png"))])
        assert two.status_code == 400
        assert c.post("/api/images", files={"file": ("ok.png", png_bytes(), "image/png")}).status_code == 200
        assert c.post("/api/images", files={"file": ("bad.png", b"junk", "image/png")}).status_code == 422
        assert list(folder.iterdir()) == []  # each upload's file is gone once decoded
        assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # nothing written anywhere else
    assert not folder.exists()  # removed when the studio stops


@pytest.mark.parametrize("path, body, status, words", [
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "eps": 5}, 422, "eps must be in [0, 1], got 5"),
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "eps": "nan"}, 422, "eps"),
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "method": "onepixel"}, 422, "/api/attack/onepixel"),
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "method": "zzz"}, 422, "unknown attack"),
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "method": "fgsm", "steps": 3}, 422, "steps"),
    ("/api/attack", {"model": "lenet5", "sample": "chelsea", "method": "pgd", "steps": 10**6}, 422, "steps"),
    ("/api/features", {"model": "lenet5", "sample": "chelsea", "layer": "features.99"}, 422, "no layer"),
    ("/api/features", {"model": "lenet5", "sample": "chelsea", "layer": "features.3", "unit": [10, 0]}, 422,
     "10x10"),
    ("/api/receptive-field", {"model": "lenet5", "layer": "features.3", "unit": [0, -1]}, 422, "unit[1]"),
    ("/api/receptive-field", {"model": "lenet5", "layer": "classifier.1", "unit": [0, 0]}, 422, "not feature maps"),
    ("/api/explain", {"model": "lenet5", "sample": "chelsea", "methods": ["nope"]}, 422, "unknown explanation"),
    ("/api/explain", {"model": "lenet5", "sample": "chelsea", "layer": "zzz"}, 422, "no layer 'zzz'"),
    ("/api/explain", {"model": "lenet5", "sample": "chelsea", "target": 10}, 422, "[0, 9]"),
    ("/api/explain", {"model": "lenet5", "sample": "chelsea", "target": "a cat"}, 422, "class index"),
    ("/api/explain", {"model": "lenet5", "sample": "chelsea", "alpha": 2}, 422, "alpha"),
    ("/api/predict", {"model": "lenet5", "sample": "chelsea", "topk": 0}, 422, "topk"),
    ("/api/predict", {"model": "lenet5", "sample": "chelsea", "topk": "x"}, 422, "topk must be an integer"),
    ("/api/predict", {"model": "lenet5"}, 422, "no image"),
    ("/api/predict", {"model": "resnet_smal", "sample": "chelsea"}, 404, "did you mean resnet_small"),
    ("/api/predict", {"model": "lenet5", "sample": "nope"}, 404, "unknown sample"),
    ("/api/predict", {"model": ["lenet5"], "sample": "chelsea"}, 422, "model must be a string"),
    ("/api/architecture", {"model": "lenet5", "depth": 99}, 422, "depth"),
    ("/api/attack/onepixel", {"model": "lenet5", "sample": "chelsea", "popsize": 10**5}, 422, "popsize"),
    ("/api/explain/sanity", {"model": "lenet5", "sample": "chelsea", "steps": 0}, 422, "steps"),
])
def test_bad_parameters_get_4xx_with_one_line(client, path, body, status, words):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    msg = r.json()["error"]
    assert words in msg and "\n" not in msg and "Traceback" not in r.text


def test_malformed_bodies(client):
    assert client.post("/api/predict", content=b"{bad", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/predict", content=b"[1]", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/predict", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post("/api/predict", content=b"--x--", headers={"content-type": "multipart/form-data"}).status_code \
        == 400
    assert client.get("/api/nowhere").json() == {"error": "Not Found"}
    assert client.get("/api/jobs/nope").status_code == 404


def test_an_unexpected_error_is_a_one_line_500(client, monkeypatch):
    import cnnlab.studio._panel_predict as panel

    def boom(studio, params):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(panel, "run_predict", boom)
    r = client.post("/api/predict", json={"model": "lenet5", "sample": "chelsea"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error: RuntimeError: something broke (the traceback is in the server log)"}


def test_architecture_is_the_summary(client):
    net = client.app.state.studio.models.get("lenet5").model
    ref = analysis.summarize(net, (1, 28, 28))
    doc = client.post("/api/architecture", json={"model": "lenet5"}).json()
    assert doc["depth"] == "all"  # small enough for every layer
    assert [r["name"] for r in doc["rows"]] == [r.name for r in ref.rows]
    assert [r["params"] for r in doc["rows"]] == [r.params for r in ref.rows]
    assert doc["totals"]["total_params"] == ref.total_params == 61706
    clickable = {r["name"] for r in doc["rows"] if r["clickable"]}
    assert {"features.0", "features.3", "features.5"} <= clickable and "classifier.1" not in clickable
    rf = {r["name"]: r["rf"] for r in doc["rows"]}
    assert rf["features.3"]["size"] == 14 and rf["features.3"]["stride"] == 2
    lite = client.post("/api/architecture", json={"model": "efficientnet_lite0"}).json()
    assert lite["depth"] == 1 and len(lite["rows"]) < 40  # blocks: 145 layers would not read
    assert len(client.post("/api/architecture", json={"model": "efficientnet_lite0", "depth": "all"}).json()["rows"]) \
        > 100


def test_features_and_receptive_fields_are_the_analysis(client):
    studio = client.app.state.studio
    net = studio.models.get("lenet5").model
    doc = client.post("/api/features", json={"model": "lenet5", "sample": "camera", "layer": "features.3",
                                             "max_maps": 5}).json()
    x = models.preprocess(net, data.sample_image("camera"))[None]
    maps = explain.feature_maps(net, x, "features.3")[0]
    assert doc["shape"] == [16, 10, 10]
    assert [m["channel"] for m in doc["maps"]] == maps.flatten(1).mean(1).argsort(descending=True)[:5].tolist()
    top = doc["maps"][0]
    assert top["max"] == pytest.approx(float(maps[top["channel"]].max()), abs=1e-4)
    assert doc["channel"] == top["channel"] and doc["unit"] == top["argmax"]
    assert doc["box"] == analysis.receptive_boxes(net, (1, 28, 28), "features.3", [doc["unit"]])[0].tolist()
    assert decode_png(top["png"]).shape == (10, 10, 3)
    rf = client.post("/api/receptive-field", json={"model": "lenet5", "layer": "features.3", "unit": [5, 5]}).json()
    assert rf["box"] == [8, 8, 22, 22]  # the docstring example of receptive_boxes
    chosen = client.post("/api/features", json={"model": "lenet5", "sample": "camera", "layer": "features.3",
                                                "channel": 7, "unit": [0, 9], "max_maps": 3}).json()
    assert chosen["maps"][0]["channel"] == 7 and chosen["unit"] == [0, 9] \
        and chosen["box"] == [0, 16, 12, 28]  # 14x14, stride 2, clipped


def test_explain_is_explain_images_and_leaves_the_model_as_found(client):
    loaded = client.app.state.studio.models.get("lenet5")
    before = model_state(loaded.model)
    doc = client.post("/api/explain", json={"model": "lenet5", "sample": "coffee",
                                            "methods": ["saliency", "gradcam", "cam"], "target": 3,
                                            "layer": "features.4"}).json()
    assert doc["target"] == {"index": 3, "class": "3"} and doc["layer"] == "features.4"
    by = {m["method"]: m for m in doc["methods"]}
    assert by["cam"]["error"].startswith("CAM needs")  # CAM does not apply to lenet5; the others still come
    x = models.preprocess(loaded.model, data.sample_image("coffee"))[None]
    for m, opts in (("saliency", {}), ("gradcam", {"layer": "features.4"})):
        ref = explain.explain_images(loaded.model, x, m, 3, **opts)[0]
        assert np.array_equal(decode_png(by[m]["overlay"]), as_uint8(ref.overlay)), m
        assert by[m]["index"] == 3 and by[m]["prob"] == pytest.approx(ref.prob, abs=1e-6)
    assert model_state(loaded.model) == before


def test_attack_is_attack_images(client):
    loaded = client.app.state.studio.models.get("lenet5")
    before = model_state(loaded.model)
    doc = client.post("/api/attack", json={"model": "lenet5", "sample": "astronaut", "method": "pgd",
                                           "eps": 0.1, "steps": 3, "seed": 1}).json()
    ref = robust.attack_images(loaded.model, [data.sample_image("astronaut")], "pgd", eps=0.1, steps=3,
                               generator=torch.Generator().manual_seed(1))[0]
    assert np.array_equal(decode_png(doc["adversarial"]), as_uint8(ref.adversarial))
    assert np.array_equal(decode_png(doc["perturbation"]), as_uint8(robust.perturbation_image(ref.perturbation)))
    assert doc["linf"] == pytest.approx(float(ref.perturbation.abs().max()), abs=1e-6) and doc["linf"] <= 0.1 + 1e-6
    assert doc["success"] == ref.success and doc["adversarial_topk"][0]["class"] == ref.adv_class
    assert doc["clean"][0]["class"] == ref.clean_class
    zero = client.post("/api/attack", json={"model": "lenet5", "sample": "astronaut", "eps": 0}).json()
    assert zero["linf"] == 0 and zero["amplification"] is None and not zero["success"]
    assert model_state(loaded.model) == before


def test_checkpoints_under_runs_are_offered_by_id_never_by_path(tmp_path):
    from studio_helpers import make_client

    from cnnlab import studio

    runs, outside = tmp_path / "runs", tmp_path / "outside"
    torch.manual_seed(1)
    net = models.create("lenet5")
    net.cnnlab.classes = [f"c{i}" for i in range(10)]
    models.save_checkpoint(runs / "lenet", net)
    models.save_checkpoint(runs / "nested" / "deep", net)
    models.save_checkpoint(runs / "lenet" / "state" / "step-00000001", net)  # a training state: not offered
    models.save_checkpoint(outside / "secret", net)
    (runs / "link").symlink_to(outside, target_is_directory=True)  # not followed
    (runs / "broken").mkdir()
    (runs / "broken" / "model.json").write_text("{not json")
    (runs / "broken" / "model.safetensors").write_bytes(b"x")
    app = studio.create_app(runs_dir=str(runs))
    with make_client(app) as c:
        offered = {m["name"]: m for m in c.get("/api/models").json()["models"] if m["kind"] == "run"}
        assert sorted(offered) == ["run:lenet", "run:nested/deep"]
        assert "path" not in json.dumps(offered) and str(tmp_path) not in json.dumps(offered)
        doc = c.post("/api/predict", json={"model": "run:lenet", "sample": "camera", "topk": 2}).json()
        ref = models.predict(models.load_checkpoint(runs / "lenet"), [data.sample_image("camera")], topk=2)[0]
        assert [(t["class"], t["index"]) for t in doc["topk"]] == [(p.label, p.index) for p in ref]
        for bad in ["run:../outside/secret", "run:link/secret", "run:" + str(outside / "secret"), "run:lenet/state",
                    "run:broken", str(runs / "lenet"), "../../etc/passwd"]:
            r = c.post("/api/predict", json={"model": bad, "sample": "camera"})
            assert r.status_code == 404, bad
        assert c.get("/api/models/run:..%2Foutside%2Fsecret").status_code == 404
        models.save_checkpoint(runs / "later", net)  # a run that appears while the studio runs
        assert c.post("/api/predict", json={"model": "run:later", "sample": "camera"}).status_code == 200


def test_model_cache_is_bounded_and_loads_once():
    from cnnlab import studio

    s = studio.Studio(studio.StudioConfig(max_models=2))
    try:
        a = s.models.get("lenet5")
        assert s.models.get("lenet5") is a
        s.models.get("resnet_small")
        s.models.get("fastnet_small")
        assert s.models.loaded_names() == ["resnet_small", "fastnet_small"]
        again = s.models.get("lenet5")
        assert again is not a and torch.equal(again.model.features[0].weight, a.model.features[0].weight)  # seeded
    finally:
        s.close()


def test_cam_reads_the_pooled_maps_whatever_layer_the_page_chose(client):
    doc = client.post("/api/explain", json={"model": "efficientnet_lite0", "sample": "coffee", "methods": ["cam"],
                                            "layer": "_blocks.10"}).json()
    cam = doc["methods"][0]
    assert "error" not in cam and cam["layer"] == "input of _avg_pooling" and cam["class"] == "espresso"
