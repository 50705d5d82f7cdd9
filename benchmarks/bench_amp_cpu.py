"""bfloat16 autocast on the CPU against float32, layer by layer: is ``--amp`` worth it on this CPU?

oneDNN runs bfloat16 convolutions with the CPU's own instructions where it has them (AVX-512 BF16 / AMX on x86, the
BF16 extension on Arm) and emulates them elsewhere. ``cnnlab.train`` refuses ``amp`` on a CPU where torch reports no
native bfloat16 (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``); this script measures what that refusal spares,
and on a CPU that has it, what bfloat16 gains. Each row is one convolution of the models cnnlab trains, the same layer
timed in float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)`` in the same run (the anchor is float32
torch itself); the ratio is float32 time / bfloat16 time (above 1: bfloat16 is faster). The floor is the float32
forward pass. The probe itself is bypassed here, so it measures what it guards.

Usage:
    python benchmarks/bench_amp_cpu.py                 # about 2 minutes on an AVX2 CPU, seconds with AMX
    python benchmarks/bench_amp_cpu.py --threads 1 --size 45 60
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from _timing import machine, median_seconds
from torch import nn

from cnnlab._device import cpu_has_native
from cnnlab._io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"

# (name, in channels, out channels, kernel, groups): where each comes from
LAYERS = [
    ("7x7, 64 -> 64 (SegNet-Basic's encoder and decoder)", 64, 64, 7, 1),
    ("7x7, 3 -> 64 (SegNet-Basic's first layer)", 3, 64, 7, 1),
    ("3x3, 64 -> 64 (U-Net, SegNet, VGG, ResNet)", 64, 64, 3, 1),
    ("1x1, 64 -> 64 (EfficientNet's pointwise)", 64, 64, 1, 1),
    ("3x3 depthwise, 64 (EfficientNet-Lite0)", 64, 64, 3, 64),
]


def time_layer(cin: int, cout: int, k: int, groups: int, size: tuple[int, int], batch: int,
               repeats: int) -> dict:
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups)
    x = torch.randn(batch, cin, *size)
    row = {}
    for label, amp in (("fp32", False), ("bf16", True)):
        def forward(amp=amp):
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                conv(x)

        def step(amp=amp):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                y = conv(x)
            y.float().sum().backward()
            conv.zero_grad(set_to_none=True)

        row[f"{label}_forward_ms"] = 1000 * median_seconds(forward, repeats=repeats)
        row[f"{label}_train_ms"] = 1000 * median_seconds(step, repeats=repeats)
    row["forward_ratio"] = row["fp32_forward_ms"] / row["bf16_forward_ms"]
    row["train_ratio"] = row["fp32_train_ms"] / row["bf16_train_ms"]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, nargs=2, default=(45, 60), metavar=("H", "W"),
                   help="feature-map size (default 45x60: SegNet-Basic's third stage at 180x240)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None, help="default results/bench_amp_cpu-CAPABILITY.json (e.g. -avx2)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    native = cpu_has_native(torch.bfloat16)
    isa = torch.backends.cpu.get_cpu_capability()
    print(f"CPU capability {isa}; native bfloat16 (oneDNN): {native}; {args.threads} thread(s), "
          f"batch {args.batch} at {args.size[0]}x{args.size[1]}")
    rows = []
    for name, cin, cout, k, groups in LAYERS:
        r = {"layer": name, **time_layer(cin, cout, k, groups, tuple(args.size), args.batch, args.repeats)}
        rows.append(r)
        print(f"{name:<52} forward fp32 {r['fp32_forward_ms']:9.1f} ms  bf16 {r['bf16_forward_ms']:9.1f} ms  "
              f"ratio {r['forward_ratio']:7.3f}x | forward+backward fp32 {r['fp32_train_ms']:9.1f} ms  "
              f"bf16 {r['bf16_train_ms']:9.1f} ms  ratio {r['train_ratio']:7.3f}x", flush=True)
    doc = {"cpu_capability": isa, "native_bfloat16": native, "threads": args.threads, "batch": args.batch,
           "size": f"{args.size[0]}x{args.size[1]}", "ratio": "fp32 time / bf16 time (above 1: bfloat16 is faster)",
           "floor": "the fp32 columns", "layers": rows, "machine": machine()}
    out = Path(args.out) if args.out else RESULTS / f"bench_amp_cpu-{isa.lower()}.json"
    atomic_write_json(out, doc)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
