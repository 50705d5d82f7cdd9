"""Benchmark: the NumPy reference convolution (cnnlab.reference) against torch, forward + backward.

Measures ``conv2d`` forward, ``conv2d_backward`` (dX, dW, db through the cross-correlation / full-convolution
identities) and both together, batch 8, 64 -> 64 channels, 56x56, 3x3, padding "same", float32, against
``torch.nn.functional.conv2d`` forward and forward + backward (autograd) on ``--device`` in the same run. The
reference engine always runs on the CPU with NumPy's BLAS; on the CPU the ratio is the figure that means
something (target: at most 5x slower than torch). The floor is torch's forward alone.

    python benchmarks/bench_reference.py [--quick] [--device cpu|cuda] [--repeats N]

Prints a fixed-width table (median ms over repeats after warm-up) and writes
benchmarks/results/bench_reference.json.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _timing import median_seconds

from cnnlab import reference as ref


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="torch device for the anchor (the reference is NumPy on CPU)")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a CPU run in well under 2 minutes)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_reference.json"))
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 10)
    warmup = 1 if args.quick else 2
    device = torch.device(args.device)

    rng = np.random.default_rng(0)
    n, c, s = args.batch, args.channels, args.size
    x = rng.standard_normal((n, c, s, s)).astype(np.float32)
    w = (rng.standard_normal((c, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(np.float32)
    b = np.zeros(c, np.float32)
    dy = rng.standard_normal((n, c, s, s)).astype(np.float32)

    xt = torch.tensor(x, device=device, requires_grad=True)
    wt = torch.tensor(w, device=device, requires_grad=True)
    bt = torch.tensor(b, device=device, requires_grad=True)
    dyt = torch.tensor(dy, device=device)

    def torch_forward():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, padding=1)

    def torch_forward_backward():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, padding=1).backward(dyt)

    def ref_forward():
        ref.conv2d(x, w, b, padding="same")

    def ref_backward():
        ref.conv2d_backward(dy, x, w, padding="same")

    def ref_forward_backward():
        ref_forward()
        ref_backward()

    # correctness in the same run: float32 against torch
    torch_forward_backward()
    grads = ref.conv2d_backward(dy, x, w, padding="same")
    def rel(a, t):  # max |difference| relative to the largest entry
        t = t.detach().cpu().numpy()
        return float(np.abs(a - t).max() / np.abs(t).max())

    err = {"y": rel(ref.conv2d(x, w, b, padding="same"), F.conv2d(xt, wt, bt, padding=1)),
           "dx": rel(grads.dx, xt.grad), "dw": rel(grads.dw, wt.grad)}

    def ms(fn, dev="cpu"):  # the reference engine runs on the CPU whatever --device says
        return 1e3 * median_seconds(fn, dev, repeats=repeats, warmup=warmup)

    rows = {
        "torch forward (floor)": ms(torch_forward, device),
        "torch forward+backward": ms(torch_forward_backward, device),
        "reference forward": ms(ref_forward),
        "reference backward": ms(ref_backward),
        "reference forward+backward": ms(ref_forward_backward),
    }
    anchor = rows["torch forward+backward"]
    floor = rows["torch forward (floor)"]
    print(f"conv2d 3x3 same, x [{n}, {c}, {s}, {s}] float32; torch on {device}, reference on CPU (NumPy); "
          f"median of {repeats}")
    print(f"{'what':<28} {'ms':>10} {'x torch fwd+bwd':>16} {'x torch fwd':>12}")
    print("-" * 69)
    for name, ms in rows.items():
        print(f"{name:<28} {ms:>10.1f} {ms / anchor:>16.2f} {ms / floor:>12.2f}")
    ratio = rows["reference forward+backward"] / anchor
    print(f"\nreference / torch forward+backward: {ratio:.2f}x (target <= 5x); "
          f"max |diff| / max |torch|: y {err['y']:.1e}, dx {err['dx']:.1e}, dw {err['dw']:.1e}")

    result = {
        "benchmark": "bench_reference", "device": str(device), "shape": [n, c, s, s], "kernel": 3,
        "dtype": "float32", "repeats": repeats, "ms": rows, "ratio_fwd_bwd": ratio,
        "ratio_vs_floor": rows["reference forward+backward"] / floor, "max_rel_diff": err,
        "torch": torch.__version__, "numpy": np.__version__, "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
