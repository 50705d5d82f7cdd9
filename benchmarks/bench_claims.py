"""Benchmark: every claim of the course notes in its full setting (``cnnlab.experiments.CLAIMS``).

Runs each claim's experiment with its full settings (the settings dataclass's defaults; ``--quick`` for the quick
ones) in one process with one shared :class:`cnnlab.experiments.ClaimContext` (networks several claims need are
trained once), and writes, under ``--out`` (default ``benchmarks/results/claims``):

* ``<id>.json`` and ``<id>.png`` per claim (numbers, settings, seeds, verdict; the plot),
* ``claims.json`` (every result) and ``claims.html`` (the page ``cnnlab claims`` writes),
* ``summary.json``: verdicts, key numbers, seeds, seconds, and the machine (CPU count, load average before and
  after, torch version), without the raw numbers.

It prints the verdict table as markdown (claim, verdict, key numbers, seeds, seconds) for benchmarks/README.md.
``--resume`` keeps a claim whose ``<id>.json`` already holds a result of the same settings (a long run that was
stopped continues where it was). The verdict is recomputed from the stored numbers, so a changed rule needs no
rerun.

    nice -n 10 python benchmarks/bench_claims.py --threads 1 [--resume] [--claims ID ...] [--quick]

Wall times on a shared CPU mean little; what is timed is each claim's experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cnnlab import experiments
from cnnlab._format import markdown_table
from cnnlab._io import atomic_write_json


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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", nargs="*", default=None, metavar="ID", help="claim ids or numbers (default: all)")
    p.add_argument("--quick", action="store_true", help="the quick settings")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--resume", action="store_true", help="keep results already written with the same settings")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / ("claims-quick" if "--quick" in
                                                                               (argv or sys.argv) else "claims")))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [experiments.get_claim(n).id for n in args.claims] if args.claims else experiments.claim_names()
    ctx = experiments.ClaimContext(device=args.device)
    load_before = os.getloadavg()
    t_all = time.perf_counter()
    results = []
    for name in names:
        claim = experiments.get_claim(name)
        settings = claim.config(args.quick)
        r = _load(out / f"{claim.id}.json", claim, settings) if args.resume else None
        if r is None:
            r = experiments.run_claim(claim.id, settings=settings, context=ctx, out_dir=out)
            how = "ran"
        else:
            how = "kept"
        results.append(r)
        print(f"{r.number:>4} {r.claim}: {r.status} ({r.seconds:.0f} s, {r.cpu_seconds:.0f} s CPU, {how}; "
              f"load {os.getloadavg()[0]:.1f})",
              file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t_all
    from cnnlab.report import claims_page

    atomic_write_json(out / "claims.json", {"setting": "quick" if args.quick else "full",
                                            "claims": [r.to_json() for r in results]})
    page = claims_page(results, title=f"cnnlab claims ({'quick' if args.quick else 'full'} setting)").write(
        out / "claims.html")
    machine = {"cpus": os.cpu_count(), "threads": args.threads, "load_before": list(load_before),
               "load_after": list(os.getloadavg()), "torch": torch.__version__, "python": platform.python_version(),
               "platform": platform.platform(), "device": args.device, "seconds_this_run": round(seconds, 1)}
    summary = {"setting": "quick" if args.quick else "full", "machine": machine,
               "claims": [{"claim": r.claim, "number": r.number, "title": r.title, "status": r.status,
                           "reason": r.verdict.reason, "key_numbers": r.key_numbers(), "seeds": r.seeds,
                           "seconds": round(r.seconds, 1), "cpu_seconds": round(r.cpu_seconds, 1),
                           "settings": r.settings} for r in results]}
    atomic_write_json(out / "summary.json", summary)
    rows = [[f"{r.number} `{r.claim}`", f"**{r.status}**", r.key_numbers(), ",".join(map(str, r.seeds)) or "-",
             f"{r.seconds:.0f}", f"{r.cpu_seconds:.0f}" if r.cpu_seconds else "-"] for r in results]
    print(markdown_table(["claim", "verdict", "key numbers [95% interval]", "seeds", "wall s", "CPU s"], rows))
    wall, cpu = sum(r.seconds for r in results), sum(r.cpu_seconds for r in results)
    print(f"\n{len(results)} claims, {seconds:.0f} s this run (claims: {wall:.0f} s wall, {cpu:.0f} s CPU); "
          f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; page: {page}")
    return summary


if __name__ == "__main__":
    main()
