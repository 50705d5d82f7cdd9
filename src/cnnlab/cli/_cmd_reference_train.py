"""cnnlab reference-train: train a small CNN built only from the NumPy reference layers on sklearn's digits."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive, positive_int, unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reference-train", help="train a NumPy reference CNN on 8x8 digits (SGD + momentum)",
                       description="Conv-ReLU-pool x2 + linear, built from cnnlab.reference layers only, trained "
                       "with SGD + momentum on scikit-learn's digits (75/25 split).")
    p.add_argument("--epochs", type=positive_int, default=12)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive, default=0.05)
    p.add_argument("--momentum", type=unit, default=0.9, help="in [0, 1)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab._format import percent, table
    from cnnlab.reference import DigitsConfig, train_digits

    if args.momentum >= 1:
        raise ValueError(f"--momentum must be in [0, 1), got {args.momentum:g}")
    r = train_digits(DigitsConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                  momentum=args.momentum, dtype=args.dtype, seed=args.seed))
    rows = [[e, f"{loss:.4f}", percent(tr), percent(te)] for e, loss, tr, te in r.history]
    print(table(["epoch", "loss", "train acc", "test acc"], rows))
    return 0
