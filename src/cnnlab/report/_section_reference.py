"""Demo section: the NumPy reference engine — the pretrained stem convolution recomputed in NumPy, the
gradient identities of a worked example, and sigmoid's vanishing gradients."""

from __future__ import annotations

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape, figure_to_data_uri, note


def _stem_check(ctx: DemoContext) -> str:
    """Recompute the model's first convolution on one photo with ``cnnlab.reference.conv2d`` (float64), or say
    why it cannot be."""
    import numpy as np
    import torch

    from cnnlab import reference as ref
    from cnnlab.models import preprocess

    conv = next((m for m in ctx.model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if not ctx.images:
        return note("The first-convolution check is skipped: no photos were given.")
    if conv is None:
        return note("The first-convolution check is skipped: the model has no nn.Conv2d.")
    if conv.groups != 1:
        return note(f"The first-convolution check is skipped: the model's first convolution has {conv.groups} groups "
                    "(the check recomputes an ungrouped one).")
    name = next(iter(ctx.images))
    normalize = getattr(ctx.model, "normalize", None)
    with torch.no_grad():
        x = preprocess(ctx.model, ctx.images[name])[None].to(conv.weight.device)
        x = normalize(x) if normalize is not None else x
        theirs = conv(x).cpu().numpy()
    # TensorFlow-style SAME convolutions pad at run time (padding=0 on the module); the others say their padding
    padding = "same" if type(conv).__name__ == "Conv2dSame" else (
        conv.padding if isinstance(conv.padding, str) else tuple(conv.padding))
    w = conv.weight.detach().cpu().numpy().astype(np.float64)
    b = None if conv.bias is None else conv.bias.detach().cpu().numpy().astype(np.float64)
    ours = ref.conv2d(x.cpu().numpy().astype(np.float64), w, b, stride=tuple(conv.stride), padding=padding,
                      dilation=tuple(conv.dilation))
    if ours.shape != theirs.shape:
        return note(f"The first-convolution check is skipped: the reference gives {ours.shape} where the model's "
                    f"convolution gives {theirs.shape} (padding {escape(str(padding))}).")
    diff = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-12))
    return (f"<p>The model's first convolution ({tuple(w.shape)}, stride {tuple(conv.stride)}, padding "
            f"{escape(str(padding))}) recomputed in NumPy on <b>{escape(name)}</b>: output {ours.shape}, max "
            f"|difference| relative to the largest activation {diff:.1e} (torch float32 against the float64 "
            "reference).</p>")


@register_section("reference", order=80)
def reference_section(ctx: DemoContext) -> Section:
    from cnnlab import reference as ref

    demo = ref.conv_demo(mode="same", stride=2)
    rows = "".join(f"<tr><td>{escape(i.name)}</td><td><code>{escape(i.formula)}</code></td>"
                   f"<td><code>{escape(i.check)}</code></td><td>{i.max_abs_error:.1e}</td></tr>"
                   for i in demo.identities)
    identities = ("<p>A 5x5 integer image, 3x3 kernel, 'same' padding, stride 2 "
                  "(<code>cnnlab conv-demo --mode same --stride 2</code>): each gradient computed with the engine's "
                  "<code>cross_correlate</code> / <code>full_convolve</code> equals the same quantity from the "
                  "convolution written as a matrix <code>M</code> (x &rarr; y) or <code>A</code> (w &rarr; y).</p>"
                  "<table><tr><th>identity</th><th>computed as</th><th>equals</th><th>max |error|</th></tr>"
                  f"{rows}</table>")
    sat = ref.saturation_demo()
    fig = ref.plot_saturation(sat)
    saturation = (f"<p>One upstream gradient through {sat.config.depth} conv layers (same weights): the first layer "
                  f"receives {sat.decay('sigmoid'):.1e} of the last layer's gradient norm with sigmoid and "
                  f"{sat.decay('relu'):.2g}x with ReLU.</p><img src=\"{figure_to_data_uri(fig)}\" "
                  f"alt=\"gradient norm per layer\">")
    return Section("NumPy reference engine", _stem_check(ctx) + identities + saturation)
