"""Time-to-accuracy on Fashion-MNIST: cnnlab.train's recipe against the plain PyTorch reference loop.

The reference is the classic PyTorch MNIST example, unchanged: conv 32 -> conv 64 -> max-pool -> dropout ->
FC 9216-128-10, Adadelta lr 1.0, StepLR gamma 0.7, batch 64, a DataLoader over the same tensors. Both are timed
in the same run, training time only (the test-set evaluation after each epoch is excluded for both); the
reported figure is the training time until the test accuracy first reaches the target.

cnnlab's recipes (``--recipe``) are the package's own, ``cnnlab.train.recipe(NAME)`` (``cnnlab train --recipe NAME``
trains the same): ``cpu`` (fastnet_small 16-32-64, 3 epochs, batch 256, SGD Nesterov lr 0.2, one-cycle, label
smoothing 0.1, channels-last), ``gpu`` (widths 64-128-256, batch 512, 8 epochs: 93% on a GPU) and ``resnet``
(resnet_small at 32-64-128 with crops and flips, 16 epochs: >= 94.5%). Data live on the device as uint8.

Floors: the time of one forward and of one forward+backward pass over the training set at the recipe's batch
size, for each network (what an epoch cannot beat).

Usage:
    python benchmarks/bench_train.py --quick                 # CPU, about 2 minutes
    python benchmarks/bench_train.py --device cuda --amp --compile --recipe gpu --target 0.93
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _timing import machine
from _timing import synchronize as sync
from torch import nn

from cnnlab import data, models, train


class ReferenceNet(nn.Module):
    """pytorch/examples mnist/main.py, verbatim."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def reference_run(tr, te, device, target, max_epochs, seed=1):
    """The example's train/test loop; returns per-epoch (cumulative train seconds, test accuracy)."""
    torch.manual_seed(seed)
    norm = lambda im: (im.float() / 255 - 0.1307) / 0.3081  # noqa: E731  (the example's Normalize)
    ds = torch.utils.data.TensorDataset(norm(tr.images), tr.labels)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True)
    x_te, y_te = norm(te.images).to(device), te.labels.to(device)
    model = ReferenceNet().to(device)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    rows, total = [], 0.0
    for epoch in range(max_epochs):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            opt.step()
        sched.step()
        sync(device)
        total += time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = sum((model(x_te[i:i + 1000]).argmax(1) == y_te[i:i + 1000]).sum().item()
                      for i in range(0, len(y_te), 1000)) / len(y_te)
        rows.append({"epoch": epoch + 1, "seconds": total, "test_acc": acc})
        print(f"  reference epoch {epoch + 1}: {total:7.1f} s  test {acc:.2%}", file=sys.stderr)
        if acc >= target:
            break
    return rows


def bench_recipes() -> list[str]:
    """The package's recipes tuned on Fashion-MNIST (the data this benchmark trains on)."""
    return [n for n in train.recipe_names() if train.get_recipe(n).data == "fashion-mnist"]


def cnnlab_run(recipe, tr, te, device, args):
    r = train.get_recipe(recipe)
    overrides = dict(device=str(device), seed=args.seed, progress=False, tensorboard=False, amp=args.amp,
                     compile=args.compile, num_threads=args.threads, eval_batch_size=2000)
    if args.epochs:
        overrides["epochs"] = args.epochs
    cfg = train.recipe(recipe, **overrides)
    torch.manual_seed(args.seed)
    model = models.create(r.model, **r.model_options)
    warm = 0.0
    if args.compile:  # compile / warm-up, reported separately: a throw-away copy trains a few steps
        t0 = time.perf_counter()
        train.fit(models.create(r.model, **r.model_options), tr.subset(slice(0, cfg.batch_size * 3)), None,
                  cfg.replace(epochs=1))
        sync(device)
        warm = time.perf_counter() - t0
    hist = train.fit(model, tr, te, cfg)  # te as validation: reported, never used to choose anything
    rows, total = [], 0.0
    for row in hist.rows:
        total += row.seconds
        rows.append({"epoch": row.epoch, "seconds": total, "test_acc": row.val_acc})
        print(f"  cnnlab {recipe} epoch {row.epoch}: {total:7.1f} s  test {row.val_acc:.2%}", file=sys.stderr)
    return rows, warm, cfg


