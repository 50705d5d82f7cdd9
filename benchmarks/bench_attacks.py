"""cnnlab.robust attacks against torchattacks, timed in the same run, with the floor beside them.

Measures (median of --repeats after a warm-up):
  * FGSM and PGD-10 (L-inf, eps 8/255) on torchvision ResNet-50, batch 64 at 224x224 (--quick: batch 8 at
    64x64), against torchattacks' FGSM / PGD and against the floor: one forward + input-backward pass with
    the parameters frozen (an attack of k steps cannot cost less than k floors).
  * The one-pixel attack on torchvision ResNet-18 (10 classes) at 32x32, 64 images (--quick: 16), against
    torchattacks' OnePixel at equal budget (1 pixel, 10 generations, population 10) and against one forward
    pass of all images; success rates are printed beside the times.

Goals on a GPU: FGSM / PGD >= 2.5x faster than torchattacks and within 1.1x of k x floor; one-pixel >= 10x
faster. On the CPU only the ratios mean something.

    python benchmarks/bench_attacks.py --device cuda
    python benchmarks/bench_attacks.py --quick          # CPU, under ~2 minutes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchattacks
import torchvision
from _timing import median_seconds as timeit

from cnnlab import robust


def floor_step(model, x, y):
    """One forward + input-backward with frozen parameters: the least one gradient step can cost."""
    with robust.attack_mode(model):
        xg = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes for a CPU run")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/bench_attacks.json")
    args = ap.parse_args()
    dev = args.device
    quick = args.quick
    batch, size = (8, 64) if quick else (64, 224)
    n_pix = 16 if quick else 64
    repeats = args.repeats or (3 if quick else 10)
    torch.manual_seed(0)
    results: dict = {"device": dev, "torch": torch.__version__, "quick": quick, "rows": []}
    rows = results["rows"]

    # ---- FGSM and PGD-10 on ResNet-50
    net = torchvision.models.resnet50().to(dev).eval()
    x = torch.rand(batch, 3, size, size, device=dev)
    y = torch.randint(0, 1000, (batch,), device=dev)
    eps, alpha = 8 / 255, 2 / 255
    t_fwd = timeit(lambda: _no_grad_forward(net, x), dev, repeats)
    t_floor = timeit(lambda: floor_step(net, x, y), dev, repeats)
    ta_fgsm, ta_pgd = torchattacks.FGSM(net, eps=eps), torchattacks.PGD(net, eps=eps, alpha=alpha, steps=10)
    t_ta_fgsm = timeit(lambda: ta_fgsm(x, y), dev, repeats)
    t_fgsm = timeit(lambda: robust.fgsm(net, x, y, eps=eps), dev, repeats)
    t_ta_pgd = timeit(lambda: ta_pgd(x, y), dev, max(1, repeats // 2))
    t_pgd = timeit(lambda: robust.pgd(net, x, y, eps=eps, alpha=alpha, steps=10), dev, max(1, repeats // 2))
    shape = f"resnet50 b{batch} {size}px"
    rows.append({"what": f"forward only ({shape})", "ms": t_fwd * 1e3})
    rows.append({"what": f"floor: forward + input-backward ({shape})", "ms": t_floor * 1e3})
    rows.append({"what": "FGSM", "ms": t_fgsm * 1e3, "anchor": "torchattacks FGSM", "anchor_ms": t_ta_fgsm * 1e3,
                 "speedup": t_ta_fgsm / t_fgsm, "vs_floor": t_fgsm / t_floor, "k": 1})
    rows.append({"what": "PGD-10", "ms": t_pgd * 1e3, "anchor": "torchattacks PGD", "anchor_ms": t_ta_pgd * 1e3,
                 "speedup": t_ta_pgd / t_pgd, "vs_floor": t_pgd / (10 * t_floor), "k": 10})
    del net

    # ---- one-pixel on ResNet-18 at 32x32, equal budget: population 10, 10 generations
    net = torchvision.models.resnet18(num_classes=10).to(dev).eval()
    xp = torch.rand(n_pix, 3, 32, 32, device=dev)
    with torch.no_grad():
        yp = net(xp).argmax(1)  # attack the model's own predictions: every image starts correct
    t_fwd18 = timeit(lambda: _no_grad_forward(net, xp), dev, repeats)
    ta_op = torchattacks.OnePixel(net, pixels=1, steps=10, popsize=10)
    succ = {}

    def run_ta():
        np.random.seed(0)
        adv = ta_op(xp, yp)
        with torch.no_grad():
            succ["torchattacks"] = float((net(adv).argmax(1) != yp).float().mean())

    def run_ours():
        adv = robust.onepixel(net, xp, yp, pixels=1, popsize=10, steps=10,
                              generator=torch.Generator(dev).manual_seed(0))
        with torch.no_grad():
            succ["cnnlab"] = float((net(adv).argmax(1) != yp).float().mean())

    t_ta_op = timeit(run_ta, dev, 1, warmup=0)
    t_op = timeit(run_ours, dev, repeats)
    rows.append({"what": f"forward only (resnet18 {n_pix} x 32px)", "ms": t_fwd18 * 1e3})
    rows.append({"what": "one-pixel (pop 10, 10 gen)", "ms": t_op * 1e3, "anchor": "torchattacks OnePixel",
                 "anchor_ms": t_ta_op * 1e3, "speedup": t_ta_op / t_op, "vs_floor": t_op / (11 * t_fwd18), "k": 11,
                 "success": succ["cnnlab"], "anchor_success": succ["torchattacks"]})

    print(f"device {dev}, torch {torch.__version__}{' (quick)' if quick else ''}")
    head = f"{'what':<52} {'ms':>10} {'anchor ms':>10} {'speedup':>8} {'/ k floor':>9} {'success':>15}"
    print(head)
    print("-" * len(head))
    for r in rows:
        s = f"{r.get('success', 0):.2f} vs {r['anchor_success']:.2f}" if "success" in r else ""
        print(f"{r['what']:<52} {r['ms']:>10.1f} {_f(r.get('anchor_ms'), 10, '.1f')} "
              f"{_f(r.get('speedup'), 8, '.2f')} {_f(r.get('vs_floor'), 9, '.2f')} {s:>15}")
    print("speedup = anchor / cnnlab; '/ k floor' = cnnlab time / (k x floor): FGSM k=1, PGD-10 k=10 "
          "(floor = forward + input-backward); one-pixel k=11 forwards of all images")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


@torch.no_grad()
def _no_grad_forward(net, x):
    return net(x)


def _f(v, w: int, fmt: str) -> str:
    return f"{v:>{w}{fmt}}" if v is not None else " " * w


if __name__ == "__main__":
    main()
