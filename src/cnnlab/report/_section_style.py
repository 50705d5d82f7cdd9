"""Demo section: a sample photo painted in the style of an offline image, a texture synthesised from Gram matrices
alone, and a DeepDream of the photo; small sizes and few steps so that it takes well under a minute on a CPU."""

from __future__ import annotations

import time

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri, note

# quick settings (the CLI's defaults are larger): coarse-to-fine transfer, a small texture, three octaves
TRANSFER = {"size": (112, 224), "steps": (50, 50)}
TEXTURE = {"size": 128, "steps": 80, "style_scale": 2.0}
DREAM = {"octaves": 3, "steps": 8}


def _skimage(name: str):
    import skimage.data
    import torch

    return torch.from_numpy(getattr(skimage.data, name)().copy()).permute(2, 0, 1).float() / 255


def _applies(ctx: DemoContext) -> str | None:
    """Why the section cannot run on this model, or None."""
    from cnnlab import models

    card = getattr(ctx.model, "cnnlab", None)
    if not isinstance(card, models.ModelCard) or not card.features:
        return "the model records no feature maps"
    if card.input_size[0] != 3:
        return f"style transfer needs an RGB model; {ctx.model_name} takes {card.input_size[0]}-channel images"
    if min(card.input_size[1:]) < 64:
        return f"{ctx.model_name} is a small-input model ({card.input_size[1]}x{card.input_size[2]})"
    return None


def _total(steps) -> int:
    return steps if isinstance(steps, int) else sum(steps)


def _tile(img, caption: str, width: int = 240) -> str:
    return (f'<div style="display:inline-block;margin:3px;text-align:center;vertical-align:top">'
            f'<img src="{image_to_data_uri(img, max_side=width)}" style="width:{width}px"><br>'
            f"<small>{caption}</small></div>")


@register_section("style", order=78)
def style_section(ctx: DemoContext) -> Section:
    title = "Style transfer, textures and DeepDream"
    why = _applies(ctx)
    if why is not None:
        return Section(title, note(f"Skipped: {escape(why)}. Rerun with <code>--model efficientnet_lite0</code> "
                                   "(the default) to see this section."))
    import torch

    from cnnlab import explain, style

    t0 = time.perf_counter()
    name = "chelsea" if "chelsea" in ctx.images else next(iter(ctx.images))
    photo = style.as_rgb(ctx.images[name], name)
    ihc, retina = _skimage("immunohistochemistry"), _skimage("retina")
    painted = style.transfer(photo, ihc, model=ctx.model, **TRANSFER)
    t1 = time.perf_counter()
    tex = style.texture(retina, TEXTURE["size"], model=ctx.model, steps=TEXTURE["steps"],
                        style_scale=TEXTURE.get("style_scale", 1.0))
    t2 = time.perf_counter()
    small = torch.nn.functional.interpolate(photo[None], size=tuple(painted.shape[-2:]), mode="bicubic",
                                            antialias=True, align_corners=False)[0].clamp(0, 1)
    layer = explain.deepdream_layer(ctx.model)
    dream = explain.deepdream(ctx.model, small, layer=layer, **DREAM)
    t3 = time.perf_counter()
    weights = "" if getattr(ctx.model.cnnlab, "weights", None) else (
        " (random weights: the features are untrained, so expect noise-like textures)")
    body = (
        f"<p>Gatys et al.'s neural style transfer with <code>{escape(ctx.model_name)}</code>{escape(weights)} as the "
        "feature extractor instead of VGG-19 (offline): the photo's feature maps at a middle layer are kept while "
        "the Gram matrices (channel correlations, which discard the layout) of several layers are matched to the "
        "style image's. Texture synthesis matches the Gram matrices alone, starting from noise. DeepDream boosts "
        f"every activation of <code>{escape(layer)}</code> in the photo over {DREAM['octaves']} octaves.</p>"
        + '<div class="grid" style="display:block">'
        + _tile(photo, f"photo: {escape(name)}")
        + _tile(ihc, "style: immunohistochemistry stain (scikit-image)")
        + _tile(painted, f"transfer: {painted.shape[-1]}x{painted.shape[-2]}, {_total(TRANSFER['steps'])} L-BFGS "
                f"steps, {t1 - t0:.1f} s")
        + "</div><div class=\"grid\" style=\"display:block\">"
        + _tile(retina, "texture sample: retina (scikit-image)")
        + _tile(tex, f"synthesised texture: {TEXTURE['size']} px, {TEXTURE['steps']} steps, {t2 - t1:.1f} s")
        + _tile(dream, f"DeepDream of {escape(name)}, layer {escape(layer)}, {t3 - t2:.1f} s")
        + "</div>"
        "<p class=\"muted\">Quick demo settings (small images, few steps) so the section takes seconds on a CPU; "
        "<code>cnnlab style CONTENT STYLE --out out.png --size 512 --steps 300</code>, <code>cnnlab texture</code>, "
        "<code>cnnlab deepdream</code> and <code>cnnlab shape-bias</code> do the full versions "
        f"(docs/style.md).</p><p class=\"muted\">{time.perf_counter() - t0:.1f} s</p>"
    )
    return Section(title, body)
