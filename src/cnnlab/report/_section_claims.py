"""The claims page (``cnnlab claims``: one self-contained HTML page with every claim's quote, test, rule,
verdict, numbers and plot) and the demo section with the quick verdicts of the fastest claims.

The demo must stay fast, so its section runs only the claims registered with ``demo=True`` (computed, not
trained: a few seconds together) in their quick setting, and lists every other claim with the command that runs
it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cnnlab.report._demo import DemoContext, register_section
from cnnlab.report._html import Report, Section, escape, figure_to_data_uri

COLOURS = {"supported": "#1b7f3b", "not supported": "#b3261e", "inconclusive": "#8a6d00"}
CSS = ("<style>.verdict{display:inline-block;padding:.1rem .5rem;border-radius:4px;color:#fff;font-weight:600;"
       "white-space:nowrap;font-size:.85rem}blockquote{margin:.4rem 0 .4rem 1rem;padding-left:.7rem;"
       "border-left:3px solid #ccc;color:#333}.src{color:#777;font-size:.8rem}"
       ".claimplot{max-width:100%;border:1px solid #eee}"
       "details{margin:.4rem 0}pre{white-space:pre-wrap;font-size:.8rem;background:#f7f7f7;padding:.5rem}</style>")


def verdict_badge(status: str) -> str:
    """A coloured label for a verdict."""
    return f'<span class="verdict" style="background:{COLOURS.get(status, "#555")}">{escape(status)}</span>'


def _plot_uri(result, claim) -> str:
    png = next((f for f in result.files if str(f).endswith(".png") and Path(f).is_file()), None)
    if png is not None:
        return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode()
    if claim.plot is None:
        return ""
    return figure_to_data_uri(claim.plot(result))


def claim_html(result) -> str:
    """The body of one claim: quotes, what is tested, the rule, the verdict with its parts, the plot, settings."""
    from cnnlab.experiments import get_claim

    claim = get_claim(result.claim)
    quotes = "".join(f"<blockquote>{escape(q.text)}<br><span class='src'>{escape(q.source)}</span></blockquote>"
                     for q in claim.quotes)
    rows = "".join(
        f"<tr><td>{escape(p.name)}</td><td class='num'>{escape(p.interval())}</td><td>{escape(p.needs())}</td>"
        f"<td>{escape(p.estimate.method)}</td><td>{verdict_badge(p.status)}</td></tr>" for p in result.verdict.parts)
    uri = _plot_uri(result, claim)
    plot = f'<p><img class="claimplot" src="{uri}" alt="{escape(claim.id)} plot"></p>' if uri else ""
    return (
        f"<p><b>{escape(claim.title)}.</b></p>"
        f"<p>{verdict_badge(result.status)} {escape(result.verdict.reason)}</p>{quotes}"
        f"<p><b>What is tested.</b> {escape(claim.tested)}</p>"
        f"<p><b>Rule.</b> {escape(claim.rule)} <b>Uncertainty:</b> {escape(claim.uncertainty)}.</p>"
        "<table><tr><th>part</th><th>estimate [95% interval]</th><th>needs</th><th>interval over</th>"
        f"<th>verdict</th></tr>{rows}</table>{plot}"
        f"<details><summary>{escape(result.setting)} setting, seeds "
        f"{escape(', '.join(map(str, result.seeds)) or 'none')}, {result.seconds:.1f} s "
        f"({result.cpu_seconds:.1f} s CPU)</summary>"
        f"<pre>{escape(json.dumps(result.settings, indent=1))}</pre></details>"
        f"<p class='muted'>Rerun: <code>cnnlab claims {escape(claim.id)}{' --quick' if result.quick else ''} "
        "--out DIR</code></p>")


def summary_table(results: Sequence, *, link: bool = True) -> str:
    """One row per claim: number, claim, verdict, key numbers."""
    rows = []
    for r in results:
        name = f'<a href="#claim-{escape(r.claim)}">{escape(r.claim)}</a>' if link else escape(r.claim)
        rows.append(f"<tr><td>{escape(r.number)}</td><td>{name}<br><span class='src'>{escape(r.title)}</span></td>"
                    f"<td>{verdict_badge(r.status)}</td><td style='font-size:.8rem'>{escape(r.key_numbers())}</td>"
                    f"<td class='num'>{r.seconds:.0f}</td></tr>")
    return ("<table><tr><th>#</th><th>claim</th><th>verdict</th><th>key numbers [95% interval]</th><th>s</th></tr>"
            + "".join(rows) + "</table>")


def claims_page(results: Sequence, *, title: str = "cnnlab claims") -> Report:
    """The HTML page of a claims run: the verdict table, then one section per claim."""
    settings = sorted({r.setting for r in results})
    counts = {s: sum(r.status == s for r in results) for s in COLOURS}
    sub = (f"{len(results)} claims of the course notes, {' / '.join(settings)} setting: "
           + ", ".join(f"{v} {k}" for k, v in counts.items()))
    report = Report(title, subtitle=sub)
    report.add(Section("Verdicts", CSS + "<p>Each claim quotes the notes (file in <code>shared/seeds/</code>), says "
                       "what exactly is measured where the note is imprecise, and decides by a stated rule on 95% "
                       "intervals: <i>supported</i> when the interval lies on the claimed side of the threshold, "
                       "<i>not supported</i> when it lies on the other side, <i>inconclusive</i> when it contains "
                       "it. Nothing was tuned to make a claim pass.</p>" + summary_table(results), anchor="verdicts"))
    for r in results:
        report.add(Section(f"{r.number} {r.claim}", claim_html(r), anchor=f"claim-{r.claim}"))
    return report


def claims_report(names: Sequence[str] | None = None, *, quick: bool = False,
                  out_dir: str | os.PathLike = "cnnlab-claims", context=None,
                  on_result: Callable | None = None) -> tuple[list, Path]:
    """Run claims (:func:`cnnlab.experiments.run_claims`, JSON and plots into ``out_dir``) and write
    ``out_dir/claims.html``; returns the results and the page's path."""
    from cnnlab.experiments import run_claims

    out = Path(out_dir)
    results = run_claims(names, quick=quick, context=context, out_dir=out, on_result=on_result)
    return results, claims_page(results).write(out / "claims.html")


