"""Benchmark: cnnlab.losses against torch / torchvision, forward + backward, and the linear probe's feature pass.

Losses: cross-entropy, binary cross-entropy and the softmax focal loss on logits ``[N, K]`` (classification,
N=8192, K=1000), the sigmoid focal loss on ``[N, 80]`` (detection-style, N=65536), each forward + backward to
the logits, against ``F.cross_entropy``, ``F.binary_cross_entropy_with_logits`` and
``torchvision.ops.sigmoid_focal_loss`` timed in the same run. The floor is ``F.cross_entropy`` forward +
backward (one log-softmax and its gradient): a loss cannot cost less than reading the logits once.

Transfer: ``cnnlab.transfer.extract_features`` (a forward hook on the classifier) against a plain eval-mode
forward of the same EfficientNet-Lite0, batch 64 at 64x64 (floor: the forward).

    python benchmarks/bench_losses.py [--quick] [--device cpu|cuda] [--repeats N]

Prints a fixed-width table (median ms over repeats after warm-up) and writes benchmarks/results/bench_losses.json.
On the CPU only the ratios mean something.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
import torch.nn.functional as F
from _timing import machine, median_seconds
from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

from cnnlab import losses, transfer


def _fwd_bwd(loss_fn, logits, targets):
    def run():
        x = logits.detach().requires_grad_(True)
        loss_fn(x, targets).backward()
    return run


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="smaller tensors, fewer repeats (CPU run under 2 minutes)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_losses.json"))
    args = p.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 20)
    warmup = 1 if args.quick else 3
    device = torch.device(args.device)
    n_cls, k_cls = (2048, 1000) if args.quick else (8192, 1000)
    n_det, k_det = (16384, 80) if args.quick else (65536, 80)
    g = torch.Generator().manual_seed(0)
    x_cls = (torch.randn(n_cls, k_cls, generator=g) * 3).to(device)
    y_cls = torch.randint(0, k_cls, (n_cls,), generator=g).to(device)
    x_det = (torch.randn(n_det, k_det, generator=g) * 3).to(device)
    t_det = (torch.rand(n_det, k_det, generator=g) < 0.02).float().to(device)
    t_bce = torch.rand(n_cls, k_cls, generator=g).to(device)

    def t(fn):
        return 1e3 * median_seconds(fn, device, repeats=repeats, warmup=warmup)  # ms

    floor = t(_fwd_bwd(F.cross_entropy, x_cls, y_cls))
    rows = []

    def add(name, ours, anchor_name, anchor, floor_ms):
        a = t(anchor)
        o = t(ours)
        rows.append({"what": name, "cnnlab_ms": o, "anchor": anchor_name, "anchor_ms": a, "ratio": o / a,
                     "floor_ms": floor_ms, "vs_floor": o / floor_ms})

    add(f"cross_entropy [{n_cls}x{k_cls}]", _fwd_bwd(losses.cross_entropy, x_cls, y_cls), "F.cross_entropy",
        _fwd_bwd(F.cross_entropy, x_cls, y_cls), floor)
    add(f"focal gamma=2 [{n_cls}x{k_cls}]", _fwd_bwd(losses.focal_loss, x_cls, y_cls), "F.cross_entropy",
        _fwd_bwd(F.cross_entropy, x_cls, y_cls), floor)
    add(f"bce [{n_cls}x{k_cls}]", _fwd_bwd(losses.binary_cross_entropy, x_cls, t_bce), "F.bce_with_logits",
        _fwd_bwd(F.binary_cross_entropy_with_logits, x_cls, t_bce), floor)
    det_floor = t(_fwd_bwd(F.binary_cross_entropy_with_logits, x_det, t_det))
    add(f"sigmoid_focal [{n_det}x{k_det}]", _fwd_bwd(losses.sigmoid_focal_loss, x_det, t_det),
        "torchvision sigmoid_focal_loss",
        _fwd_bwd(lambda a, b: tv_sigmoid_focal_loss(a, b, reduction="mean"), x_det, t_det), det_floor)

    net = transfer.transfer_model("efficientnet_lite0", num_classes=10, input_size=(64, 64)).to(device).eval()
    images = torch.rand(64, 3, 64, 64, generator=g).to(device)

    @torch.no_grad()
    def forward():
        net(images)

    fwd = t(forward)
    feats = t(lambda: transfer.extract_features(net, images, batch_size=64, device=device))
    rows.append({"what": "extract_features lite0 64x[3,64,64]", "cnnlab_ms": feats, "anchor": "model forward",
                 "anchor_ms": fwd, "ratio": feats / fwd, "floor_ms": fwd, "vs_floor": feats / fwd})

    head = (f"{'what':<38} {'cnnlab ms':>10} {'anchor':<30} {'anchor ms':>10} {'ratio':>6} {'floor ms':>9} "
            f"{'x floor':>7}")
    print(f"device {device} ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, median of {repeats}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['what']:<38} {r['cnnlab_ms']:>10.2f} {r['anchor']:<30} {r['anchor_ms']:>10.2f} {r['ratio']:>6.2f} "
              f"{r['floor_ms']:>9.2f} {r['vs_floor']:>7.2f}")
    doc = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "quick": args.quick, "repeats": repeats, "machine": machine(device), "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")
    return doc


if __name__ == "__main__":
    main()
