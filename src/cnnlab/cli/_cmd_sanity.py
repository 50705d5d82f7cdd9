"""cnnlab sanity: cascading-randomisation sanity checks of the explanation methods (Adebayo et al. 2018)."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sanity", help="do the explanations depend on the weights? (cascading randomisation)",
                       description="Re-initialise the layers of a copy of MODEL from the top, cumulatively, and "
                       "print the Spearman rank correlation of each method's map with the original one.")
    p.add_argument("model", metavar="MODEL", help="registry name or checkpoint directory")
    p.add_argument("image", metavar="IMAGE", help="image file or sample:NAME")
    p.add_argument("--methods", nargs="+", default=["saliency", "guided", "gradcam"])
    p.add_argument("--steps", type=positive_int, default=6, help="randomisation depths")
    p.add_argument("--out", default=None, help="also write the plot (PNG)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, explain, models
    from cnnlab._device import resolve_device
    from cnnlab._format import table

    for m in args.methods:
        try:
            explain.METHODS.lookup(m)
        except ValueError as exc:
            raise ValueError(f"--methods: {exc}") from None
    device = resolve_device(args.device, "--device")
    img = data.image_from_spec(args.image)
    model = models.load(args.model, map_location=device)
    x = models.prepare(model, [img]).to(device)
    opts = {"occlusion": {"window": max(1, x.shape[-1] // 7), "batch_size": 64}}
    res = explain.cascading_randomization(model, x, methods=args.methods, max_steps=args.steps, options=opts)
    print(table(["randomised down to", *res.methods], res.rows()))
    print("Spearman rank correlation of each method's map with the original one (1 = unchanged)")
    if args.out:
        from cnnlab._plot import save_figure

        save_figure(res.plot(), args.out)
        print(f"plot: {args.out}")
    return 0
