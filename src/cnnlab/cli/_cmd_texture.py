"""cnnlab texture: synthesise a texture from the Gram matrices of an image (Gatys et al. 2015)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from cnnlab.cli._cmd_style import add_common

    p = sub.add_parser("texture", help="synthesise a texture from an image's Gram matrices",
                       description="Texture synthesis (Gatys, Ecker & Bethge 2015): noise optimised until its "
                       "feature correlations (Gram matrices) match those of STYLE; no spatial layout survives.")
    p.add_argument("style", metavar="STYLE", help="image file or sample:NAME")
    add_common(p)
    p.add_argument("--size", default="256", help="output side, or HxW (e.g. 192x256)")
    p.set_defaults(func=run)


def parse_hw(text: str) -> int | tuple[int, int]:
    parts = text.lower().split("x")
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        raise ValueError(f"--size must be an integer or HxW, got {text!r}") from None
    if len(vals) not in (1, 2):
        raise ValueError(f"--size must be an integer or HxW, got {text!r}")
    return vals[0] if len(vals) == 1 else (vals[0], vals[1])


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, models, style
    from cnnlab._progress import bar
    from cnnlab.cli._cmd_style import check_out, int_list, overrides, progress_printer, write_image

    out = check_out(args.out, [args.style])
    img = data.image_from_spec(args.style)
    model = models.load(args.model, map_location=args.device)
    kw = overrides(args)
    steps = int_list("--steps", args.steps)
    if not isinstance(steps, int):
        raise ValueError(f"--steps must be one integer for texture, got {args.steps!r}")
    with bar(steps, desc="texture", unit="step") as b:
        tex = style.texture(img, parse_hw(args.size), model=model, progress=progress_printer(args, b), **kw)
    print(f"texture {tex.shape[-2]}x{tex.shape[-1]} from {args.style}")
    print(f"image: {write_image(tex, out)}")
    return 0
