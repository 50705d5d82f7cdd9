"""Demo section: object detection. A Faster R-CNN on the pretrained EfficientNet-Lite0 trained in seconds on
generated scenes (digits pasted on the offline textures, exact boxes), its test boxes and AP, its anchors and RPN
proposals, and selective search's regions on a sample photo. Needs nothing beyond what ships offline; the real
data figures (Raccoon, BCCD) are in ``benchmarks/README.md``."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri, image_to_data_uri

SIZE, TRAIN, TEST, EPOCHS = 128, 80, 24, 3
CLASSES = [0, 1]  # digits 0 and 1
# The section does not depend on the demo's model (its detector, data and seeds are fixed): computed once per
# process, so a program (or a test) that renders several reports trains the detector once.
_DONE: dict[str, object] = {}
OPTIONS = {"min_size": SIZE, "max_size": SIZE, "anchor_sizes": [16, 32, 64, 128], "fpn_channels": 64,
           "representation": 128, "sampling_ratio": 1, "trainable_layers": 2}


def _scenes(n: int, seed: int):
    from cnnlab import data

    return data.generate_scenes(n, size=SIZE, classes=CLASSES, max_objects=3, min_scale=25, max_scale=42, seed=seed)


def _pictures(det, test, n: int = 4) -> str:
    from cnnlab import detect

    preds = detect.predict(det, test.images[:n], score=0.5)
    cards = []
    for img, t, p in zip(test.images[:n], test.targets[:n], preds):
        truth = detect.draw_detections(img, {"boxes": t["boxes"], "labels": t["labels"]}, det.classes, width=1)
        found = detect.draw_detections(img, p, det.classes, width=1, font_size=10)
        truth, found = truth.float() / 255, found.float() / 255
        cards.append(f'<div class="card" style="width:300px"><img src="{image_to_data_uri(truth)}" alt="truth" '
                     f'style="width:140px;display:inline"> <img src="{image_to_data_uri(found)}" alt="detections" '
                     f'style="width:140px;display:inline"><br>truth | {len(p["boxes"])} detections (score &ge; 0.5)'
                     "</div>")
    return '<div class="grid">' + "".join(cards) + "</div>"


@register_section("detection", order=75)
def detection_section(ctx: DemoContext) -> Section:
    key = f"{SIZE}-{TRAIN}-{TEST}-{EPOCHS}"
    if key not in _DONE:
        _DONE[key] = _build()
    section, summary = _DONE[key]
    ctx.cache["detection"] = dict(summary)
    return section


def _build() -> tuple[Section, dict]:
    import torch

    from cnnlab import data, detect

    t0 = time.perf_counter()
    train, test = _scenes(TRAIN, 10), _scenes(TEST, 11)
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread is faster on a busy CPU
    try:
        torch.manual_seed(0)
        det = detect.create("faster-rcnn", num_classes=len(train.classes), classes=train.classes, **OPTIONS)
        cfg = detect.DetectConfig(epochs=EPOCHS, batch_size=4, lr=0.02, device="cpu", progress=False, crop=0.0,
                                  scale=(1.0, 1.0))
        t1 = time.perf_counter()
        hist = detect.fit(det, train, None, cfg)
        train_s = time.perf_counter() - t1
        r = detect.evaluate(det, test)
        view = detect.anchors_at(det, test.images[0], proposals=15)
        anchors_png = figure_to_data_uri(detect.anchors_figure(view, test.images[0]))
        pictures = _pictures(det.eval(), test)
        photo = data.sample_image("chelsea")
        t2 = time.perf_counter()
        ss = detect.selective_search(photo, max_side=300)
        ss_s = time.perf_counter() - t2
        ss_png = figure_to_data_uri(detect.anchors_figure(detect.AnchorView("selective search", (0, 0), [], ss[:30],
                                                                            len(ss)), photo))
    finally:
        torch.set_num_threads(old)
    summary = {"map50": r.map50, "map": r.map, "voc_map": r.voc_map, "train_seconds": train_s}
    losses = [k for k in hist.rows[-1] if k.startswith("loss_")]
    rows = "".join("<tr><td>" + str(row["epoch"]) + "</td>" + "".join(f'<td class="num">{row[k]:.3f}</td>'
                                                                     for k in losses) + "</tr>" for row in hist.rows)
    head = "".join(f"<th>{escape(k.removeprefix('loss_'))}</th>" for k in losses)
    per = "".join(f"<tr><td>{escape(c)}</td><td class='num'>{r.objects[c]}</td><td class='num'>"
                  f"{r.per_class_ap50[c]:.1%}</td><td class='num'>{r.per_class_ap[c]:.1%}</td></tr>"
                  for c in r.classes)
    body = (
        f"<p>A <b>Faster R-CNN</b> (Ren et al. 2015; torchvision's implementation with an FPN) on the pretrained "
        f"EfficientNet-Lite0 (the demo's <code>--model</code> is not used here), trained with "
        f"<code>cnnlab.detect.fit</code> for {EPOCHS} epochs on {TRAIN} generated {SIZE}x{SIZE} scenes (digits 0 and "
        f"1 pasted at random scales on the offline textures and photos, exact boxes): {train_s:.1f} s on this CPU. "
        f"The four losses of the method, logged separately (epoch means):</p>"
        f'<table class="t"><tr><th>epoch</th>{head}</tr>{rows}</table>'
        f"<p>On {TEST} new scenes: <b>mAP@0.5 {r.map50:.1%}</b>, mAP@[.5:.95] {r.map:.1%} (COCO's definitions, "
        f"pycocotools), VOC all-point AP@0.5 {r.voc_map:.1%}; {r.ms_per_image:.0f} ms per image.</p>"
        f'<table class="t"><tr><th>digit</th><th>objects</th><th>AP@0.5</th><th>AP@[.5:.95]</th></tr>{per}</table>'
        f"{pictures}"
        f'<div class="grid"><div class="card" style="width:520px"><img src="{figure_to_data_uri(detect.pr_figure(r))}"'
        ' alt="precision-recall"><br>precision-recall at IoU 0.5</div>'
        f'<div class="card" style="width:620px"><img src="{anchors_png}" alt="anchors"><br>left: the anchors of the '
        "four pyramid levels (strides 8-64, three aspect ratios) at the image centre; right: the region proposal "
        "network's best proposals, which the second stage classifies</div></div>"
        f"<p><b>Selective search</b> (Uijlings et al. 2013; OpenCV's <code>ximgproc</code>), the region proposals of "
        f"R-CNN and Fast R-CNN: {len(ss)} regions on the sample photo <i>chelsea</i> in {ss_s:.2f} s (the first 30 "
        "drawn). R-CNN runs the whole backbone on every one of them; Fast R-CNN pools them from one feature map; "
        "Faster R-CNN replaces them with the RPN above.</p>"
        f'<div class="card" style="width:640px"><img src="{ss_png}" alt="selective search"></div>'
        "<p>The same from the command line: <code>cnnlab train-detector --arch faster-rcnn --data "
        "voc:../shared/data/raccoon --out runs/raccoon</code>, then <code>cnnlab eval-detector runs/raccoon</code>, "
        "<code>cnnlab detect photo.jpg --model runs/raccoon --out boxes</code>, <code>cnnlab anchors runs/raccoon "
        "photo.jpg --out anchors</code>. All seven methods and their figures on the Raccoon and BCCD sets: "
        f"<code>docs/detect.md</code>, <code>benchmarks/README.md</code>. Section time {time.perf_counter() - t0:.1f} "
        "s.</p>"
    )
    return Section("Object detection", body), summary
