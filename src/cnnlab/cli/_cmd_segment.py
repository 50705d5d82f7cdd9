"""cnnlab segment: label every pixel of your images with a trained segmenter; colour overlays and label PNGs."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="segment images with a trained segmenter (overlays, label PNGs)",
                       description="Label every pixel of each IMAGE (a file or sample:NAME) with a segmenter trained "
                       "by `cnnlab train-segmenter`; writes OUT/NAME-overlay.png (class colours over the image) and "
                       "OUT/NAME-labels.png (palette PNG: pixel value = class index) and prints the classes found.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", required=True, help="run (checkpoint) directory of a segmenter")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--size", default=None, help="the network sees HxW (default: the size it was trained at)")
    p.add_argument("--alpha", type=unit, default=0.5, help="opacity of the class colours in the overlay")
    p.add_argument("--hflip", action="store_true", help="flip test-time augmentation: average each image's class "
                   "probabilities with its mirror image's")
    p.add_argument("--undo-weights", type=unit, default=None, metavar="TAU", help="subtract TAU x log(class weight) "
                   "from the class log-probabilities (1 undoes the run's class weights; `eval-segmenter "
                   "--undo-weights auto` finds TAU on val)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def output_stems(specs: list[str]) -> list[str]:
    """One file-name stem per image spec (``sample:NAME`` -> NAME, a path -> its stem), made unique."""
    from pathlib import Path

    stems, seen = [], {}
    for s in specs:
        stem = s.split(":", 1)[1] if s.startswith("sample:") else Path(s).stem
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        stems.append(stem if n == 0 else f"{stem}-{n + 1}")
    return stems


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from cnnlab import data, segment
    from cnnlab._checks import check_number
    from cnnlab._format import percent, table
    from cnnlab.cli._cmd_train_segmenter import parse_hw

    check_number("--alpha", args.alpha, minimum=0, maximum=1)
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"no such segmenter run: {args.model!r}")
    images = [data.image_from_spec(s) for s in args.images]
    model = segment.load(args.model, map_location=args.device)
    adjustment = None
    if args.undo_weights is not None:
        adjustment = segment.undo_weights(segment.run_class_weights(args.model), args.undo_weights)
    results = segment.segment_images(model, images, size=parse_hw(args.size, "--size"), alpha=args.alpha,
                                     hflip=args.hflip, adjustment=adjustment)
    out = Path(args.out)
    docs, rows = [], []
    for spec, stem, r in zip(args.images, output_stems(args.images), results):
        ov = segment.save_png(r.overlay, out / f"{stem}-overlay.png")
        lab = segment.save_label_png(r.labels, r.palette, out / f"{stem}-labels.png")
        top = ", ".join(f"{c} {percent(f)}" for c, f in list(r.fractions.items())[:4])
        rows.append([spec, f"{r.image.shape[1]}x{r.image.shape[2]}", top, ov])
        docs.append({"image": spec, "overlay": ov, "labels": lab, "classes": r.legend()})
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0
    print(table(["image", "size", "classes (share of pixels)", "overlay"], rows))
    return 0
