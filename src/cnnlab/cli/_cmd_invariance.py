"""cnnlab invariance: translation-equivariance per conv layer and output invariance curves."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "invariance", help="equivariance and invariance probes",
        description="Per conv layer of MODEL (registry name or checkpoint): the translation-equivariance error "
        "with zero and circular padding; then accuracy and agreement under translation, rotation and scale. "
        "Writes equivariance.csv / .png and invariance.csv / .png to --out.")
    p.add_argument("model", metavar="MODEL|CHECKPOINT")
    p.add_argument("--data", required=True, help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=positive_int, default=1000)
    p.add_argument("--shift", type=positive_int, default=4, help="pixels for the equivariance probe")
    p.add_argument("--out", default="invariance")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, models, robust
    from cnnlab._device import resolve_device
    from cnnlab._format import percent, table

    device = resolve_device(args.device, "--device")
    ds = data.load_dataset(args.data, args.split)
    model = models.load(args.model, map_location=device)
    res = robust.invariance_report(model, ds, limit=args.limit, shift=args.shift, out_dir=args.out)
    pads = list(res.equivariance[0].errors) if res.equivariance else []
    print(f"translation equivariance, shift {args.shift} px ({min(args.limit, 64)} images): relative error")
    print(table(["layer", "down", "feature shift"] + pads,
                [[r.layer, r.downsampling, "-" if r.feature_shift is None else r.feature_shift]
                 + [f"{r.errors[p]:.4f}" for p in pads] for r in res.equivariance], align="lrr" + "r" * len(pads)))
    print()
    print(f"output invariance ({min(args.limit, len(ds))} images)")
    print(table(["transform", "value", "accuracy", "agreement"],
                [[r["kind"], f"{r['value']:g}", percent(r["accuracy"]), percent(r["agreement"])] for r in res.curves],
                align="lrrr"))
    print(f"wrote {', '.join(str(f) for f in res.files)}")
    return 0
