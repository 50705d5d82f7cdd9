"""The studio in a real browser: Playwright driving Debian's chromium against a uvicorn server on localhost.

Open the page, pick a sample and see its prediction, run Grad-CAM, move the epsilon slider, click a layer for its
feature maps and receptive field, upload a PNG (and drop one), upload a corrupt file and see the error, run the
one-pixel attack and the sanity check as jobs; detect with a detector run and move the score slider, segment with a
segmenter run and from Grad-CAM, run a style transfer. Every test saves screenshots under its tmp dir (or under
``$CNNLAB_STUDIO_SHOTS`` when set). The browser is Debian's (``/usr/bin/chromium``); never ``playwright install``.
"""

import base64
import os
import re
from pathlib import Path

import pytest
from studio_helpers import png_bytes
from studio_server import CHROMIUM, CHROMIUM_ARGS

TIMEOUT = 90_000  # ms; the CPU is shared


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Debian's chromium is missing ({CHROMIUM}): the studio's browser tests need it. Install it with "
                    "`sudo apt-get install chromium` (`make test` does so when run as root); never `playwright "
                    "install`.")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url(server):
    return server[0]


@pytest.fixture
def shots(tmp_path):
    out = Path(os.environ.get("CNNLAB_STUDIO_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    problems = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # a 4xx the test provoked is logged by chromium as a failed resource; anything else (a CSP violation, a JS
    # error) is a bug
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 4" not in m.text
          else None)
    pg.goto(url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg
    ctx.close()
    assert not problems


@pytest.fixture
def page(browser, url):
    yield from _open(browser, url)


@pytest.fixture
def task_page(browser, task_server):
    """The page of a studio whose --runs hold a tiny detector and a tiny segmenter."""
    yield from _open(browser, task_server)


def expect(locator):
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def shoot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_pick_a_sample_and_see_the_prediction(page, shots):
    page.wait_for_selector("#predict-bars[data-top]")
    page.select_option("#sample-select", "coffee")
    page.wait_for_selector("#predict-bars[data-top=espresso]")
    assert page.inner_text("#current-name") == "coffee"
    assert "espresso" in page.inner_text("#predict-bars")
    assert page.eval_on_selector("#predict-seen", "img => img.naturalWidth") == 224  # what the network sees
    assert "centre-crop 224x224" in page.inner_text("#predict-pre")
    shoot(page, shots / "predict.png")


def test_run_gradcam(page, shots):
    page.click(".tab[data-panel=explain]")
    card = page.wait_for_selector("#explain-grid .method-card[data-method=gradcam] img")
    assert card.evaluate("img => img.naturalWidth") == 224
    for m in ("saliency", "guided", "guided-gradcam"):  # gradcam alone, at a middle layer
        page.uncheck(f"#explain-methods input[value='{m}']")
    page.select_option("#explain-layer", "_blocks.10")
    page.click("#explain-run")
    expect(page.locator("#explain-grid .method-card")).to_have_count(1)
    assert "_blocks.10" in page.inner_text("#explain-grid .method-card[data-method=gradcam]")
    shoot(page, shots / "explain.png")


def test_move_the_epsilon_slider(page, shots):
    page.click(".tab[data-panel=attack]")
    page.wait_for_selector("#attack-bars[data-eps]")
    assert page.get_attribute("#attack-bars", "data-eps") == str(2 / 255)
    page.fill("#attack-eps", "8")
    page.wait_for_selector(f"#attack-bars[data-eps='{8 / 255}']")
    assert page.inner_text("#attack-eps-text").startswith("8/255")
    assert "fooled" in page.inner_text("#attack-adv")
    assert page.eval_on_selector("#attack-perturbation", "img => img.naturalWidth") == 224
    page.check("input[name=attack-method][value=pgd]")
    assert page.is_visible("#attack-steps")
    expect(page.locator("#attack-norms")).to_contain_text("PGD at eps = 0.0314, 10 steps")
    expect(page.locator("#panel-attack")).not_to_have_class(re.compile("busy"))
    shoot(page, shots / "attack.png")


def test_click_a_layer_for_its_maps_and_receptive_field(page, shots):
    page.click(".tab[data-panel=architecture]")
    page.click("#arch-table tr[data-layer='_blocks.4']")
    page.wait_for_selector("#arch-maps .map img")
    box = page.wait_for_selector("#arch-box:not([hidden])")
    first = page.inner_text("#arch-rf-text")
    assert "Unit (" in first and box.bounding_box()["width"] > 5
    page.click("#arch-maps .map:nth-child(3) img", position={"x": 2, "y": 2})  # the top-left unit of a map
    expect(page.locator("#arch-rf-text")).to_contain_text("Unit (0, 0)")
    assert page.inner_text("#arch-rf-text") != first
    shoot(page, shots / "architecture.png")


def test_upload_a_png_then_a_corrupt_file(page, shots):
    page.wait_for_selector("#predict-bars[data-top]")
    page.set_input_files("#upload-input", files=[{"name": "red.png", "mimeType": "image/png",
                                                  "buffer": png_bytes((90, 60), (220, 20, 20))}])
    expect(page.locator("#current-name")).to_have_text("red.png")
    expect(page.locator("#predict-original")).to_have_attribute("src", re.compile("upload%3A"))
    page.set_input_files("#upload-input", files=[{"name": "broken.png", "mimeType": "image/png",
                                                  "buffer": b"\x89PNG\r\n\x1a\n not really"}])
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error-text")
    assert "broken.png" in text and ("corrupt" in text or "not an image" in text)
    assert page.inner_text("#current-name") == "red.png"  # the current image is kept
    shoot(page, shots / "upload-error.png")


def test_drop_an_image_on_the_page(page):
    data = base64.b64encode(png_bytes((50, 50), (20, 20, 220))).decode()
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        document.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", data)
    expect(page.locator("#current-name")).to_have_text("dropped.png")
    expect(page.locator("#predict-original")).to_have_attribute("src", re.compile("upload%3A"))


def test_a_late_answer_does_not_overwrite_a_newer_image(page):
    """The coffee prediction is held back until the dropped image's has been asked for: the page must end on the
    dropped image, not on whichever answer came last."""
    page.wait_for_selector("#predict-bars[data-top]")
    held = []

    def hold_coffee(route):
        if "sample:coffee" in (route.request.post_data or ""):
            held.append(route)  # answered below, after the upload's request is out
        else:
            route.continue_()

    page.route("**/api/predict", hold_coffee)
    page.select_option("#sample-select", "coffee")
    page.wait_for_function("() => document.querySelector('#current-name').textContent === 'coffee'")
    for _ in range(TIMEOUT // 50):  # the coffee request is out and held
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "choosing the coffee sample sent no /api/predict request"
    page.set_input_files("#upload-input", files=[{"name": "late.png", "mimeType": "image/png",
                                                  "buffer": png_bytes((40, 40), (20, 220, 20))}])
    expect(page.locator("#current-name")).to_have_text("late.png")
    with page.expect_response(lambda r: "/api/predict" in r.url and "sample:coffee" in (r.request.post_data or "")):
        held[0].continue_()
    page.wait_for_timeout(500)  # time for the late coffee answer to be drawn, were it drawn
    expect(page.locator("#predict-original")).to_have_attribute("src", re.compile("upload%3A"))
    expect(page.locator("#panel-predict")).not_to_have_class(re.compile("busy"))
    assert "upload%3A" in page.get_attribute("#predict-original", "src")
    page.unroute("**/api/predict")


def test_long_jobs_on_a_small_model(page, shots):
    page.select_option("#model-select", "lenet5")
    page.wait_for_selector("#model-note:not([hidden])")
    assert "random weights" in page.inner_text("#model-note")
    page.click(".tab[data-panel=attack]")
    page.wait_for_selector("#attack-bars[data-eps]")
    page.fill("#op-popsize", "20")
    page.fill("#op-steps", "5")
    page.click("#op-run")
    page.wait_for_selector("#op-result:not([hidden])")
    assert "population 20, 5 generations" in page.inner_text("#op-pixels-text")
    assert page.query_selector_all("#op-marks .pixel-mark")  # the changed pixel is circled
    shoot(page, shots / "onepixel.png")
    page.click(".tab[data-panel=explain]")
    page.wait_for_selector("#explain-grid .method-card")
    page.fill("#sanity-steps", "3")
    page.click("#sanity-run")
    page.wait_for_selector("table.sanity")
    assert page.inner_text("table.sanity").count("\n") >= 4  # header + 4 depths
    shoot(page, shots / "sanity.png")


def test_detect_panel_draws_boxes_above_the_score_slider(task_page, shots):
    page = task_page
    page.click(".tab[data-panel=detect]")
    page.wait_for_selector("#detect-table[data-score='0.5']")
    assert page.is_hidden("#detect-none")
    assert "run:scenes-detector" in page.inner_text("#detect-model")
    assert "run:scenes-detector" not in page.inner_text("#model-select")  # not offered to the classifier panels
    page.fill("#detect-score", "20")
    page.wait_for_selector("#detect-table[data-score='0.2']")
    assert int(page.get_attribute("#detect-table", "data-count")) > 0
    expect(page.locator("#detect-picture")).to_have_js_property("naturalWidth", 451)
    expect(page.locator("#detect-caption")).to_contain_text("score ≥ 0.20")
    expect(page.locator("#panel-detect")).not_to_have_class(re.compile("busy"))
    shoot(page, shots / "detect.png")


def test_detect_panel_without_runs_says_how_to_get_one(page, shots):
    page.click(".tab[data-panel=detect]")
    expect(page.locator("#detect-none")).to_be_visible()
    assert "cnnlab train-detector" in page.inner_text("#detect-none")
    assert page.is_hidden("#detect-controls")
    page.click("#detect-rescan")  # looks again under --runs: still none
    expect(page.locator("#panel-detect")).not_to_have_class(re.compile("busy"))
    assert page.is_visible("#detect-none") and page.is_hidden("#error")
    shoot(page, shots / "detect-none.png")


def test_segment_panel_overlay_legend_and_segments_from_gradients(task_page, shots):
    page = task_page
    page.click(".tab[data-panel=segment]")
    page.wait_for_selector("#segment-legend[data-classes]")
    expect(page.locator("#segment-overlay")).to_have_js_property("naturalWidth", 451)
    assert page.query_selector_all("#segment-legend .legend-row .swatch")
    expect(page.locator("#segment-undo-control")).to_be_visible()  # the run trained with class weights
    page.eval_on_selector("#segment-undo", "e => { e.value = 100; e.dispatchEvent(new Event('input')); }")
    page.wait_for_selector("#segment-caption[data-undo='1']")
    expect(page.locator("#segment-caption")).to_contain_text("class weights undone, tau 1.00")
    expect(page.locator("#segment-undo-text")).to_have_text("tau 1.00")
    shoot(page, shots / "segment-undo-weights.png")
    page.click("#sa-run")
    page.wait_for_selector("#sa-result:not([hidden])")
    expect(page.locator("#sa-heat-caption")).to_contain_text("gradcam map of efficientnet_lite0")
    assert "cat" in page.inner_text("#sa-caption")
    shoot(page, shots / "segment.png")


def test_style_panel_streams_the_transfer(page, shots):
    page.click(".tab[data-panel=style]")
    page.wait_for_selector("#style-style option[value='sample:brick']", state="attached")
    expect(page.locator("#style-preview")).to_have_attribute("src", re.compile("sample%3Abrick"))
    page.fill("#style-steps", "16")
    page.click("#style-run")
    page.wait_for_selector("#style-out[data-done=true]")
    expect(page.locator("#style-out-caption")).to_contain_text("16 lbfgs steps at 128x85")
    expect(page.locator("#style-out")).to_have_js_property("naturalWidth", 128)
    expect(page.locator("#style-preview")).to_have_js_property("complete", True)
    assert page.eval_on_selector("#style-preview", "img => img.naturalWidth") > 0
    assert page.is_hidden("#style-cancel")
    shoot(page, shots / "style.png")
