"""cnnlab claims: the course notes' claims run as experiments, with verdicts, plots and one HTML page."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="run the notes' claims as experiments and give each a verdict",
                       description="Each claim of the course notes is an experiment with a verdict (supported / "
                       "not supported / inconclusive) decided by a stated rule on 95 percent intervals. Writes one "
                       "JSON and one plot per claim, claims.json and claims.html to --out; prints the verdicts.")
    p.add_argument("claims", nargs="*", metavar="ID", help="claim ids or numbers (default: all; see --list)")
    p.add_argument("--quick", action="store_true", help="the quick settings (seconds to a minute each) instead "
                   "of the full ones (the benchmark's, hours on a CPU)")
    p.add_argument("--out", default="cnnlab-claims", help="output directory")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON (the measured numbers are in "
                   "the files)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--data-dir", default=None, help="folder of the data sets: Fashion-MNIST (if not in a standard "
                   "place) and texture-vs-shape/ (claim 3); default $CNNLAB_DATA")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy CPU)")
    p.set_defaults(func=run)


def _parts_table(results) -> str:
    from cnnlab._format import table

    rows = []
    for r in results:
        for i, p in enumerate(r.verdict.parts):
            rows.append([f"{r.number} {r.claim}" if i == 0 else "", r.status if i == 0 else "", p.name,
                         p.interval(), p.needs(), p.status, p.estimate.method])
    return table(["claim", "verdict", "part", "estimate [95% interval]", "needs", "part verdict", "interval over"],
                 rows, align="lllllll")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from cnnlab import experiments
    from cnnlab._format import table

    if args.list:
        rows = [[c.number, c.id, c.title] for c in map(experiments.get_claim, experiments.claim_names())]
        rows += [[k, "(pending)", f"{title} -- not registered yet: {why}"]
                 for k, (title, why) in experiments.PENDING_CLAIMS.items()]
        print(table(["#", "id", "claim"], rows, align="lll"))
        return 0
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    from cnnlab._device import resolve_device
    from cnnlab.report import claims_report

    resolve_device(args.device)
    names = [experiments.get_claim(n).id for n in args.claims]  # unknown ids fail before anything runs

    def progress(r) -> None:
        print(f"{r.number:>4} {r.claim}: {r.status} ({r.seconds:.0f} s, {r.cpu_seconds:.0f} s CPU)", file=sys.stderr,
              flush=True)

    ctx = experiments.ClaimContext(device=args.device, data_dir=args.data_dir)
    results, page = claims_report(names or None, quick=args.quick, out_dir=args.out, context=ctx,
                                  on_result=progress)
    if args.json:
        print(json.dumps([{k: v for k, v in r.to_json().items() if k != "numbers"} for r in results], indent=2))
        return 0
    print(_parts_table(results))
    counts = {s: sum(r.status == s for r in results) for s in (experiments.SUPPORTED, experiments.NOT_SUPPORTED,
                                                              experiments.INCONCLUSIVE)}
    print(f"{len(results)} claims ({'quick' if args.quick else 'full'} setting): "
          + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f"; {sum(r.seconds for r in results):.0f} s ({sum(r.cpu_seconds for r in results):.0f} s CPU)")
    print(f"page: {page}")
    return 0
