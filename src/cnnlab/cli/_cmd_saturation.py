"""cnnlab saturation: gradient norm per layer through a deep conv stack, sigmoid against ReLU."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("saturation", help="gradient norm per layer, sigmoid vs ReLU (NumPy reference engine)",
                       description="Backpropagate one random upstream gradient through the same deep stack of "
                       "3x3 convolutions with sigmoid and with ReLU, and print |dL/dW| per layer.")
    p.add_argument("--depth", type=positive_int, default=12)
    p.add_argument("--channels", type=positive_int, default=8)
    p.add_argument("--weight-scale", type=positive, default=1.0, help="multiplies the He-normal weights")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--plot", metavar="PNG", help="also save the plot here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab._format import table
    from cnnlab.reference import SaturationConfig, plot_saturation, saturation_demo

    r = saturation_demo(SaturationConfig(depth=args.depth, channels=args.channels, weight_scale=args.weight_scale,
                                         seed=args.seed))
    rows = [[layer, f"{s:.3e}", f"{re:.3e}", f"{ms:.3f}", f"{mr:.3f}"] for layer, s, re, ms, mr in r.rows()]
    print(table(["layer", "sigmoid |dW|", "relu |dW|", "sigmoid mean f'", "relu mean f'"], rows))
    print(f"\nlayer 1 / layer {args.depth} gradient norm: sigmoid {r.decay('sigmoid'):.2e}, "
          f"relu {r.decay('relu'):.2e}")
    if args.plot:
        from cnnlab._plot import save_figure

        save_figure(plot_saturation(r), args.plot)
        print(f"plot: {args.plot}")
    return 0