@register_section("claims", order=90)
def claims_section(ctx: DemoContext) -> Section:
    from cnnlab.experiments import claim_names, get_claim, run_claim

    t0 = time.perf_counter()
    fast = [n for n in claim_names() if get_claim(n).demo]
    results = [run_claim(n, quick=True) for n in fast]
    body = [CSS, "<p>The notes' claims, each run as an experiment with a verdict from a stated rule on 95% "
                 "intervals (<code>cnnlab claims</code>, docs/claims.md). The report runs only the computed ones "
                 "(no training) in their quick setting; the others train networks and take from seconds to about a "
                 "minute of CPU time each: run them with the command shown.</p>", summary_table(results, link=False)]
    rest = [get_claim(n) for n in claim_names() if n not in fast]
    if rest:
        body.append("<h3>Not run in the demo</h3><table><tr><th>#</th><th>claim</th><th>command</th></tr>" + "".join(
            f"<tr><td>{escape(c.number)}</td><td>{escape(c.title)}</td><td style='white-space:nowrap'><code>cnnlab "
            f"claims {escape(c.id)} --quick --out DIR</code></td></tr>" for c in rest) + "</table>")
        body.append("<p><code>cnnlab claims --quick --out DIR</code> runs them all (about 6 minutes of CPU time "
                    "on one thread; longer on a busy machine); <code>python benchmarks/bench_claims.py</code> the "
                    "full settings (claim 3 reads Geirhos et al.'s stimuli from <code>--data-dir DIR</code>, the "
                    "folder holding <code>texture-vs-shape/</code>).</p>")
    for r in results:
        claim = get_claim(r.claim)
        if claim.plot is not None:
            body.append(f"<h3>{escape(r.number)}. {escape(r.title)} {verdict_badge(r.status)}</h3>"
                        f'<img class="claimplot" src="{figure_to_data_uri(claim.plot(r))}" alt="{escape(r.claim)}">')
    body.append(f"<p class='muted'>{time.perf_counter() - t0:.1f} s</p>")
    return Section("Claims of the notes", "".join(body))
