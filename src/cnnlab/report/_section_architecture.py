"""Demo section: the architecture of the demo model, block by block, with conv / FC / other subtotals."""

from __future__ import annotations

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Section, escape


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@register_section("architecture", order=20)
def architecture_section(ctx: DemoContext) -> Section:
    from cnnlab.analysis import summarize
    from cnnlab.analysis._summary import _rf_cells

    size = tuple(getattr(getattr(ctx.model, "cnnlab", None), "input_size", (3, 224, 224)))
    s = summarize(ctx.model, size, depth=1)
    rows = [[r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}", f"{r.memory_kb:,.0f}",
             f"{r.flops / 1e6:,.1f}", *_rf_cells(r.rf)] for r in s.rows]
    kinds = [[k, v["layers"], f"{v['params']:,}", f"{v['params'] / max(s.total_params, 1):.0%}",
              f"{v['memory_bytes'] / 2**20:,.1f}", f"{v['flops'] / 1e6:,.0f}"] for k, v in s.by_kind.items()]
    intro = (f"<p><code>{escape(ctx.model_name)}</code> at {'x'.join(map(str, s.input_size))}: "
             f"{s.total_params:,} parameters ({s.param_bytes / 2**20:.1f} MB), {s.total_macs / 1e6:,.0f} M MACs "
             f"= {s.total_flops / 1e6:,.0f} MFLOPs (1 MAC = 2 FLOPs), forward activations "
             f"{s.activation_bytes / 2**20:.1f} MB, kept for backward in training {s.saved_bytes / 2**20:.1f} MB. "
             "Traced at the level of torch functions on the meta device (nothing computed); the receptive field "
             "is size / effective stride / centre of the first unit in input pixels. From "
             "<code>cnnlab summary</code> / <code>cnnlab.analysis.summarize</code>.</p>")
    body = (intro + "<h3>By layer kind</h3>"
            + _table(["kind", "layers", "params", "share", "memory MB", "MFLOPs"], kinds)
            + "<h3>Blocks</h3>"
            + _table(["block", "type", "output", "params", "memory KB", "MFLOPs", "RF size", "RF stride",
                      "RF start"], rows))
    return Section("Architecture", body)
