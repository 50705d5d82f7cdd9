"""cnnlab robustness: robust accuracy against epsilon (CSV + plot), optionally the input-defence table."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness", help="robust accuracy vs epsilon",
        description="Attack MODEL (registry name or checkpoint) on a dataset at several epsilons; print the "
        "curve and write robustness.csv and robustness.png to --out. --defences adds the input-defence table "
        "(Gaussian noise, JPEG, bit depth) against the plain and the adaptive (BPDA / EOT) attack.")
    p.add_argument("model", metavar="MODEL|CHECKPOINT")
    p.add_argument("--data", required=True, help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", default="pgd", help="fgsm | pgd")
    p.add_argument("--eps", default="0,0.02,0.05,0.1,0.15,0.2", help="comma-separated epsilons")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--norm", default=None)
    p.add_argument("--restarts", type=int, default=None)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--defences", action="store_true", help="also evaluate the input defences")
    p.add_argument("--defence-eps", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="robustness")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnlab import data, models, robust
    from cnnlab._format import table
    from cnnlab._plot import save_figure
    from cnnlab.cli._cmd_attack import attack_options

    try:
        epsilons = [float(e) for e in args.eps.split(",") if e.strip()]
    except ValueError:
        raise ValueError(f"--eps must be comma-separated numbers, got {args.eps!r}") from None
    if not epsilons:
        raise ValueError("--eps must name at least one epsilon")
    if args.method == "onepixel":
        raise ValueError("--method onepixel has no epsilon; use cnnlab attack --method onepixel")
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    opts = attack_options(argparse.Namespace(**{**vars(args), "eps": None, "pixels": None, "popsize": None}))
    ds = data.load_dataset(args.data, args.split)
    model = models.load(args.model, map_location=args.device)
    reps = robust.robustness_curve(model, ds, epsilons, method=args.method, limit=args.limit,
                                   batch_size=args.batch_size, **opts)
    out = Path(args.out)
    csv_path = robust.save_curve_csv(reps, out / "robustness.csv")
    save_figure(robust.plot_curve(reps), out / "robustness.png")
    print(table(["eps", "accuracy", "success rate", "mean L-inf", "mean L2"],
                [[f"{r.eps:g}", f"{r.robust_accuracy:.4f}", f"{r.success_rate:.4f}", f"{r.mean_linf:.4f}",
                  f"{r.mean_l2:.3f}"] for r in reps]))
    if args.defences:
        rows = robust.evaluate_defences(model, ds, eps=args.defence_eps, limit=min(args.limit, 512),
                                        method=args.method, **{k: v for k, v in opts.items() if k != "eps"})
        print()
        print(f"input defences against {args.method} eps {args.defence_eps}")
        print(table(["defence", "clean", "plain attack", "adaptive attack"],
                    [[f"{r.defence} {r.options}" if r.options else r.defence, f"{r.clean_accuracy:.4f}",
                      f"{r.plain_accuracy:.4f}", f"{r.adaptive_accuracy:.4f}"] for r in rows], align="lrrr"))
    print(f"wrote {csv_path} and {out / 'robustness.png'}")
    return 0
