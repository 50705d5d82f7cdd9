"""cnnlab detect: boxes on images from a trained detector (PNG with the boxes drawn, plus JSON)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect objects in images with a trained detector",
                       description="Run a `cnnlab train-detector` run on images (files or sample:NAME); writes "
                       "OUT/<image>.png with the boxes drawn and OUT/detections.json.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", required=True, help="detector run directory")
    p.add_argument("--score", type=float, default=0.5, help="keep detections with at least this score")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the detections as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from cnnlab import data, detect
    from cnnlab._checks import check_number
    from cnnlab._format import table
    from cnnlab._io import atomic_write_json

    check_number("--score", args.score, minimum=0, maximum=1)
    images = [data.to_channels(data.image_from_spec(s), 3) for s in args.images]  # all checked before the model
    model = detect.load_detector(args.model, map_location=args.device)
    doc, rows, used = [], [], set()
    for spec, img in zip(args.images, images):
        found, picture = detect.detect_image(model, img, score=args.score)
        stem = Path(spec.split(":", 1)[1] if spec.startswith("sample:") else spec).stem
        name, i = stem, 1
        while name in used:  # two images with one name: a.png, a-2.png
            i += 1
            name = f"{stem}-{i}"
        used.add(name)
        png = os.path.join(args.out, f"{name}.png")
        detect.save_png(picture, png)
        doc.append({"image": spec, "png": png, "size": list(img.shape[-2:]), "detections": found})
        rows += [[spec if j == 0 else "", d["class"], f"{d['score']:.3f}", " ".join(f"{v:.0f}" for v in d["box"])]
                 for j, d in enumerate(found)] or [[spec, "(nothing)", "", ""]]
    atomic_write_json(os.path.join(args.out, "detections.json"), doc)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(table(["image", "class", "score", "box x1 y1 x2 y2"], rows, align="llrl"))
    print(f"score >= {args.score}; pictures and detections.json in {args.out}")
    return 0
