"""cnnlab summary: per-layer shapes, parameters, memory, FLOPs and receptive fields of a model."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="layers, parameters, memory, FLOPs and receptive fields of a model",
                       description="Per-layer output shapes, parameters, activation memory, MACs/FLOPs "
                       "(1 MAC = 2 FLOPs) and receptive fields (size / effective stride / first centre), "
                       "with totals and conv / FC / other subtotals.")
    p.add_argument("model", metavar="MODEL|CHECKPOINT", help="registry name or checkpoint directory")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="input size, e.g. 3x224x224 (default: the model's own input size)")
    p.add_argument("--depth", type=nonneg_int, default=None, help="group layers below this module depth")
    p.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json"])
    p.set_defaults(func=run)


def parse_size(text: str, flag: str = "--input") -> tuple[int, ...]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; also ``NxCxHxW``."""
    parts = text.lower().split("x")
    try:
        size = tuple(int(v) for v in parts)
    except ValueError:
        size = ()
    if len(size) not in (3, 4) or min(size) < 1:
        raise ValueError(f"{flag} must look like 3x224x224 (positive C, H, W), got {text!r}")
    return size


def run(args: argparse.Namespace) -> int:
    from cnnlab import analysis, models

    size = parse_size(args.input) if args.input is not None else None
    spec = str(args.model)
    if spec in models.names():  # the architecture is enough: no weights needed
        model = models.create(spec).eval()
    else:
        model = models.load(spec)
    size = size or tuple(model.cnnlab.input_size)
    models.check_input_size(model, size[-3:], what="--input" if args.input else "input size")
    print(analysis.summarize(model, size, depth=args.depth).format(args.format))
    return 0
