"""cnnlab explain: attribution maps of images, written as overlays."""

from __future__ import annotations

import argparse

METHODS = ("saliency", "deconvnet", "guided", "cam", "gradcam", "guided-gradcam", "occlusion")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a classification with saliency, Grad-CAM, occlusion, ...",
                       description="Attribution maps of images, written as PNG overlays (IMAGE_METHOD.png) in "
                       "--out; prints the explained class. IMAGE is a file or sample:NAME.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--method", default="gradcam", choices=METHODS)
    p.add_argument("--model", default="efficientnet_lite0", help="registry name or checkpoint directory")
    p.add_argument("--layer", default=None, help="layer for cam / gradcam / guided-gradcam (dotted name; "
                   "default: the last convolution)")
    p.add_argument("--target", default=None, help="class index or name to explain (default: the prediction)")
    p.add_argument("--window", type=int, default=None, help="occlusion window (default: image size / 8)")
    p.add_argument("--stride", type=int, default=None, help="occlusion stride (default: window / 2)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def parse_target(spec: str | None, classes: list[str] | None) -> int | None:
    """A class index, or a class name of the model."""
    if spec is None:
        return None
    if spec.lstrip("-").isdigit():
        return int(spec)
    if classes and spec in classes:
        return classes.index(spec)
    raise ValueError(f"--target must be a class index or one of the model's class names, got {spec!r}")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnlab import data, explain, models
    from cnnlab._format import table
    from cnnlab.report import save_image

    imgs = [data.image_from_spec(s) for s in args.images]
    model = models.load(args.model, map_location=args.device)
    target = parse_target(args.target, model.cnnlab.classes)
    options = {}
    if args.layer is not None:
        if explain.METHODS.info(args.method)["kind"] != "layer" and args.method != "guided-gradcam":
            raise ValueError(f"--layer applies to cam, gradcam and guided-gradcam, not {args.method}")
        options["layer"] = args.layer
    if args.method == "occlusion":
        window = args.window or max(1, model.cnnlab.input_size[-1] // 8)
        options.update(window=window, stride=args.stride or max(1, window // 2), batch_size=64)
    results = explain.explain_images(model, imgs, args.method, target, **options)
    out = Path(args.out)
    rows = []
    for spec, res in zip(args.images, results):
        stem = spec.split(":", 1)[1] if spec.startswith("sample:") else Path(spec).stem
        path = save_image(res.overlay, out / f"{stem}_{args.method}.png")
        rows.append([spec, res.label, res.index, f"{res.prob:.3f}", str(path)])
    print(table(["image", "class", "index", "prob", "overlay"], rows, align="llrrl"))
    return 0
