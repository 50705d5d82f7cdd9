"""cnnlab eval-detector: COCO and VOC average precision of a trained detector, per class, with PR curves."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-detector", help="AP of a trained detector (COCO mAP, VOC AP, per class, PR curves)",
                       description="Evaluate a `cnnlab train-detector` run on a split of a detection data spec: COCO "
                       "mAP@[.5:.95] and mAP@0.5 (pycocotools), VOC AP@0.5 all-point and 11-point, per class, and a "
                       "PNG of the precision-recall curves.")
    p.add_argument("run", help="detector run directory")
    p.add_argument("--data", default=None, help="voc:DIR[:SPLIT] | coco:FILE | scenes... (default: the run's data)")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="the first N images only")
    p.add_argument("--png", default=None, help="precision-recall PNG (default RUN/pr-SPLIT.png)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from cnnlab import detect
    from cnnlab._format import percent as _percent
    from cnnlab._format import table

    def percent(v):
        return "-" if v is None or v != v else _percent(v)
    from cnnlab._plot import save_figure

    spec = args.data
    if spec is None:
        run_file = os.path.join(args.run, "run.json")
        detect.read_detector_meta(args.run)  # not a detector: that error first
        if not os.path.isfile(run_file):
            raise ValueError(f"{args.run!r} records no data spec (no run.json): pass --data")
        spec = json.load(open(run_file))["data"]
    model, data, r = detect.evaluate_run(args.run, spec, split=args.split, limit=args.limit, device=args.device)
    png = args.png or os.path.join(args.run, f"pr-{args.split}.png")
    save_figure(detect.pr_figure(r, title=f"{model.card.name} on {data.name}"), png)
    if args.json:
        print(json.dumps({**r.summary(), "data": data.name, "png": png}, indent=2))
        return 0
    rows = [[c, r.objects[c], percent(r.per_class_ap50[c]), percent(r.per_class_ap[c]), percent(r.voc_ap[c]),
             percent(r.voc_ap11[c])] for c in r.classes]
    rows.append(["mean", sum(r.objects.values()), percent(r.map50), percent(r.map), percent(r.voc_map),
                 percent(r.voc_map11)])
    print(table(["class", "objects", "AP@0.5", "AP@[.5:.95]", "VOC AP", "VOC AP 11pt"], rows, align="lrrrrr"))
    print(f"{model.card.name} on {data.name}: {r.images} images, {r.detections} detections, "
          f"{r.ms_per_image:.0f} ms/image; AP@0.5 and AP@[.5:.95] are COCO's (pycocotools), VOC AP is all-point; "
          f"precision-recall curves: {png}")
    return 0
