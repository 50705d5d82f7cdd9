"""cnnlab attack: adversarial attacks on a dataset (a table) or on photos (PNGs)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attack", help="attack a model on a dataset or on images",
        description="With --data: attack MODEL (registry name or checkpoint) on a dataset and print robust "
        "accuracy, success rate, norms and a per-class table. Without: attack IMAGE... (files or sample:NAME) "
        "with --model and write original / perturbation / adversarial PNGs to --out.")
    p.add_argument("inputs", nargs="+", metavar="MODEL|IMAGE")
    p.add_argument("--data", help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", default="pgd", help="fgsm | pgd | onepixel")
    p.add_argument("--eps", type=float, default=None, help="L-inf radius on [0, 1] pixels (default 8/255)")
    p.add_argument("--steps", type=int, default=None, help="PGD steps / one-pixel generations")
    p.add_argument("--norm", default=None, help="PGD ball: linf | l2")
    p.add_argument("--restarts", type=int, default=None)
    p.add_argument("--pixels", type=int, default=None, help="one-pixel: pixels changed")
    p.add_argument("--popsize", type=int, default=None, help="one-pixel: population")
    p.add_argument("--su", action="store_true", help="one-pixel at Su et al.'s settings (400, 100, F 0.5)")
    p.add_argument("--targeted", type=int, default=None, metavar="C", help="target class index")
    p.add_argument("--limit", type=int, default=1000, help="dataset images attacked (default 1000)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="efficientnet_lite0", help="image mode: registry name or checkpoint")
    p.add_argument("--out", help="image mode: output directory")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def attack_options(args: argparse.Namespace) -> dict:
    """The attack settings given on the command line (shared with ``cnnlab robustness``)."""
    import torch

    from cnnlab import robust

    method = args.method
    robust.ATTACKS.lookup(method)
    opts = {}
    if getattr(args, "eps", None) is not None and method != "onepixel":
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
        opts["generator"] = torch.Generator(args.device).manual_seed(args.seed)
    return opts


def run(args: argparse.Namespace) -> int:
    from cnnlab._format import table

    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if args.data:
        return _run_dataset(args, table)
    return _run_images(args, table)


def _run_dataset(args: argparse.Namespace, table) -> int:
    from cnnlab import data, models, robust

    if len(args.inputs) != 1:
        raise ValueError(f"with --data give one MODEL, got {len(args.inputs)} arguments")
    opts = attack_options(args)
    ds = data.load_dataset(args.data, args.split)
    model = models.load(args.inputs[0], map_location=args.device)
    rep = robust.evaluate_attack(model, ds, args.method, limit=args.limit, batch_size=args.batch_size,
                                 target=args.targeted, **opts)
    shown = {k: v for k, v in rep.options.items() if k != "generator"}
    print(f"{args.method} {shown} on {rep.n} {args.data} {args.split} images")
    rows = [["clean accuracy", f"{rep.clean_accuracy:.4f}"], ["robust accuracy", f"{rep.robust_accuracy:.4f}"],
            ["success rate", f"{rep.success_rate:.4f}"], ["mean L-inf", f"{rep.mean_linf:.4f}"],
            ["mean L2", f"{rep.mean_l2:.4f}"], ["mean L0 (pixels)", f"{rep.mean_l0:.2f}"]]
    print(table(["metric", "value"], rows, align="lr"))
    print()
    print(table(["class", "n", "clean", "robust"],
                [[c["class"], c["n"], f"{c['clean_accuracy']:.3f}", f"{c['robust_accuracy']:.3f}"]
                 for c in rep.per_class], align="lrrr"))
    return 0


def _run_images(args: argparse.Namespace, table) -> int:
    from pathlib import Path

    from cnnlab import data, models, robust
    from cnnlab.report import save_image

    if not args.out:
        raise ValueError("attacking images needs --out DIR (or give --data to attack a dataset)")
    opts = attack_options(args)
    if args.method != "onepixel" and "eps" not in opts:
        opts["eps"] = 2 / 255
    imgs = [data.image_from_spec(s) for s in args.inputs]
    model = models.load(args.model, map_location=args.device)
    results = robust.attack_images(model, imgs, args.method, target=args.targeted, **opts)
    out = Path(args.out)
    rows = []
    for spec, r in zip(args.inputs, results):
        stem = spec.split(":", 1)[1] if spec.startswith("sample:") else Path(spec).stem
        save_image(r.original, out / f"{stem}_original.png")
        save_image(robust.perturbation_image(r.perturbation), out / f"{stem}_perturbation.png")
        save_image(r.adversarial, out / f"{stem}_adversarial.png")
        rows.append([stem, r.clean_class, f"{r.clean_prob:.3f}", r.adv_class, f"{r.adv_prob:.3f}",
                     f"{float(r.perturbation.abs().max()):.4f}", "yes" if r.success else "no"])
    print(table(["image", "class", "prob", "adversarial class", "prob", "L-inf", "fooled"], rows,
                align="llrlrrl"))
    print(f"wrote {3 * len(results)} PNGs to {out}/ (<image>_original / _perturbation / _adversarial.png)")
    return 0
