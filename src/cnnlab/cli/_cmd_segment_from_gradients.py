"""cnnlab segment-from-gradients: segments and boxes of the predicted class from a classifier's explanation maps
(Grad-CAM, saliency, guided backprop) refined by GrabCut; no training, no labels."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int, unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment-from-gradients", help="segments and boxes from a classifier's gradients (GrabCut)",
                       description="Weakly supervised segmentation (Simonyan et al. 2014): the explanation map of "
                       "the predicted class seeds OpenCV's GrabCut (or is thresholded); the box surrounds the largest "
                       "connected component. IMAGE is a file or sample:NAME. Writes OUT/NAME-segment.png (box, map, "
                       "segment) and OUT/NAME-mask.png.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default="efficientnet_lite0", help="classifier: registry name or checkpoint")
    p.add_argument("--method", default="gradcam", help="explanation method: gradcam | saliency | guided | ...")
    p.add_argument("--refine", default="grabcut", choices=["grabcut", "threshold"])
    p.add_argument("--threshold", type=unit, default=0.3, help="share of the map's maximum (mask, or GrabCut's "
                   "probable foreground)")
    p.add_argument("--target", default=None, help="class index or name (default: the prediction)")
    p.add_argument("--size", type=positive_int, default=224, help="shorter side the classifier sees")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from cnnlab import data, explain, models, segment
    from cnnlab._plot import save_figure
    from cnnlab.cli._cmd_explain import parse_target
    from cnnlab.cli._cmd_segment import output_stems

    explain.METHODS.lookup(args.method)
    images = [data.image_from_spec(s) for s in args.images]
    model = models.load(args.model, map_location=args.device)
    target = parse_target(args.target, model.cnnlab.classes)
    segs = segment.from_attribution(model, images, method=args.method, refine=args.refine,
                                    threshold=args.threshold, target=target, size=args.size)
    out = Path(args.out)
    docs = []
    for spec, stem, s in zip(args.images, output_stems(args.images), segs):
        fig = save_figure(segment.segment_figure([s]), out / f"{stem}-segment.png")
        mask = segment.save_png(s.mask.float(), out / f"{stem}-mask.png")
        docs.append({"image": spec, "class": s.label, "index": s.index, "prob": round(s.prob, 4),
                     "box": [round(v, 1) for v in s.box.tolist()], "found": s.found,
                     "mask_fraction": round(float(s.mask.float().mean()), 4), "figure": str(fig), "mask": mask})
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0
    from cnnlab._format import percent, table

    print(table(["image", "class", "prob", "box x1 y1 x2 y2", "mask", "figure"],
                [[d["image"], d["class"], f"{d['prob']:.3f}", " ".join(f"{v:.0f}" for v in d["box"]),
                  percent(d["mask_fraction"]), d["figure"]] for d in docs]))
    return 0
