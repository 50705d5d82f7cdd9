"""Demo section: top-5 predictions for each photo, with probability bars."""

from __future__ import annotations

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri


def demo_predictions(ctx: DemoContext) -> dict[str, list]:
    """Top-5 predictions of every demo image, computed once and shared by the sections."""
    from cnnlab.models import predict

    if "predictions" not in ctx.cache:
        names = list(ctx.images)
        preds = predict(ctx.model, [ctx.images[n] for n in names], topk=5)
        ctx.cache["predictions"] = dict(zip(names, preds))
    return ctx.cache["predictions"]


@register_section("predictions", order=10)
def predictions_section(ctx: DemoContext) -> Section:
    preds = demo_predictions(ctx)
    cards = []
    for name, img in ctx.images.items():
        bars = "".join(
            f'<div class="barrow"><span class="barlabel" title="{escape(p.label)}">{escape(p.label)}</span>'
            f'<span class="bar" style="width:{max(1, round(p.prob * 110))}px"></span>'
            f"<span>{p.prob:.1%}</span></div>"
            for p in preds[name]
        )
        cards.append(
            f'<div class="card"><img src="{image_to_data_uri(img)}" alt="{escape(name)}">'
            f"<b>{escape(name)}</b> {tuple(img.shape[1:])}<br>{bars}</div>"
        )
    intro = (f"<p>Top-5 ImageNet classes from <code>{escape(ctx.model_name)}</code>; photos are resized and "
             "centre-cropped as the weights prescribe.</p>")
    return Section("Predictions", intro + '<div class="grid">' + "".join(cards) + "</div>")
