"""cnnlab shape-bias: how much a classifier decides by shape rather than texture (Geirhos et al., ICLR 2019)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shape-bias", help="shape vs texture bias on Geirhos et al.'s cue-conflict images",
                       description="Shape bias = shape / (shape + texture) decisions over the cue-conflict images "
                       "(Geirhos et al., ICLR 2019), per class, plus 16-class accuracy on silhouettes and edges. "
                       "With the paper's raw-data folder the plot shows its CNNs and humans beside MODEL.")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registry names or checkpoints (ImageNet classifiers)")
    p.add_argument("--stimuli", required=True, metavar="DIR",
                   help="texture-vs-shape folder (or its stimuli/, or the cue-conflict folder)")
    p.add_argument("--raw-data", default=None, metavar="DIR",
                   help="the paper's raw-data folder (default: DIR/raw-data when it exists)")
    p.add_argument("--out", default=None, help="write the plot here (.png)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--max-per-class", type=int, default=None, help="only the first N images of each class")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from cnnlab import models, style
    from cnnlab._format import percent, table
    from cnnlab._plot import save_figure
    from cnnlab._progress import bar

    if args.out is not None and not str(args.out).lower().endswith(".png"):
        raise ValueError(f"--out must be a .png file, got {args.out!r}")
    style.find_stimuli(args.stimuli)  # a wrong layout fails before any model is loaded
    raw = Path(args.raw_data) if args.raw_data else None
    if raw is None:
        for cand in (Path(args.stimuli) / "raw-data", Path(args.stimuli).parent / "raw-data",
                     Path(args.stimuli).parent.parent / "raw-data"):
            if cand.is_dir():
                raw = cand
                break
    paper = style.paper_results(raw) if raw is not None else {}
    ours = []
    for spec in args.models:
        net = models.load(spec, map_location=args.device)
        with bar(None, desc=f"shape bias {spec}", unit="img") as b:
            ours.append(style.shape_bias(net, args.stimuli, max_per_class=args.max_per_class,
                                         batch_size=args.batch_size, progress=b.update, name=spec))
    results = ours + list(paper.values())
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        rows = [[r.name, percent(r.shape_bias), percent(r.shape_fraction), percent(r.texture_fraction),
                 percent(r.other_fraction), r.conflict_images, percent(r.silhouette_accuracy),
                 percent(r.edge_accuracy)] for r in results]
        print(table(["observer", "shape bias", "shape", "texture", "neither", "images", "silhouettes", "edges"],
                    rows))
        print("stimuli: the cue-conflict images as found in --stimuli (the shared copy is a JPEG re-encoding of the "
              "paper's PNGs; it moves the shape bias by under one point)")
    if args.out:
        fig = style.plot_shape_bias(results, title="Shape vs texture bias (Geirhos et al., ICLR 2019)",
                                    note="cnnlab models measured on the cue-conflict stimuli in --stimuli (JPEG "
                                    "re-encodings in the shared copy); paper observers from its raw decisions")
        path = save_figure(fig, args.out)
        if not args.json:
            print(f"plot: {path}")
    return 0
