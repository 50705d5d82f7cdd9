"""Demo section: each photo beside its FGSM and PGD adversarial twins at a tiny epsilon, and the new class."""

from __future__ import annotations

from cnnlab.report._demo import DemoContext, is_trained, register_section
from cnnlab.report._html import Section, escape, image_to_data_uri, note

EPS = 1 / 255  # one grey level: invisible, and enough for most photos


@register_section("attacks", order=60)
def attacks_section(ctx: DemoContext) -> Section:
    import torch

    from cnnlab import robust

    names = list(ctx.images)
    imgs = [ctx.images[n] for n in names]
    fg = robust.attack_images(ctx.model, imgs, "fgsm", eps=EPS)
    pg = robust.attack_images(ctx.model, imgs, "pgd", eps=EPS, alpha=EPS / 2, steps=2,
                              generator=torch.Generator(ctx.device).manual_seed(0))

    def tile(img, caption: str) -> str:
        return (f'<div style="display:inline-block;margin:2px;text-align:center">'
                f'<img class="px" src="{image_to_data_uri(img, max_side=160, min_side=160)}" style="width:160px"><br>'
                f'<small>{caption}</small></div>')

    cards = []
    for name, f, p in zip(names, fg, pg):
        cards.append(
            f'<div class="card" style="width:auto"><b>{escape(name)}</b><br>'
            + tile(f.original, f"{escape(f.clean_class)} {f.clean_prob:.0%}")
            + tile(f.adversarial, f"FGSM: {escape(f.adv_class)} {f.adv_prob:.0%}" + (" ✗" if f.success else ""))
            + tile(p.adversarial, f"PGD-2: {escape(p.adv_class)} {p.adv_prob:.0%}" + (" ✗" if p.success else ""))
            + tile(robust.perturbation_image(p.perturbation), "PGD perturbation (amplified)")
            + "</div>")
    fooled_f, fooled_p = sum(r.success for r in fg), sum(r.success for r in pg)
    intro = (f"<p>Adversarial twins at L-inf epsilon = 1/255 (one grey level) on "
             f"{escape(ctx.description)}, at its input size: FGSM fools {fooled_f} of {len(fg)} photos, PGD with 2 "
             f"steps {fooled_p} of {len(pg)} (✗ = the class changed). The perturbation is scaled up to be "
             "visible; grey means unchanged. <code>cnnlab attack IMAGE --out DIR</code> writes the same "
             "images as PNGs.</p>")
    if not is_trained(ctx.model):
        intro += note("The network has random weights: a class it 'loses' was never learned, so these twins show the "
                      "mechanics of the attacks, not a robustness result.")
    return Section("Adversarial examples", intro + '<div class="grid">' + "".join(cards) + "</div>")
