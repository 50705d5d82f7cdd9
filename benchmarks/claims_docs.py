"""Write the measured parts of docs/claims.md and benchmarks/README.md from stored claim results.

Reads the ``bench_claims.json`` that ``bench_claims.py`` writes (``benchmarks/results/claims_quick/`` for the
quick setting, ``benchmarks/results/claims/`` for the full one) and replaces the text between the
``<!-- claims:... -->`` markers:

* docs/claims.md, ``claims:list``: every claim (quote, what is tested, rule, uncertainty, quick and full verdict),
  claim 3 listed as pending;
* benchmarks/README.md, ``claims:table``: the verdict table (claim, verdict, key numbers, seeds, wall / CPU s).

    python benchmarks/claims_docs.py [--quick JSON] [--full JSON]

Nothing is run; a claim without a stored result reads "not run yet".
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from cnnlab import experiments
from cnnlab._format import markdown_table
from cnnlab._io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> dict[str, dict]:
    """The claims of one ``bench_claims.json`` by id (empty when it does not exist)."""
    if not path.is_file():
        return {}
    return {c["claim"]: c for c in json.loads(path.read_text())["claims"]}


def _order(number: str) -> tuple[int, str]:
    m = re.match(r"(\d+)(.*)", number)
    return int(m.group(1)), m.group(2)


def _cpu(r: dict) -> str:
    return f"{r['cpu_seconds']:.0f}" if r.get("cpu_seconds") else "not recorded"


def claim_list(quick: dict, full: dict) -> str:
    entries = [(experiments.get_claim(n).number, n) for n in experiments.claim_names()]
    entries += [(k, None) for k in experiments.PENDING_CLAIMS]
    lines = []
    for number, name in sorted(entries, key=lambda e: _order(e[0])):
        if name is None:
            title, why = experiments.PENDING_CLAIMS[number]
            lines += [f"### {number}. {title}\n", f"**Pending, not registered yet:** {why}.\n"]
            continue
        c = experiments.get_claim(name)
        lines.append(f"### {c.number}. {c.title} (`{c.id}`)\n")
        lines += [f"> {q.text}  \n> — `{q.source}`\n" for q in c.quotes]
        lines.append(f"**Tested.** {c.tested}\n")
        lines.append(f"**Rule.** {c.rule} **Uncertainty:** {c.uncertainty}.\n")
        for label, res in (("quick", quick), ("full", full)):
            r = res.get(name)
            if r is None:
                lines.append(f"- **{label}:** not run yet")
            else:
                seeds = ",".join(map(str, r["seeds"])) or "-"
                why = "" if r["status"] == "supported" else f" {r['reason']}."
                cpu = f"{_cpu(r)} s CPU" if r.get("cpu_seconds") else "CPU time not recorded"
                lines.append(f"- **{label}:** **{r['status']}** —{why} Numbers: {r['key_numbers']} (seeds {seeds};"
                             f" {r['seconds']:.0f} s wall, {cpu})")
        lines.append("")
    return "\n".join(lines)


def verdict_table(results: dict) -> str:
    rows = []
    for r in sorted(results.values(), key=lambda r: _order(r["number"])):
        rows.append([f"{r['number']} `{r['claim']}`", f"**{r['status']}**", r["key_numbers"].replace("|", "\\|"),
                     ",".join(map(str, r["seeds"])) or "-", f"{r['seconds']:.0f}", _cpu(r)])
    return markdown_table(["claim", "verdict", "key numbers [95% interval]", "seeds", "wall s", "CPU s"], rows)


def replace(path: Path, marker: str, text: str) -> None:
    src = path.read_text()
    begin, end = f"<!-- claims:{marker} begin -->", f"<!-- claims:{marker} end -->"
    if begin not in src or end not in src:
        raise ValueError(f"{path}: markers {begin} / {end} not found")
    head, rest = src.split(begin, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, f"{head}{begin}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", default=str(ROOT / "benchmarks" / "results" / "claims_quick" / "bench_claims.json"))
    p.add_argument("--full", default=str(ROOT / "benchmarks" / "results" / "claims" / "bench_claims.json"))
    args = p.parse_args(argv)
    quick, full = load(Path(args.quick)), load(Path(args.full))
    replace(ROOT / "docs" / "claims.md", "list", claim_list(quick, full))
    missing = [n for n in experiments.claim_names() if n not in full]
    table = ["Full setting:\n", verdict_table(full) if full else "(none run yet)"]
    if missing:
        table.append(f"\nNot run in the full setting yet: {', '.join(missing)}.")
    table += ["\nQuick setting (`cnnlab claims --quick`):\n", verdict_table(quick)]
    replace(ROOT / "benchmarks" / "README.md", "table", "\n".join(table))


if __name__ == "__main__":
    main()
