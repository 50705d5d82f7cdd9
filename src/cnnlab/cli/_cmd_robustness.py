"""cnnlab robustness: robust accuracy against epsilon (CSV + plot), optionally the input-defence table."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive_int, unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness", help="robust accuracy vs epsilon",
        description="Attack MODEL (registry name or checkpoint) on a dataset at several epsilons; print the "
        "curve and write robustness.csv and robustness.png to --out. --defences adds the input-defence table "
        "(Gaussian noise, JPEG, bit depth) against the plain and the adaptive (BPDA / EOT) attack, on the same "
        "images (so there is one clean accuracy).")
    p.add_argument("model", metavar="MODEL|CHECKPOINT")
    p.add_argument("--data", required=True, help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--split", default="test")
    p.add_argument("--method", default="pgd", help="fgsm | pgd")
    p.add_argument("--eps", default="0,0.02,0.05,0.1,0.15,0.2", help="comma-separated epsilons")
    p.add_argument("--steps", type=nonneg_int, default=None)
    p.add_argument("--norm", default=None, choices=("linf", "l2"))
    p.add_argument("--restarts", type=positive_int, default=None)
    p.add_argument("--limit", type=positive_int, default=1000)
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--defences", action="store_true", help="also evaluate the input defences (same images)")
    p.add_argument("--defence-eps", type=unit, default=0.1)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default="robustness")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def parse_epsilons(text: str, norm: str | None) -> list[float]:
    """``"0,0.1"`` -> ``[0.0, 0.1]``, each a finite number >= 0 (and <= 1 for the L-inf ball)."""
    import math

    try:
        eps = [float(e) for e in text.split(",") if e.strip()]
    except ValueError:
        raise ValueError(f"--eps must be comma-separated numbers, got {text!r}") from None
    if not eps:
        raise ValueError("--eps must name at least one epsilon")
    hi = 1 if (norm or "linf") == "linf" else math.inf
    bad = [e for e in eps if not (math.isfinite(e) and 0 <= e <= hi)]
    if bad:
        rng = "in [0, 1]" if hi == 1 else "finite and >= 0"
        raise ValueError(f"--eps values must be {rng}, got {bad[0]:g}")
    return eps


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cnnlab import data, models, robust
    from cnnlab._device import resolve_device
    from cnnlab._format import percent, table
    from cnnlab._plot import save_figure
    from cnnlab.cli._cmd_attack import attack_options, describe

    if args.method == "onepixel":
        raise ValueError("--method onepixel has no epsilon; use cnnlab attack --method onepixel")
    epsilons = parse_epsilons(args.eps, args.norm)
    device = resolve_device(args.device, "--device")
    opts = attack_options(argparse.Namespace(**{**vars(args), "eps": None, "pixels": None, "popsize": None}),
                          device)
    ds = data.load_dataset(args.data, args.split)
    model = models.load(args.model, map_location=device)
    reps = robust.robustness_curve(model, ds, epsilons, method=args.method, limit=args.limit,
                                   batch_size=args.batch_size, **opts)
    out = Path(args.out)
    csv_path = robust.save_curve_csv(reps, out / "robustness.csv")
    save_figure(robust.plot_curve(reps), out / "robustness.png")
    n, clean = reps[0].n, reps[0].clean_accuracy  # the same images at every epsilon: one clean accuracy
    print(f"{describe(args.method, {k: v for k, v in opts.items() if k != 'generator'})} on {n} {args.data} "
          f"{args.split} images; clean accuracy {percent(clean)}")
    print(table(["eps", "robust accuracy", "success rate", "mean L-inf", "mean L2"],
                [[f"{r.eps:g}", percent(r.robust_accuracy), percent(r.success_rate), f"{r.mean_linf:.4f}",
                  f"{r.mean_l2:.3f}"] for r in reps]))
    if args.defences:
        rows = robust.evaluate_defences(model, ds, eps=args.defence_eps, limit=args.limit,
                                        batch_size=args.batch_size, method=args.method,
                                        **{k: v for k, v in opts.items() if k != "eps"})
        print()
        print(f"input defences against {args.method} eps {args.defence_eps:g} (the same {n} images; clean: "
              "accuracy with the defence and no attack)")
        print(table(["defence", "clean", "plain attack", "adaptive attack"],
                    [[_defence_name(r), percent(r.clean_accuracy), percent(r.plain_accuracy),
                      percent(r.adaptive_accuracy)] for r in rows], align="lrrr"))
    print(f"wrote {csv_path} and {out / 'robustness.png'}")
    return 0


def _defence_name(row) -> str:
    opts = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.options.items())
    return f"{row.defence} ({opts})" if opts else row.defence
