"""Demo section: semantic segmentation. A small U-Net trained in seconds on generated scenes (per-pixel labels,
mIoU from one confusion matrix), the three ways a decoder upsamples (with the checkerboard of a transposed
convolution), and segments and boxes from the demo classifier's gradients refined by GrabCut."""

from __future__ import annotations

import functools
import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri, image_to_data_uri

WEAK_IMAGES = ("chelsea", "stereo_motorcycle")


def _pct(v: float) -> str:
    return "-" if v != v else f"{100 * v:.1f}%"


# The training and upsampling parts do not depend on the demo's model (their data, network and seeds are fixed):
# computed once per process, so a program (or a test) that renders several reports trains the U-Net once.
@functools.cache
def _train_part(threads: int) -> tuple[str, float]:
    import torch

    from cnnlab import data, segment, train

    t0 = time.perf_counter()
    rec = segment.recipe("unet-scenes")
    tr = data.load_segmentation("scenes", "train")
    te = data.load_segmentation("scenes", "test")
    torch.manual_seed(0)
    net = segment.create(rec.arch, num_classes=tr.num_classes, classes=tr.classes,
                         input_size=tuple(tr.labels.shape[-2:]), **rec.model)
    cfg = train.TrainConfig(**{**rec.train, "device": "cpu", "progress": False, "tensorboard": False,
                               "num_threads": threads})
    hist = segment.fit_segmenter(net, tr, None, cfg, options=segment.SegmentConfig(**rec.segment))
    r = segment.evaluate(net, te, batch_size=32, keep=4)
    weights = segment.class_weights_for(tr, segment.SegmentConfig(**rec.segment))
    undone = segment.evaluate(net, te, batch_size=32, adjustment=segment.undo_weights(weights, 1.0)).metrics
    seconds = time.perf_counter() - t0
    m = r.metrics
    palette = data.segmentation_palette(te.classes)
    examples = figure_to_data_uri(segment.examples_figure(te.images[:4], te.labels[:4], r.predictions, palette,
                                                          te.classes, max_rows=4))
    bars = figure_to_data_uri(segment.iou_figure({"U-Net": m}, title=f"generated scenes, {len(te)} test images"))
    rows = "".join(f"<tr><td>{escape(c)}</td><td class='num'>{int(m.confusion[i].sum())}</td>"
                   f"<td class='num'>{_pct(m.per_class_accuracy[i].item())}</td>"
                   f"<td class='num'>{_pct(m.iou[i].item())}</td></tr>" for i, c in enumerate(m.classes))
    params = sum(p.numel() for p in net.parameters())
    html = (
        "<h3>A U-Net trained in seconds</h3>"
        f"<p>{len(tr)} generated scenes ({tr.images.shape[-2]}x{tr.images.shape[-1]}: scikit-learn's digits "
        f"{', '.join(te.classes[1:])} pasted on offline textures, exact per-pixel labels) train a U-Net "
        f"(Ronneberger et al. 2015; {params:,} parameters, concatenated skips) for {len(hist.rows)} epochs through "
        "cnnlab's training engine: pixel-wise cross-entropy with median-frequency class weights (SegNet's), joint "
        f"flips of image and label. On {len(te)} new scenes: global accuracy <b>{_pct(m.global_accuracy)}</b>, "
        f"class average <b>{_pct(m.class_accuracy)}</b>, mIoU <b>{_pct(m.miou)}</b> (one confusion matrix over the "
        "split, the SegNet tutorial's definitions).</p>"
        "<p>The weights can be undone after training: a network trained with cross-entropy weighted by "
        "w<sub>c</sub> learns scores proportional to w<sub>c</sub> p(c|x), so subtracting log w<sub>c</sub> from its "
        "log-probabilities (post-hoc logit adjustment, Menon et al. 2021; <code>cnnlab eval-segmenter RUN "
        "--undo-weights 1</code>, or <code>auto</code> to choose how much on the val split) predicts as an unweighted "
        f"network would. On the same scenes: global accuracy {_pct(m.global_accuracy)} &rarr; "
        f"<b>{_pct(undone.global_accuracy)}</b>, class average {_pct(m.class_accuracy)} &rarr; "
        f"<b>{_pct(undone.class_accuracy)}</b>, mIoU {_pct(m.miou)} &rarr; <b>{_pct(undone.miou)}</b>.</p>"
        f'<img src="{examples}" alt="segmentation examples" style="max-width:620px">'
        f'<div class="grid"><img src="{bars}" alt="per-class IoU" style="max-width:520px">'
        "<table><tr><th>class</th><th>pixels</th><th>accuracy</th><th>IoU</th></tr>"
        f"{rows}</table></div>"
        "<p><code>cnnlab train-segmenter --recipe unet_lite0-camvid --data camvid:DIR --size 180x240 --out RUN"
        "</code> trains on CamVid road scenes (FCN, U-Net, SegNet-Basic, SegNet, DeepLabV3, LR-ASPP are "
        "registered); <code>cnnlab eval-segmenter RUN</code> and <code>cnnlab segment IMAGE --model RUN</code> "
        "use the result.</p>")
    return html, seconds


