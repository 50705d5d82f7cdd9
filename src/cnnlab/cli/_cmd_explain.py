"""cnnlab explain: attribution maps of images, written as overlays."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int

METHODS = ("saliency", "deconvnet", "guided", "cam", "gradcam", "guided-gradcam", "occlusion")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain a classification with saliency, Grad-CAM, occlusion, ...",
                       description="Attribution maps of images, written as PNG overlays (IMAGE_METHOD.png) in "
                       "--out; prints the explained class. IMAGE is a file or sample:NAME.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--method", default="gradcam", choices=METHODS)
    p.add_argument("--model", default="efficientnet_lite0", help="registry name or checkpoint directory")
    p.add_argument("--layer", default=None, help="feature layer for cam / gradcam / guided-gradcam (dotted name; "
                   "default: the deepest feature map the model's card records)")
    p.add_argument("--target", default=None, help="class index or name to explain (default: the prediction)")
    p.add_argument("--window", type=positive_int, default=None, help="occlusion window (default: image size / 8)")
    p.add_argument("--stride", type=positive_int, default=None, help="occlusion stride (default: window / 2)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def parse_target(spec: str | None, model, flag: str = "--target") -> int | None:
    """A class index or a class name of ``model``, checked against its class count; errors name ``flag``."""
    from cnnlab import models

    if spec is None:
        return None
    classes = models.card_of(model).classes
    if spec.lstrip("-").isdigit():
        return models.check_class(model, int(spec), name=flag)
    if classes and spec in classes:
        return classes.index(spec)
    named = " or one of the model's class names" if classes else " (this model's classes have no names)"
    raise ValueError(f"{flag} must be a class index{named}, got {spec!r}")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnlab import data, explain, models
    from cnnlab._device import resolve_device
    from cnnlab._format import percent, table
    from cnnlab.report import save_image

    device = resolve_device(args.device, "--device")
    if (args.window is not None or args.stride is not None) and args.method != "occlusion":
        raise ValueError(f"--window and --stride apply to occlusion, not {args.method}")
    if args.layer is not None and args.method not in ("cam", "gradcam", "guided-gradcam"):
        raise ValueError(f"--layer applies to cam, gradcam and guided-gradcam, not {args.method}")
    imgs = [data.image_from_spec(s) for s in args.images]
    model = models.load(args.model, map_location=device)
    target = parse_target(args.target, model)
    options = {}
    if args.layer is not None:
        try:
            model.get_submodule(args.layer)
        except AttributeError:
            feats = ", ".join(f.module for f in models.feature_info(model)) or "none recorded"
            raise ValueError(f"--layer {args.layer!r} is no layer of model {models.card_of(model).name!r} "
                             f"(its feature layers: {feats})") from None
        options["layer"] = args.layer
    if args.method == "occlusion":
        c, h, w = model.cnnlab.input_size
        window = args.window or max(1, min(h, w) // 8)
        stride = args.stride or max(1, window // 2)
        if window > min(h, w):
            raise ValueError(f"--window {window} is larger than the {h}x{w} image the model sees")
        if stride > window:
            raise ValueError(f"--stride {stride} is larger than --window {window}: pixels between the windows "
                             "would get no attribution")
        options.update(window=window, stride=stride, batch_size=64)
    results = explain.explain_images(model, imgs, args.method, target, **options)
    out = Path(args.out)
    rows = []
    for spec, res in zip(args.images, results):
        stem = spec.split(":", 1)[1] if spec.startswith("sample:") else Path(spec).stem
        path = save_image(res.overlay, out / f"{stem}_{args.method}.png")
        rows.append([spec, res.label, res.index, percent(res.prob), str(path)])
    print(table(["image", "class", "index", "prob", "overlay"], rows, align="llrrl"))
    return 0
