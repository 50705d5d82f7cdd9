"""cnnlab import: a state dict trained elsewhere becomes a cnnlab checkpoint (predict, explain, attack, ...)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="import a state dict of a cnnlab or torchvision architecture as a checkpoint",
        description="Load WEIGHTS (a state dict: .pth / .pt / .bin read with torch.load(weights_only=True), or "
        ".safetensors; pickled code is never run) into ARCH, a cnnlab registry name or a torchvision "
        "classification architecture (torchvision:NAME where both have the name), check that it fits exactly, "
        "and write the checkpoint directory --out. Then: cnnlab predict --model RUN, explain, attack, summary, "
        "demo --model RUN.")
    p.add_argument("arch", metavar="ARCH", help="e.g. lenet5, resnet_small, mobilenet_v3_small, "
                   "torchvision:resnet18")
    p.add_argument("weights", metavar="WEIGHTS", help="state-dict file")
    p.add_argument("--out", required=True, metavar="RUN", help="checkpoint directory to create (must not exist)")
    p.add_argument("--classes", default=None, metavar="FILE|N|imagenet",
                   help="class names (a text file, one per line), a class count, or 'imagenet' (the 1000 "
                   "ImageNet names); default: the classifier's row count, unnamed")
    p.add_argument("--input", default=None, metavar="CxHxW",
                   help="input size (default: the architecture's, e.g. 3x224x224)")
    p.add_argument("--mean", type=float, nargs="+", default=None, help="per-channel mean on [0, 1] pixels "
                   "(default: the registry's 0.5, or ImageNet's for torchvision architectures)")
    p.add_argument("--std", type=float, nargs="+", default=None, help="per-channel std (with --mean)")
    p.set_defaults(func=run)


def parse_classes(spec: str | None) -> int | list[str] | None:
    """``--classes``: a count, ``imagenet``, or a file with one class name per line."""
    from pathlib import Path

    if spec is None:
        return None
    if spec.isdigit():
        if int(spec) < 1:
            raise ValueError(f"--classes must be a positive count, a file or 'imagenet', got {spec!r}")
        return int(spec)
    if spec == "imagenet":
        from cnnlab.models import imagenet_categories

        return list(imagenet_categories())
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--classes: no such file: {spec!r} (give a count, a file or 'imagenet')")
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"--classes: cannot read {spec!r} as text ({exc})") from None
    if not names:
        raise ValueError(f"--classes: {spec!r} holds no class names")
    return names


def run(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    import torch

    from cnnlab import models
    from cnnlab.cli._cmd_summary import parse_size

    out = Path(args.out)
    if out.exists():
        raise ValueError(f"--out {args.out!r} already exists; give a new directory (nothing is overwritten)")
    size = parse_size(args.input) if args.input is not None else None
    if size is not None and len(size) != 3:
        raise ValueError(f"--input must be CxHxW, got {args.input!r}")
    if (args.mean is None) != (args.std is None):
        raise ValueError("give --mean and --std together")
    for flag, vals in (("--mean", args.mean), ("--std", args.std)):
        if vals is not None and not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{flag} values must be finite numbers, got {vals}")
    if args.std is not None and min(args.std) <= 0:
        raise ValueError(f"--std values must be positive, got {args.std}")
    classes = parse_classes(args.classes)
    try:
        model = models.import_weights(args.arch, args.weights, classes=classes, input_size=size, mean=args.mean,
                                      std=args.std)
    except ValueError as exc:  # name the flags behind the API's arguments
        text = str(exc).replace("classes were asked for", "classes were asked for (--classes)")
        raise ValueError(text.replace("input size", "--input").replace("mean and std", "--mean and --std")) \
            from None
    card = models.card_of(model)
    models.save_checkpoint(out, model, extra={"imported": {"arch": args.arch, "weights": str(args.weights)}})
    params = sum(p.numel() for p in model.parameters())
    where = "torchvision" if card.source == "torchvision" else "cnnlab"
    norm = getattr(model, "normalize", None)
    feats = ", ".join(f.module for f in card.features)
    print(f"imported {where} {card.name} from {args.weights}: {params:,} parameters, {card.num_classes} classes"
          f"{'' if card.classes else ' (unnamed)'}, input {'x'.join(map(str, card.input_size))}")
    if isinstance(getattr(norm, "mean", None), torch.Tensor):
        mean, std = norm.mean.flatten().tolist(), norm.std.flatten().tolist()
        print(f"normalisation: mean {', '.join(f'{v:.4g}' for v in mean)}; std {', '.join(f'{v:.4g}' for v in std)}")
    else:
        print("normalisation: none (the network takes [0, 1] pixels)")
    print(f"classifier: {card.classifier or 'not recorded'}; feature layers: "
          f"{feats or 'none recorded (name a layer with --layer for Grad-CAM)'}")
    print(f"checkpoint: {out} (cnnlab predict IMAGE --model {out})")
    return 0
