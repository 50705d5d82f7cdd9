"""Demo section: an explanation gallery, each photo with its class and the methods side by side."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri

# (column title, method, options); guided Grad-CAM is formed from the guided and Grad-CAM maps already computed
COLUMNS = [
    ("saliency", "saliency", {}),
    ("deconvnet", "deconvnet", {}),
    ("guided backprop", "guided", {}),
    ("CAM", "cam", {}),
    ("Grad-CAM", "gradcam", {}),
    ("guided Grad-CAM", None, {}),
    ("occlusion 56/56", "occlusion", {"window": 56, "stride": 56, "batch_size": 56}),
]
_PERCENTILE = {"saliency": 99.0, "deconvnet": 99.0, "guided": 99.0, "guided Grad-CAM": 99.0}


@register_section("explanations", order=30)
def explanations_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import explain, models
    from cnnlab.report._section_predictions import demo_predictions

    preds = demo_predictions(ctx)
    names = list(ctx.images)
    x = torch.stack([models.preprocess(ctx.model, ctx.images[n]) for n in names]).to(ctx.device)
    target = torch.tensor([preds[n][0].index for n in names], device=x.device)
    maps, seconds = {}, {}
    for title, method, opts in COLUMNS:
        t0 = time.perf_counter()
        if method is None:
            maps[title] = maps["guided backprop"] * maps["Grad-CAM"]
        else:
            maps[title] = explain.explain(method, ctx.model, x, target, **opts)
        seconds[title] = time.perf_counter() - t0
    head = "<tr><th>photo</th>" + "".join(
        f"<th>{escape(t)}<br><span class='muted'>{seconds[t] * 1000:.0f} ms</span></th>" for t, _, _ in COLUMNS
    ) + "</tr>"
    rows = []
    for i, n in enumerate(names):
        cells = [f"<td><img src='{image_to_data_uri(x[i], max_side=150)}' width='150'><br><b>{escape(n)}</b>: "
                 f"{escape(preds[n][0].label)} ({preds[n][0].prob:.0%})</td>"]
        for title, _, _ in COLUMNS:
            heat = explain.normalize_maps(maps[title][i:i + 1].abs().amax(1, keepdim=True),
                                          percentile=_PERCENTILE.get(title))[0]
            cells.append(f"<td><img src='{image_to_data_uri(explain.overlay(x[i], heat), max_side=150)}' "
                         "width='150'></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    intro = (
        "<p>Why the network chose its top-1 class, seven ways, all in one batch of the photos at 224x224 "
        "(<code>cnnlab.explain</code>; time per method for the whole batch). Gradient maps (saliency, deconvnet, "
        "guided backprop and guided Grad-CAM) are scaled by their 99th percentile; CAM, Grad-CAM (at the last "
        "convolution) and occlusion (a 4x4 grid of 56-pixel grey patches) by their range. The ReLU rule of deconvnet "
        "and guided backprop acts on EfficientNet-Lite0's ReLU6 clamps. Maps that look like edge detectors "
        "deserve suspicion: <code>cnnlab sanity</code> checks whether they change when the weights are "
        "randomised (Adebayo et al. 2018).</p>"
    )
    return Section("Explanations", intro + f"<div style='overflow-x:auto'><table>{head}{''.join(rows)}</table>"
                   "</div>")
