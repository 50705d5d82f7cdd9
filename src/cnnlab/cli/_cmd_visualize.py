"""cnnlab visualize: the image a network finds most typical of a class (activation maximisation)."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive, unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("visualize", help="synthesise the image that maximises a class score",
                       description="Gradient ascent on an image to maximise a class score (pre-softmax), with "
                       "L2 decay, jitter and blur (Simonyan et al. 2014; Yosinski et al. 2015).")
    p.add_argument("model", metavar="MODEL", help="registry name or checkpoint directory")
    p.add_argument("--class", dest="cls", required=True, help="class index or name")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--steps", type=nonneg_int, default=200)
    p.add_argument("--lr", type=positive, default=0.02)
    p.add_argument("--l2", type=unit, default=1e-3, help="L2 decay per step towards grey, in [0, 1)")
    p.add_argument("--jitter", type=nonneg_int, default=2)
    p.add_argument("--blur-every", type=nonneg_int, default=4)
    p.add_argument("--init", choices=("zero", "noise"), default="zero")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cnnlab import explain, models
    from cnnlab._device import resolve_device
    from cnnlab._format import percent
    from cnnlab.cli._cmd_explain import parse_target
    from cnnlab.report import save_image

    if not str(args.out).lower().endswith(".png"):
        raise ValueError(f"--out must be a .png file, got {args.out!r}")
    if args.l2 >= 1:
        raise ValueError(f"--l2 must be in [0, 1), got {args.l2:g}")
    device = resolve_device(args.device, "--device")
    model = models.load(args.model, map_location=device)
    target = parse_target(args.cls, model, "--class")
    img = explain.maximize(model, target=target, steps=args.steps, lr=args.lr, l2=args.l2, jitter=args.jitter,
                           blur_every=args.blur_every, init=args.init, seed=args.seed)
    img = (img * 255).round() / 255  # what the PNG holds, so the figures below are the PNG's
    with models.frozen(model), torch.no_grad():
        logits = model(img).float()[0]
    prob = logits.softmax(-1)
    classes = model.cnnlab.classes
    path = save_image(img[0], args.out)
    name = classes[target] if classes else str(target)
    top = int(prob.argmax())
    print(f"class {target} ({name}): score {float(logits[target]):.3f}, prob {percent(float(prob[target]))}; "
          f"top-1 of the image: {classes[top] if classes else top}")
    print(f"image: {path}")
    return 0
