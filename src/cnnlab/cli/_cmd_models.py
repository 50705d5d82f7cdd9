"""cnnlab models: the model registry as a table."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models",
                       description="List the registered models: family, input size, parameters, weights.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import models
    from cnnlab._format import table

    rows = models.model_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(["name", "family", "input", "params", "weights"],
                [[r["name"], r["family"], "x".join(map(str, r["input_size"])), f"{r['params']:,}",
                  ", ".join(r["weights"]) or "-"] for r in rows], align="lllrl"))
    return 0
