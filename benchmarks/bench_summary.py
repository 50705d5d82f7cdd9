"""bench_summary: time ``cnnlab.analysis.summarize`` against torchinfo's ``summary`` on torchvision ResNet-50 and
GoogLeNet at 1x3x224x224, in the same run. Floor: one plain forward pass of the model on the device.

cnnlab traces on the meta device by default (nothing computed), so on the CPU it is compared with torchinfo,
which runs a real forward with hooks. ``--real`` makes cnnlab trace on the device too (same work as torchinfo).
Reports medians after a warm-up; absolute times mean something only on a quiet machine, ratios always.

    python benchmarks/bench_summary.py [--device cpu|cuda] [--repeats N] [--quick] [--real]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
import torchvision
from _timing import median_seconds as timed


def bench_one(name: str, device: str, repeats: int, real: bool) -> dict:
    import torchinfo

    from cnnlab.analysis import summarize

    size = (1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torchvision.models.get_model(name).eval().to(device)
    x = torch.rand(size, device=device)
    trace_dev = None if real else "meta"
    with torch.no_grad():
        forward = timed(lambda: model(x), device, repeats)
    ti = timed(lambda: torchinfo.summary(model, size, device=device, verbose=0), device, repeats)
    cl = timed(lambda: summarize(model, size, device=trace_dev), device, repeats)
    s = summarize(model, size, device=trace_dev)
    t = torchinfo.summary(model, size, device=device, verbose=0)
    assert s.total_params == t.total_params, (s.total_params, t.total_params)
    return {"model": name, "device": device, "trace": "real" if real else "meta",
            "forward_ms": forward * 1e3, "torchinfo_ms": ti * 1e3, "cnnlab_ms": cl * 1e3,
            "ratio_cnnlab_over_torchinfo": cl / ti, "cnnlab_over_forward": cl / forward,
            "params": s.total_params, "torchinfo_rows": len(t.summary_list), "cnnlab_rows": len(s.layers)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats (a CPU run well under 2 minutes)")
    ap.add_argument("--real", action="store_true", help="cnnlab traces on the device instead of meta")
    args = ap.parse_args()
    repeats = 3 if args.quick else args.repeats
    results = [bench_one(name, args.device, repeats, args.real) for name in ("resnet50", "googlenet")]
    print(f"{'model':10s} {'device':6s} {'trace':5s} {'forward ms':>10s} {'torchinfo ms':>12s} {'cnnlab ms':>10s} "
          f"{'cnnlab/torchinfo':>16s} {'cnnlab/forward':>14s}")
    for r in results:
        print(f"{r['model']:10s} {r['device']:6s} {r['trace']:5s} {r['forward_ms']:10.1f} {r['torchinfo_ms']:12.1f} "
              f"{r['cnnlab_ms']:10.1f} {r['ratio_cnnlab_over_torchinfo']:16.2f} {r['cnnlab_over_forward']:14.2f}")
    out = Path(__file__).parent / "results" / f"bench_summary_{args.device.replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repeats": repeats, "torch": torch.__version__, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
