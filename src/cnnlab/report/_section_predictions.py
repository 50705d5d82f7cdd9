"""Demo section: top-5 predictions for each photo, with probability bars."""

from __future__ import annotations

from cnnlab.report._demo import DemoContext, is_trained, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri, note


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
    card = getattr(ctx.model, "cnnlab", None)
    size = "x".join(map(str, card.input_size[1:])) if card is not None else "its input size"
    crop = " and centre-cropped as the weights prescribe" if card is not None and card.resize_size else ""
    grey = " and made grey" if card is not None and card.input_size[0] == 1 else ""
    intro = (f"<p>Top-5 classes of {escape(ctx.description)}; each photo is resized to {size}{crop}{grey} "
             "(<code>cnnlab.models.predict</code>).</p>")
    if not is_trained(ctx.model):
        intro += note("This network has random weights: the classes and probabilities below are noise. Train it "
                      "(<code>cnnlab train</code>) or pass a checkpoint with <code>--model RUN</code>.")
    return Section("Predictions", intro + '<div class="grid">' + "".join(cards) + "</div>")
