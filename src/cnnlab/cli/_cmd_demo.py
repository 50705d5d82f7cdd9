"""cnnlab demo: the main job on the embedded default, written as one HTML report."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job and write the HTML report",
                       description="Classify the sample photos with the pretrained EfficientNet-Lite0 (or any "
                       "registry model or checkpoint: --model) and write a self-contained HTML report (every "
                       "capability adds its section; what does not apply to the model is skipped with a note).")
    p.add_argument("--out", default="cnnlab-demo", help="output directory (default: cnnlab-demo)")
    p.add_argument("--model", default="efficientnet_lite0", help="registry name or checkpoint")
    p.add_argument("--images", nargs="+", default=None, metavar="IMAGE", help="sample names or image files")
    p.add_argument("--sections", nargs="+", default=None, metavar="NAME", help="only these report sections")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab._format import percent, table
    from cnnlab.report import run_demo

    res = run_demo(args.out, model=args.model, images=args.images, sections=args.sections, device=args.device)
    if res.predictions:
        rows = [[name, ps[0].label, percent(ps[0].prob), ps[1].label if len(ps) > 1 else ""]
                for name, ps in res.predictions.items()]
        print(table(["image", "top-1", "prob", "runner-up"], rows, align="llrl"))
    print("sections: " + ", ".join(f"{k} ({v:.1f}s)" for k, v in res.timings.items()))
    print(f"report: {res.path}")
    return 0
