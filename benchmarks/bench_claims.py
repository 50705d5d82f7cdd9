"""Benchmark: every claim of the course notes in its full setting (``cnnlab.experiments.CLAIMS``).

Runs each claim's experiment with its full settings (the settings dataclass's defaults; ``--quick`` for the quick
ones) in one process with one shared :class:`cnnlab.experiments.ClaimContext` (networks several claims need are
trained once), and writes:

* under ``--raw`` (default ``runs/bench_claims`` / ``runs/bench_claims_quick``, not committed: raw per-image and
  per-seed numbers are megabytes): ``<id>.json`` and ``<id>.png`` per claim (numbers, settings, seeds, verdict;
  the plot), ``claims.json`` (every result) and ``claims.html`` (the page ``cnnlab claims`` writes);
* ``benchmarks/results/claims[_quick]/bench_claims.json`` (committed; ``benchmarks/make_results.py`` renders it
  into RESULTS.md and ``benchmarks/claims_docs.py`` into docs/claims.md): verdicts, reasons, key numbers, seeds,
  wall and CPU seconds, settings, and the machine. It is rewritten after every claim, so a stopped run keeps
  what it finished.

It prints the verdict table as markdown (claim, verdict, key numbers, seeds, seconds). ``--resume`` keeps a claim
whose raw ``<id>.json`` already holds a result of the same settings (a long run that was stopped continues where
it was); ``--no-run`` only collects the stored results (claims without one are listed as not run). The verdict
is recomputed from the stored numbers, so a changed rule needs no rerun.

    nice -n 10 python benchmarks/bench_claims.py --threads 1 [--resume] [--no-run] [--claims ID ...] [--quick]

Wall times on a shared CPU mean little; the CPU seconds (the process's own time) are the load-independent cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from _timing import machine

from cnnlab import experiments
from cnnlab._format import markdown_table
from cnnlab._io import atomic_write_json

HERE = Path(__file__).resolve().parent


def _load(path: Path, claim, settings) -> experiments.ClaimResult | None:
    if not path.is_file():
        return None
    try:
        r = experiments.ClaimResult.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError):
        return None
    if r.settings != claim.settings_json(settings):
        return None
    r.verdict = claim.verdict(r.numbers)  # the rule as it is now
    r.files = [f for f in (path, path.with_suffix(".png")) if f.is_file()]
    return r


def summary_doc(results: list, setting: str, not_run: list[str], device: str, seconds: float, ran: bool) -> dict:
    """The committed JSON: everything but the raw numbers. The load average is left out when nothing ran in this
    process (it would describe the collection, not the measurement)."""
    m = {**machine(device), "seconds_this_run": round(seconds, 1)}
    if not ran:
        m["load_average"] = None
    return {"setting": setting, "machine": m,
            "claims": [{"claim": r.claim, "number": r.number, "title": r.title, "status": r.status,
                        "reason": r.verdict.reason, "key_numbers": r.key_numbers(), "uncertainty": r.uncertainty(),
                        "seeds": r.seeds, "seconds": round(r.seconds, 1), "cpu_seconds": round(r.cpu_seconds, 1),
                        "settings": r.settings} for r in results],
            "not_run": not_run, "pending": sorted(experiments.PENDING_CLAIMS)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", nargs="*", default=None, metavar="ID", help="claim ids or numbers (default: all)")
    p.add_argument("--quick", action="store_true", help="the quick settings")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--resume", action="store_true", help="keep results already written with the same settings")
    p.add_argument("--no-run", action="store_true", help="run nothing: collect the stored results")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default="/work/shared/data",
                   help="folder of the data sets (texture-vs-shape/ for claim 3; default the shared data)")
    p.add_argument("--raw", default=None, help="folder of the raw results (default runs/bench_claims[_quick])")
    p.add_argument("--out", default=None, help="folder of bench_claims.json "
                                               "(default benchmarks/results/claims[_quick])")
    args = p.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    raw = Path(args.raw or HERE.parent / "runs" / f"bench_claims{suffix}")
    out = Path(args.out or HERE / "results" / f"claims{suffix}")
    torch.set_num_threads(args.threads)
    raw.mkdir(parents=True, exist_ok=True)
    names = [experiments.get_claim(n).id for n in args.claims] if args.claims else experiments.claim_names()
    ctx = experiments.ClaimContext(device=args.device, data_dir=args.data_dir)
    setting = "quick" if args.quick else "full"
    t_all = time.perf_counter()
    results, not_run, ran = [], [], False
    for i, name in enumerate(names):
        claim = experiments.get_claim(name)
        settings = claim.config(args.quick)
        r = _load(raw / f"{claim.id}.json", claim, settings) if (args.resume or args.no_run) else None
        if r is None and args.no_run:
            not_run.append(claim.id)
            continue
        how = "kept"
        if r is None:
            r = experiments.run_claim(claim.id, settings=settings, context=ctx, out_dir=raw)
            how = "ran"
        results.append(r)
        print(f"{r.number:>4} {r.claim}: {r.status} ({r.seconds:.0f} s, {r.cpu_seconds:.0f} s CPU, {how}; "
              f"load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        ran = ran or how == "ran"
        atomic_write_json(out / "bench_claims.json", summary_doc(results, setting, not_run + names[i + 1:],
                                                                  args.device, time.perf_counter() - t_all, ran))
    seconds = time.perf_counter() - t_all
    from cnnlab.report import claims_page

    atomic_write_json(raw / "claims.json", {"setting": setting, "claims": [r.to_json() for r in results]})
    page = claims_page(results, title=f"cnnlab claims ({setting} setting)").write(raw / "claims.html")
    summary = summary_doc(results, setting, not_run, args.device, seconds, ran)
    atomic_write_json(out / "bench_claims.json", summary)
    rows = [[f"{r.number} `{r.claim}`", f"**{r.status}**", r.key_numbers().replace("|", "\\|"),
             ",".join(map(str, r.seeds)) or "-", f"{r.seconds:.0f}", f"{r.cpu_seconds:.0f}" if r.cpu_seconds else "-"]
            for r in results]
    print(markdown_table(["claim", "verdict", "key numbers [95% interval]", "seeds", "wall s", "CPU s"], rows))
    wall, cpu = sum(r.seconds for r in results), sum(r.cpu_seconds for r in results)
    print(f"\n{len(results)} claims, {seconds:.0f} s this run (claims: {wall:.0f} s wall, {cpu:.0f} s CPU); "
          f"not run: {', '.join(not_run) or 'none'}; page: {page}")
    return summary


if __name__ == "__main__":
    main()
