"""cnnlab features: the feature maps of a layer for an image (and the first-layer kernels)."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="feature maps of a layer for an image",
                       description="Feature maps of LAYER for IMAGE as one grid PNG; prints the most active "
                       "channels. --kernels also writes the first convolution's kernels.")
    p.add_argument("model", metavar="MODEL", help="registry name or checkpoint directory")
    p.add_argument("image", metavar="IMAGE", help="image file or sample:NAME")
    p.add_argument("--layer", default=None, help="dotted layer name (default: the deepest feature map the "
                   "model's card records)")
    p.add_argument("--out", default=None, help="grid PNG (default: features_LAYER.png)")
    p.add_argument("--max-maps", type=positive_int, default=64, help="show at most this many channels")
    p.add_argument("--kernels", default=None, metavar="PNG", help="also write the first-layer kernels here")
    p.add_argument("--top", type=positive_int, default=5, help="channels listed in the table")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, explain, models
    from cnnlab._device import resolve_device
    from cnnlab._format import table
    from cnnlab.report import save_image

    device = resolve_device(args.device, "--device")
    img = data.image_from_spec(args.image)
    model = models.load(args.model, map_location=device)
    try:
        layer = models.feature_layer(model, args.layer)
    except ValueError as exc:
        raise ValueError(f"--layer: {exc}") from None
    x = models.prepare(model, [img]).to(device)
    maps = explain.feature_maps(model, x, layer)[0]
    if maps.dim() != 3:
        feats = ", ".join(f.module for f in models.feature_info(model)) or "none recorded"
        raise ValueError(f"--layer {layer!r} gives shape {tuple(maps.shape)}, not feature maps (C, h, w); "
                         f"feature layers of this model: {feats}")
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
