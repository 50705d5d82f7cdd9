"""cnnlab style: paint a photo in the style of one or more images (neural style transfer, Gatys et al. 2016)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def int_list(flag: str, text: str) -> int | tuple[int, ...]:
    """``"256"`` -> 256, ``"128,256"`` -> (128, 256)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} must be an integer or a comma-separated list of integers, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def check_out(path: str, inputs: list[str]) -> Path:
    """The output image path: a .png/.jpg file that is none of the inputs (never overwrite what the user made)."""
    out = Path(path)
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"--out must be a .png or .jpg file, got {path!r}")
    if out.is_dir():
        raise ValueError(f"--out {path!r} is a directory; name an image file")
    for spec in inputs:
        if not spec.startswith("sample:") and os.path.exists(spec) and out.exists() and out.samefile(spec):
            raise ValueError(f"--out {path!r} is one of the input images; choose another file")
    return out


def write_image(img, path: str | os.PathLike) -> Path:
    """Save ``Tensor[3, H, W]`` in [0, 1] (PNG or JPEG by suffix) atomically."""
    import io

    import numpy as np
    from PIL import Image

    from cnnlab._io import atomic_write_bytes

    arr = (img.detach().float().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    fmt = "JPEG" if Path(path).suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return atomic_write_bytes(path, buf.getvalue())


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``style`` and ``texture``."""
    p.add_argument("--out", required=True, help="output image (.png or .jpg)")
    p.add_argument("--model", default="efficientnet_lite0", help="feature extractor: registry name or checkpoint")
    p.add_argument("--steps", default="300", help="optimisation steps (one per size of a coarse-to-fine --size)")
    p.add_argument("--beta", type=float, default=None, help="style weight (default: the preset's)")
    p.add_argument("--tv-weight", type=float, default=None, help="total-variation weight (default: the preset's)")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--lr", type=float, default=None, help="step size (default: 1 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--style-layers", default=None, help="comma-separated module names (default: the model's)")
    p.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the output")
    p.add_argument("--smoothing", choices=("softmax",), default=None,
                   help="activation smoothing before the losses (Wang et al. 2021)")
    p.add_argument("--snapshots", default=None, metavar="DIR", help="save intermediate images here")
    p.add_argument("--snapshot-every", type=int, default=50, help="steps between snapshots (with --snapshots)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("style", help="paint a photo in the style of one or more images",
                       description="Neural style transfer (Gatys et al. 2016) with a cnnlab model as the feature "
                       "extractor (offline: EfficientNet-Lite0's ImageNet weights). CONTENT and STYLE are image "
                       "files or sample:NAME; several styles are blended (--style-weights).")
    p.add_argument("content", metavar="CONTENT")
    p.add_argument("styles", nargs="+", metavar="STYLE")
    add_common(p)
    p.add_argument("--size", default="256", help="the output's longer side; '128,256' runs coarse-to-fine")
    p.add_argument("--alpha", type=float, default=None, help="content weight (default: the preset's)")
    p.add_argument("--style-weights", default=None, help="comma-separated blend weights, one per STYLE")
    p.add_argument("--content-layers", default=None, help="comma-separated module names (default: the model's)")
    p.add_argument("--init", choices=("content", "noise", "style", "recolored"), default="content",
                   help="starting image; recolored: the photo with the style's colour mean and covariance")
    p.add_argument("--preserve-color", action="store_true",
                   help="luminance-only transfer: keep the photo's colours (neural-style's -original_colors)")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict:
    """The TransferConfig fields the options set (None: keep the preset)."""
    out = {"steps": int_list("--steps", args.steps), "optimizer": args.optimizer, "lr": args.lr,
           "style_scale": args.style_scale, "smoothing": args.smoothing, "seed": args.seed}
    for key in ("beta", "tv_weight", "alpha"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    for key in ("style_layers", "content_layers"):
        if getattr(args, key, None):
            out[key] = tuple(n.strip() for n in getattr(args, key).split(",") if n.strip())
    if args.snapshots:
        from cnnlab._checks import check_int

        out["snapshot_every"] = check_int("--snapshot-every", args.snapshot_every)
    return out


def progress_printer(args: argparse.Namespace, bar):
    """A progress callback: advance the bar, save snapshots."""

    def report(p) -> None:
        bar.update(1)
        bar.set_postfix_str(f"loss {p.losses['total']:.3g}")
        if args.snapshots and p.image is not None:
            write_image(p.image, Path(args.snapshots) / f"step_{p.step:05d}.png")

    return report


def run(args: argparse.Namespace) -> int:
    import torch

    from cnnlab import data, models, style
    from cnnlab._progress import bar

    out = check_out(args.out, [args.content, *args.styles])
    content = data.image_from_spec(args.content)
    styles = [data.image_from_spec(s) for s in args.styles]
    weights = None
    if args.style_weights:
        try:
            weights = [float(v) for v in args.style_weights.split(",")]
        except ValueError:
            raise ValueError(f"--style-weights must be comma-separated numbers, got {args.style_weights!r}") from None
    model = models.load(args.model, map_location=args.device)
    cfg = style.TransferConfig(size=int_list("--size", args.size), init=args.init,
                               preserve_color=args.preserve_color, **overrides(args))
    torch.manual_seed(args.seed)
    with bar(sum(cfg.steps_per_size()), desc="style", unit="step") as b:
        result = style.stylize(content, styles, model=model, config=cfg, style_weights=weights,
                               progress=progress_printer(args, b))
    path = write_image(result.image, out)
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
    print(f"{len(result.history)} steps in {result.seconds:.1f} s ({losses})")
    print(f"content layers: {', '.join(result.content_layers)}; style layers: {', '.join(result.style_layers)}")
    print(f"image: {path}")
    return 0
