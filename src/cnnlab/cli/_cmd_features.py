"""cnnlab features: the feature maps of a layer for an image (and the first-layer kernels)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="feature maps of a layer for an image",
                       description="Feature maps of LAYER for IMAGE as one grid PNG; prints the most active "
                       "channels. --kernels also writes the first convolution's kernels.")
    p.add_argument("model", metavar="MODEL", help="registry name or checkpoint directory")
    p.add_argument("image", metavar="IMAGE", help="image file or sample:NAME")
    p.add_argument("--layer", default=None, help="dotted layer name (default: the last convolution)")
    p.add_argument("--out", default=None, help="grid PNG (default: features_LAYER.png)")
    p.add_argument("--max-maps", type=int, default=64, help="show at most this many channels")
    p.add_argument("--kernels", default=None, metavar="PNG", help="also write the first-layer kernels here")
    p.add_argument("--top", type=int, default=5, help="channels listed in the table")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, explain, models
    from cnnlab._format import table
    from cnnlab.report import save_image

    if args.max_maps < 1 or args.top < 1:
        raise ValueError(f"--max-maps and --top must be at least 1, got {args.max_maps} and {args.top}")
    img = data.image_from_spec(args.image)
    model = models.load(args.model, map_location=args.device)
    layer = args.layer or models.last_conv_name(model)
    x = models.preprocess(model, img)[None].to(args.device)
    maps = explain.feature_maps(model, x, layer)[0]
    if maps.dim() != 3:
        raise ValueError(f"layer {layer!r} gives shape {tuple(maps.shape)}, not feature maps (C, h, w)")
    path = save_image(explain.image_grid(maps[: args.max_maps].cpu()), args.out or f"features_{layer}.png",
                      min_side=512)  # small maps and kernels upscaled with nearest-neighbour, to be seen
    mean = maps.flatten(1).mean(1)
    top = mean.topk(min(args.top, len(mean)))
    print(f"layer {layer}: {maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}")
    print(table(["channel", "mean", "max"], [[int(i), f"{float(v):.4f}", f"{float(maps[i].max()):.4f}"]
                                             for v, i in zip(top.values, top.indices)]))
    print(f"grid: {path}")
    if args.kernels:
        print(f"kernels: {save_image(explain.kernel_grid(model), args.kernels, min_side=512)}")
    return 0
