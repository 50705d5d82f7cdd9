"""cnnlab conv-demo: a worked convolution example with both gradients and the identities they satisfy."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conv-demo", help="worked example: a convolution, its gradients and their identities",
                       description="Convolve a small integer image with an integer kernel (NumPy reference "
                       "engine), backpropagate an integer upstream gradient and check dW = x ⋆ dY "
                       "(cross-correlation), dX = dY * w (full convolution) and the transposed convolution.")
    p.add_argument("--mode", default="same", choices=["valid", "same", "full"])
    p.add_argument("--stride", type=positive_int, default=1)
    p.add_argument("--dilation", type=positive_int, default=1)
    p.add_argument("--size", type=positive_int, default=5, help="input side")
    p.add_argument("--kernel", type=positive_int, default=3, help="kernel side")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.set_defaults(func=run)


def _grid(name: str, a) -> str:
    cells = [[f"{v:g}" for v in row] for row in a]
    width = max(len(c) for row in cells for c in row)
    lines = ["  " + " ".join(c.rjust(width) for c in row) for row in cells]
    return f"{name} {a.shape[0]}x{a.shape[1]}:\n" + "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from cnnlab._format import table
    from cnnlab.reference import conv_demo

    d = conv_demo(size=args.size, kernel=args.kernel, mode=args.mode, stride=args.stride, dilation=args.dilation,
                  seed=args.seed)
    (t, b), (l, r) = d.padding
    print(f"{d.mode} convolution, stride {d.stride}, dilation {d.dilation}: padding top {t}, bottom {b}, "
          f"left {l}, right {r}; {d.x.shape[0]}x{d.x.shape[1]} -> {d.y.shape[0]}x{d.y.shape[1]}\n")
    for name, a in (("input x", d.x), ("kernel w", d.w), ("output y = x ⋆ w", d.y), ("upstream gradient dY", d.dy),
                    ("dX (input gradient)", d.dx), ("dW (kernel gradient)", d.dw)):
        print(_grid(name, a) + "\n")
    rows = [[i.name, i.formula, i.check, f"{i.max_abs_error:.1e}", "yes" if i.holds else "NO"]
            for i in d.identities]
    print(table(["identity", "computed as", "equals", "max |error|", "holds"], rows, align="lllrl"))
    print("\n⋆ cross-correlation, * convolution (kernel flipped); M: the convolution x -> y as a matrix, A: w -> y.")
    if d.stride > 1:
        print(f"Stride {d.stride}: dY is spread back to the visited positions ({d.stride - 1} zeros between entries) "
              f"before both gradient identities.")
    if d.dilation > 1:
        print(f"Dilation {d.dilation}: the kernel taps sit {d.dilation} apart; in dW = x ⋆ dY it becomes the stride "
              f"of the correlation, and dX = dY * w uses the dilated kernel.")
    return 0 if all(i.holds for i in d.identities) else 1