def floor(model, batch, n, device, backward, repeats=5, channels_last=False):
    """Median seconds of one pass over n images (forward, or forward+backward) at this batch size."""
    model = model.to(device).train()
    x = torch.rand(batch, *(1, 28, 28), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    steps = max(1, n // batch)
    times = []
    for i in range(repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            if backward:
                model(x).float().sum().backward()
            else:
                with torch.no_grad():
                    model(x)
        sync(device)
        if i:  # the first pass is the warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def first_reaching(rows, target):
    for r in rows:
        if r["test_acc"] >= target:
            return r
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--target", type=float, default=None, help="test accuracy (default 0.90; 0.83 with --quick)")
    p.add_argument("--recipe", default="cpu", choices=bench_recipes(), help="a cnnlab.train recipe")
    p.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    p.add_argument("--ref-epochs", type=int, default=4, help="most epochs of the reference loop")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="train on the first 15,000 images to 83%%, reference capped at 2 epochs, floors on 2,048")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_train.json"))
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    tr, te = data.fashion_mnist("train"), data.fashion_mnist("test")
    if args.quick:
        tr = tr.subset(slice(0, 15000))
    if args.target is None:
        args.target = 0.83 if args.quick else 0.90
    r = train.get_recipe(args.recipe)
    n_floor = 2048 if args.quick else min(len(tr), 8192)  # floors are rates: a subset suffices
    reps = 3 if args.quick else 5
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}", file=sys.stderr)

    ours, warm, cfg = cnnlab_run(args.recipe, tr, te, device, args)
    ref = reference_run(tr, te, device, args.target, 2 if args.quick else args.ref_epochs)
    net = models.create(r.model, **r.model_options)
    fl = {
        "cnnlab_forward": floor(net, cfg.batch_size, n_floor, device, False, reps, cfg.channels_last),
        "cnnlab_fwd_bwd": floor(net, cfg.batch_size, n_floor, device, True, reps, cfg.channels_last),
        "reference_forward": floor(ReferenceNet(), 64, n_floor, device, False, repeats=reps),
        "reference_fwd_bwd": floor(ReferenceNet(), 64, n_floor, device, True, repeats=reps),
    }
    scale = len(tr) / n_floor
    fl = {k: v * scale for k, v in fl.items()}  # per epoch of the training set

    o, f = first_reaching(ours, args.target), first_reaching(ref, args.target)
    ratio = (f["seconds"] / o["seconds"]) if (o and f) else None
    lines = [
        f"{'':<28}{'epochs':>7}{'train s':>10}{'test acc':>10}{'s/epoch':>10}{'fwd s':>8}{'f+b s':>8}",
        f"{'cnnlab ' + args.recipe + ' (' + r.model + ')':<28}{len(ours):>7}{ours[-1]['seconds']:>10.1f}"
        f"{ours[-1]['test_acc']:>10.2%}{ours[-1]['seconds'] / len(ours):>10.1f}{fl['cnnlab_forward']:>8.1f}"
        f"{fl['cnnlab_fwd_bwd']:>8.1f}",
        f"{'reference (MNIST example)':<28}{len(ref):>7}{ref[-1]['seconds']:>10.1f}{ref[-1]['test_acc']:>10.2%}"
        f"{ref[-1]['seconds'] / len(ref):>10.1f}{fl['reference_forward']:>8.1f}{fl['reference_fwd_bwd']:>8.1f}",
        "",
        f"time to {args.target:.0%}: cnnlab "
        + (f"{o['seconds']:.1f} s (epoch {o['epoch']})" if o else "not reached")
        + ", reference " + (f"{f['seconds']:.1f} s (epoch {f['epoch']})" if f else "not reached")
        + (f", speed-up {ratio:.1f}x" if ratio else "")
        + (f"; compile/warm-up {warm:.1f} s (excluded)" if args.compile else ""),
    ]
    print("\n".join(lines))
    doc = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "target": args.target, "recipe": args.recipe, "config": cfg.to_json(), "cnnlab": ours, "reference": ref,
           "floors_s_per_epoch": fl, "speedup": ratio, "compile_warmup_s": warm, "quick": args.quick,
           "train_images": len(tr), "test_images": len(te), "model": r.model,
           "model_options": {k: list(v) if isinstance(v, tuple) else v for k, v in r.model_options.items()},
           "machine": machine(device)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
