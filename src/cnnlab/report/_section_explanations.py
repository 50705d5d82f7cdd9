"""Demo section: an explanation gallery, each photo with its class and the methods side by side.

It runs for any model: the occlusion window follows the input size, CAM is skipped (with a note) when the model's
card records no global-average pool before the classifier, and a method that does not apply to the model is
skipped with its reason instead of failing the report.
"""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri, note

# (column title, method, options); guided Grad-CAM is formed from the guided and Grad-CAM maps already computed;
# occlusion's window is set from the input size (a 4x4 grid of grey patches)
COLUMNS = [
    ("saliency", "saliency", {}),
    ("deconvnet", "deconvnet", {}),
    ("guided backprop", "guided", {}),
    ("CAM", "cam", {}),
    ("Grad-CAM", "gradcam", {}),
    ("guided Grad-CAM", None, {}),
    ("occlusion", "occlusion", {}),
]
_PERCENTILE = {"saliency": 99.0, "deconvnet": 99.0, "guided backprop": 99.0, "guided Grad-CAM": 99.0}
SHOW = 120  # display side in pixels: 8 columns fit a 1200-pixel page


def _skip_reason(ctx: DemoContext, method: str | None) -> str | None:
    card = getattr(ctx.model, "cnnlab", None)
    if method == "cam" and (card is None or card.pool is None):
        name = card.name if card is not None else "this model"
        return (f"CAM needs global average pooling right before the classifier (Zhou et al. 2016); {escape(name)} "
                "has none (its card records no <code>pool</code>), so its class activation map is not defined")
    return None


@register_section("explanations", order=30)
def explanations_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import explain, models
    from cnnlab.report._section_predictions import demo_predictions

    preds = demo_predictions(ctx)
    names = list(ctx.images)
    x = torch.stack([models.preprocess(ctx.model, ctx.images[n]) for n in names]).to(ctx.device)
    side = min(x.shape[-2:])
    window = max(1, side // 4)
    target = torch.tensor([preds[n][0].index for n in names], device=x.device)
    maps, seconds, skipped = {}, {}, {}
    for title, method, opts in COLUMNS:
        reason = _skip_reason(ctx, method)
        if method is None:
            need = [t for t in ("guided backprop", "Grad-CAM") if t not in maps]
            reason = f"needs {' and '.join(need)}" if need else None
        if reason is not None:
            skipped[title] = reason
            continue
        if method == "occlusion":
            opts = {"window": window, "stride": window, "batch_size": 64}
        t0 = time.perf_counter()
        try:
            maps[title] = (maps["guided backprop"] * maps["Grad-CAM"] if method is None
                           else explain.explain(method, ctx.model, x, target, **opts))
        except ValueError as exc:  # a method that does not apply to this model: say why, keep the report
            skipped[title] = escape(str(exc).splitlines()[0])
            continue
        seconds[title] = time.perf_counter() - t0
    shown = [t for t, _, _ in COLUMNS if t in maps]
    label = {"occlusion": f"occlusion {window}/{window}"}
    head = "<tr><th>photo</th>" + "".join(
        f"<th>{escape(label.get(t, t))}<br><span class='muted'>{seconds[t] * 1000:.0f} ms</span></th>" for t in shown
    ) + "</tr>"
    rows = []
    for i, n in enumerate(names):
        photo = image_to_data_uri(x[i], max_side=SHOW, min_side=SHOW)
        cells = [f"<td><img src='{photo}' width='{SHOW}'><br><b>{escape(n)}</b>: "
                 f"{escape(preds[n][0].label)} ({preds[n][0].prob:.0%})</td>"]
        for title in shown:
            heat = explain.normalize_maps(maps[title][i:i + 1].abs().amax(1, keepdim=True),
                                          percentile=_PERCENTILE.get(title))[0]
            uri = image_to_data_uri(explain.overlay(x[i], heat), max_side=SHOW, min_side=SHOW)
            cells.append(f"<td><img src='{uri}' width='{SHOW}'></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    relu6 = any(isinstance(m, torch.nn.ReLU6) for m in ctx.model.modules())
    size = "x".join(map(str, x.shape[-2:]))
    intro = (
        f"<p>Why {escape(ctx.description)} chose its top-1 class, {len(shown)} ways, all in one batch of the photos "
        f"at {size} (<code>cnnlab.explain</code>; time per method for the whole batch). Gradient maps (saliency, "
        "deconvnet, guided backprop and guided Grad-CAM) are scaled by their 99th percentile; CAM, Grad-CAM (at the "
        f"last feature map of the card) and occlusion (a 4x4 grid of {window}-pixel grey patches) by their range."
        + (" The ReLU rule of deconvnet and guided backprop acts on the network's ReLU6 clamps." if relu6 else "")
        + (f" Inputs smaller than {SHOW} pixels are shown enlarged without smoothing." if side < SHOW else "")
        + " Maps that look like edge detectors deserve suspicion: <code>cnnlab sanity</code> checks whether they "
        "change when the weights are randomised (Adebayo et al. 2018).</p>"
    )
    notes = "".join(note(f"<b>{escape(t)}</b> skipped: {r}.") for t, r in skipped.items())
    return Section("Explanations", intro + notes + f"<div style='overflow-x:auto'><table class='gallery'>{head}"
                   f"{''.join(rows)}</table></div>")
