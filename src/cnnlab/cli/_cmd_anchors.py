"""cnnlab anchors: a detector's anchors at one location of an image, and its top region proposals."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("anchors", help="a detector's anchor grid at one location and its top proposals",
                       description="Draw the anchors (Faster / Mask R-CNN, RetinaNet), default boxes (SSD) or grid "
                       "cell (YOLO) of every feature map at one location of IMAGE, and the top region proposals "
                       "(the RPN's, or selective search's for R-CNN / Fast R-CNN). RUN is a detector run or a "
                       "detector name (untrained, pretrained backbone).")
    p.add_argument("run", help="detector run directory, or a detector name")
    p.add_argument("image", help="image file or sample:NAME")
    p.add_argument("--out", required=True, help="output directory (OUT/anchors-<image>.png)")
    p.add_argument("--point", type=float, nargs=2, default=None, metavar=("X", "Y"),
                   help="the location in image pixels (default: the centre)")
    p.add_argument("--proposals", type=int, default=20, help="how many top proposals to draw")
    p.add_argument("--json", action="store_true", help="print the boxes as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from cnnlab import data, detect
    from cnnlab._checks import check_int
    from cnnlab._plot import save_figure

    check_int("--proposals", args.proposals, 0)
    img = data.to_channels(data.image_from_spec(args.image), 3)
    if args.run in detect.DETECTORS:
        model = detect.create(args.run, num_classes=1).eval()
    else:
        model = detect.load_detector(args.run)
    if args.point is not None:
        x, y = args.point
        h, w = img.shape[-2:]
        if not (0 <= x <= w and 0 <= y <= h):
            raise ValueError(f"--point {x:g} {y:g} is outside the {w}x{h} image")
    view = detect.anchors_at(model, img, point=args.point, proposals=args.proposals)
    stem = Path(args.image.split(":", 1)[1] if args.image.startswith("sample:") else args.image).stem
    png = os.path.join(args.out, f"anchors-{stem}.png")
    save_figure(detect.anchors_figure(view, img, title=f"{model.card.name}: {args.image}"), png)
    if args.json:
        print(json.dumps({"kind": view.kind, "point": view.point, "total": view.total, "png": png,
                          "levels": [{"stride": s, "boxes": b.tolist()} for s, b in view.levels],
                          "proposals": view.proposals.tolist()}, indent=2))
        return 0
    for s, b in view.levels:
        sizes = ", ".join(f"{x2 - x1:.0f}x{y2 - y1:.0f}" for x1, y1, x2, y2 in b.tolist())
        print(f"stride {s}: {len(b)} {view.kind} ({sizes})")
    print(f"{view.total:,} {view.kind} over the image; {len(view.proposals)} proposals drawn; picture: {png}")
    return 0