@functools.cache
def _upsampling_part() -> str:
    from cnnlab import data, segment

    img = data.sample_image("camera")[:, 96:224, 160:288]
    comp = segment.upsampling_comparison(img)
    pics = figure_to_data_uri(segment.upsampling_figure(comp))
    checker = figure_to_data_uri(segment.checkerboard_figure(comp))
    return (
        "<h3>How a decoder upsamples</h3>"
        "<p>The image is max-pooled 2x, then brought back: bilinear interpolation; a transposed convolution "
        "(kernel 4, stride 2) initialised to bilinear as FCN does; a transposed convolution with a random 3x3 kernel; "
        "max unpooling with the pooling indices, as SegNet's decoder does (each value goes back where its maximum "
        "was, zeros elsewhere).</p>"
        f'<img src="{pics}" alt="upsampling comparison" style="max-width:100%">'
        "<p>Why the random 3x3 transposed convolution is striped: with stride 2 a kernel of size 3 lands unevenly, "
        "so on a constant input output pixels receive 1, 2 or 4 kernel taps: a checkerboard (Odena, Dumoulin & Olah "
        "2016). A kernel of size 4 overlaps evenly away from the border.</p>"
        f'<img src="{checker}" alt="checkerboard of a transposed convolution" style="max-width:560px">')


def _weak_part(ctx: DemoContext) -> str:
    from cnnlab import segment

    card = getattr(ctx.model, "cnnlab", None)
    if card is None or card.weights is None or card.input_size[0] != 3:
        name = escape(ctx.model_name)
        return ("<h3>Segments from gradients</h3><p class='muted'>Skipped: segments from gradients need a classifier "
                f"pretrained on photos (RGB); the demo model {name} is not one. Run the demo with the default "
                "efficientnet_lite0.</p>")
    imgs = [ctx.images[n] for n in WEAK_IMAGES if n in ctx.images] or list(ctx.images.values())[:2]
    cards = ""
    try:
        heat = segment.attribution_heatmaps(ctx.model, imgs, method="gradcam")  # one map per image, two refinements
    except ValueError as exc:  # e.g. a checkpoint of fixed input size: the section says why and goes on
        return (f"<h3>Segments from gradients</h3><p class='muted'>Skipped for {escape(ctx.model_name)}: "
                f"{escape(str(exc).splitlines()[0])}</p>")
    for refine in ("grabcut", "threshold"):
        for s in (segment.segment_heatmap(h, refine=refine, threshold=0.3) for h in heat):
            # the segment in red over the image (background pixels keep the image), the box in yellow
            pic = segment.overlay(s.image, s.mask.long().where(s.mask, -1), [(0, 0, 0), (255, 59, 48)],
                                  alpha=0.45, ignore_index=-1)
            pic = segment.draw_box(pic, s.box)
            x1, y1, x2, y2 = (int(v) for v in s.box.tolist())
            cards += (f'<div class="card"><img src="{image_to_data_uri(pic)}" alt="segment"><b>{escape(s.label)}</b> '
                      f"({s.prob:.0%}), {refine}<br><span class='muted'>box {x1} {y1} {x2} {y2}, mask "
                      f"{s.mask.float().mean():.0%} of the image</span></div>")
    return (
        "<h3>Segments from gradients</h3>"
        f"<p>No pixel labels, no training: the Grad-CAM map of {escape(ctx.model_name)}'s predicted class seeds "
        "OpenCV's GrabCut (sure foreground above the map's 95% quantile, sure background below its 30% quantile, as "
        "Simonyan et al. 2014 did with saliency maps) or is simply thresholded at 30% of its maximum; the box (yellow) "
        "surrounds the largest connected component. <code>cnnlab segment-from-gradients IMAGE</code>; measured on the "
        "Raccoon photos in <code>benchmarks/bench_segment.py weak</code>.</p>"
        f'<div class="grid">{cards}</div>')


@register_section("segmentation", order=77)
def segmentation_section(ctx: DemoContext) -> Section:
    import torch

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        # 64x64 batches of a small U-Net gain little from threads on a busy 2-core CPU
        torch.set_num_threads(1)
        train_html, train_s = _train_part(1)
    finally:
        torch.set_num_threads(threads)
    body = (train_html + f'<p class="muted">trained and evaluated in {train_s:.1f} s</p>' + _upsampling_part()
            + _weak_part(ctx) + f'<p class="muted">{time.perf_counter() - t0:.1f} s</p>')
    return Section("Semantic segmentation", body)
