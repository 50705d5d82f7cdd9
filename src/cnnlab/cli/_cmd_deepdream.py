"""cnnlab deepdream: amplify what a layer sees in a photo (Mordvintsev et al. 2015)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("deepdream", help="amplify a layer's activations in a photo (DeepDream)",
                       description="DeepDream: gradient ascent on IMAGE (a file or sample:NAME) to boost all the "
                       "activations of --layer, over octaves with jitter.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--layer", default=None, help="dotted module name (default: the model's middle feature map)")
    p.add_argument("--channel", type=int, default=None, help="boost only this channel of the layer")
    p.add_argument("--model", default="efficientnet_lite0", help="registry name or checkpoint")
    p.add_argument("--out", required=True, help="output image (.png or .jpg)")
    p.add_argument("--size", type=int, default=384, help="resize the photo's longer side to this first (0: keep)")
    p.add_argument("--octaves", type=int, default=4)
    p.add_argument("--octave-scale", type=float, default=1.4)
    p.add_argument("--steps", type=int, default=10, help="steps per octave")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--jitter", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch.nn.functional as F

    from cnnlab import data, explain, models
    from cnnlab._checks import check_int
    from cnnlab._progress import bar
    from cnnlab.cli._cmd_style import check_out, write_image

    out = check_out(args.out, [args.image])
    img = data.image_from_spec(args.image)
    model = models.load(args.model, map_location=args.device)
    img = data.to_channels(img, model.cnnlab.input_size[0])
    if check_int("--size", args.size, 0) and max(img.shape[-2:]) != args.size:
        s = args.size / max(img.shape[-2:])
        hw = (max(1, round(img.shape[-2] * s)), max(1, round(img.shape[-1] * s)))
        img = F.interpolate(img[None], size=hw, mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1)
    with bar(args.octaves * max(args.steps, 0), desc="deepdream", unit="step") as b:
        dream = explain.deepdream(model, img, layer=args.layer, channel=args.channel, octaves=args.octaves,
                                  octave_scale=args.octave_scale, steps=args.steps, lr=args.lr, jitter=args.jitter,
                                  seed=args.seed, progress=lambda done, total: b.update(1))
    layer = args.layer or explain.deepdream_layer(model)
    print(f"layer {layer}{'' if args.channel is None else f', channel {args.channel}'}: "
          f"{args.octaves} octaves x {args.steps} steps on {dream.shape[-2]}x{dream.shape[-1]}")
    print(f"image: {write_image(data.to_channels(dream, 3), out)}")
    return 0
