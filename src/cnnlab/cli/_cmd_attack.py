"""cnnlab attack: adversarial attacks on a dataset (a table) or on photos (PNGs)."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import integer, nonneg, nonneg_int, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack", help="attack a model on a dataset or on images",
        description="With --data: attack MODEL (registry name or checkpoint) on a dataset and print robust "
        "accuracy, success rate, norms and a per-class table. Without: attack IMAGE... (files or sample:NAME) "
        "with --model and write original / perturbation / adversarial PNGs to --out, at the resolution the "
        "network sees and on the 8-bit grid, so cnnlab predict on a written PNG gives the table's class.")
    p.add_argument("inputs", nargs="+", metavar="MODEL|IMAGE")
    p.add_argument("--data", help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", default="pgd", help="fgsm | pgd | onepixel")
    p.add_argument("--eps", type=nonneg, default=None, help="L-inf radius on [0, 1] pixels (default 8/255)")
    p.add_argument("--steps", type=nonneg_int, default=None, help="PGD steps / one-pixel generations")
    p.add_argument("--norm", default=None, choices=("linf", "l2"), help="PGD ball")
    p.add_argument("--restarts", type=positive_int, default=None)
    p.add_argument("--pixels", type=positive_int, default=None, help="one-pixel: pixels changed")
    p.add_argument("--popsize", type=integer(4), default=None, help="one-pixel: population (at least 4)")
    p.add_argument("--su", action="store_true", help="one-pixel at Su et al.'s settings (400, 100, F 0.5)")
    p.add_argument("--targeted", type=nonneg_int, default=None, metavar="C", help="target class index")
    p.add_argument("--limit", type=positive_int, default=1000, help="dataset images attacked")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--model", default="efficientnet_lite0", help="image mode: registry name or checkpoint")
    p.add_argument("--out", help="image mode: output directory")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def attack_options(args: argparse.Namespace, device=None) -> dict:
    """The attack settings given on the command line (shared with ``cnnlab robustness``)."""
    import torch

    from cnnlab import robust

    method = args.method
    if method not in robust.names():
        raise ValueError(f"--method must be one of {', '.join(robust.names())}, got {method!r}")
    opts = {}
    if getattr(args, "eps", None) is not None and method != "onepixel":
        if args.eps > 1 and (getattr(args, "norm", None) or "linf") == "linf":
            raise ValueError(f"--eps must be in [0, 1] for the L-inf ball (pixels are in [0, 1]), got {args.eps:g}")
        opts["eps"] = args.eps
    for key in ("steps", "norm", "restarts", "pixels", "popsize"):
        v = getattr(args, key, None)
        if v is not None:
            if key in ("norm", "restarts") and method != "pgd" or key in ("pixels", "popsize") and method != "onepixel":
                raise ValueError(f"--{key} applies to {'pgd' if key in ('norm', 'restarts') else 'onepixel'}, "
                                 f"not {method}")
            if key == "steps" and method == "fgsm":
                raise ValueError("--steps does not apply to fgsm")
            opts[key] = v
    if getattr(args, "su", False):
        if method != "onepixel":
            raise ValueError("--su applies to onepixel only")
        opts = {**robust.SU_SETTINGS, **opts}
    if method in ("pgd", "onepixel"):
        opts["generator"] = torch.Generator(device if device is not None else "cpu").manual_seed(args.seed)
    return opts


def describe(method: str, options: dict) -> str:
    """``"pgd eps 0.1, steps 2"``: an attack and its settings in words (no dict repr)."""
    shown = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in options.items() if k != "generator"]
    return method + (f" ({', '.join(shown)})" if shown else "")


def run(args: argparse.Namespace) -> int:
    from cnnlab._device import resolve_device

    device = resolve_device(args.device, "--device")
    if args.data:
        return _run_dataset(args, device)
    return _run_images(args, device)


def _run_dataset(args: argparse.Namespace, device) -> int:
    from cnnlab import data, models, robust
    from cnnlab._format import percent, table

    if len(args.inputs) != 1:
        raise ValueError(f"with --data give one MODEL, got {len(args.inputs)} arguments")
    opts = attack_options(args, device)
    ds = data.load_dataset(args.data, args.split)
    model = models.load(args.inputs[0], map_location=device)
    if args.targeted is not None:
        models.check_class(model, args.targeted, name="--targeted")
    rep = robust.evaluate_attack(model, ds, args.method, limit=args.limit, batch_size=args.batch_size,
                                 target=args.targeted, **opts)
    print(f"{describe(args.method, rep.options)} on {rep.n} {args.data} {args.split} images")
    rows = [["clean accuracy", percent(rep.clean_accuracy)], ["robust accuracy", percent(rep.robust_accuracy)],
            ["success rate", percent(rep.success_rate)], ["mean L-inf", f"{rep.mean_linf:.4f}"],
            ["mean L2", f"{rep.mean_l2:.4f}"], ["mean L0 (pixels)", f"{rep.mean_l0:.2f}"]]
    print(table(["metric", "value"], rows, align="lr"))
    print()
    print(table(["class", "n", "clean", "robust"],
                [[c["class"], c["n"], percent(c["clean_accuracy"]), percent(c["robust_accuracy"])]
                 for c in rep.per_class], align="lrrr"))
    return 0


def _run_images(args: argparse.Namespace, device) -> int:
    from pathlib import Path

    from cnnlab import data, models, robust
    from cnnlab._format import percent, table
    from cnnlab.report import save_image

    if not args.out:
        raise ValueError("attacking images needs --out DIR (or give --data to attack a dataset)")
    opts = attack_options(args, device)
    if args.method != "onepixel" and "eps" not in opts:
        opts["eps"] = 2 / 255
    imgs = [data.image_from_spec(s) for s in args.inputs]
    model = models.load(args.model, map_location=device)
    if args.targeted is not None:
        models.check_class(model, args.targeted, name="--targeted")
    results = robust.attack_images(model, imgs, args.method, target=args.targeted, **opts)
    out = Path(args.out)
    rows = []
    for spec, r in zip(args.inputs, results):
        stem = spec.split(":", 1)[1] if spec.startswith("sample:") else Path(spec).stem
        save_image(r.original, out / f"{stem}_original.png")
        save_image(robust.perturbation_image(r.perturbation), out / f"{stem}_perturbation.png")
        save_image(r.adversarial, out / f"{stem}_adversarial.png")
        rows.append([stem, r.clean_class, percent(r.clean_prob), r.adv_class, percent(r.adv_prob),
                     f"{float(r.perturbation.abs().max()):.4f}", "yes" if r.success else "no"])
    print(f"{describe(args.method, opts)} at {'x'.join(map(str, model.cnnlab.input_size))}")
    print(table(["image", "class", "prob", "adversarial class", "prob", "L-inf", "fooled"], rows,
                align="llrlrrl"))
    print(f"wrote {3 * len(results)} PNGs to {out}/ (<image>_original / _perturbation / _adversarial.png)")
    return 0
