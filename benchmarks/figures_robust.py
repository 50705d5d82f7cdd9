"""The README figures of cnnlab.robust on Fashion-MNIST.

Trains a small CNN (LeNet-5 with ReLU and max-pooling) three ways -- standard, PGD adversarial training
(Madry; eps 0.1, --adv-steps steps) and FGSM with random start (Wong et al. 2020; eps 0.1, step 1.25 eps) -- then
measures clean and PGD-20 (eps 0.1) accuracy on the test set, the FGSM/PGD per-epoch probe for catastrophic
overfitting, and the one-pixel success rate at Su et al.'s settings (population 400, 100 generations).
Checkpoints go to runs/robust/<name> (used by the README's CLI examples); numbers to
benchmarks/results/figures_robust.json.

Training uses cnnlab.train.fit (Adam 1e-3, batch 128); the adversarial runs go through
robust.adversarial_training (fit with perturb=..., plus the per-epoch FGSM / PGD probe).

    python benchmarks/figures_robust.py                 # ~30 min on 2 CPU cores
    python benchmarks/figures_robust.py --quick         # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cnnlab import data, models, robust


def train(name: str, method: str | None, tr, te, args) -> tuple[torch.nn.Module, list[dict]]:
    """Train with cnnlab.train.fit (adversarially through robust.adversarial_training)."""
    from cnnlab import train as engine

    net = models.create("lenet5", activation="relu", pool="max")
    cfg = engine.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam", lr=1e-3,
                             weight_decay=0.0, schedule="none", seed=0, device=args.device, num_threads=1,
                             out_dir=str(Path("runs/robust") / f"{name}_run"))
    probe = te.subset(slice(len(te) - 500, len(te)))  # held out of the evaluation images
    if method is None:
        hist = engine.fit(net, tr, probe, cfg)
        x, y = probe.floats().to(args.device), probe.labels.to(args.device)
        last = robust.robust_accuracies(net, x, y, eps=args.eps, pgd_steps=10)
        log = [{"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "seconds": r.seconds}
               for r in hist.rows]
        log[-1].update({f"probe_{k}": v for k, v in last.items()})
    else:
        res = robust.adversarial_training(net, tr, probe, cfg, method=method, eps=args.eps, steps=args.adv_steps,
                                          probe_size=500)
        log = [{"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "seconds": r.seconds,
                **{f"probe_{k}": v for k, v in p.items() if k != "epoch"}}
               for r, p in zip(res.history.rows, res.probes)]
    for row in log:
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    models.save_checkpoint(Path("runs/robust") / name, net.cpu(), extra={"adversarial": method, "eps": args.eps})
    return net.to(args.device).eval(), log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--adv-steps", type=int, default=7, help="PGD steps in adversarial training")
    ap.add_argument("--train-size", type=int, default=60000, help="training images used")
    ap.add_argument("--eval", type=int, default=1000, help="test images for clean / PGD-20 accuracy")
    ap.add_argument("--onepixel", type=int, default=20, help="test images for the one-pixel attack")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    tr, te = data.fashion_mnist("train"), data.fashion_mnist("test")
    tr = tr.subset(slice(0, args.train_size))
    if args.quick:
        args.epochs, args.eval, args.onepixel = 1, 200, 20
        tr = tr.subset(slice(0, 5000))
    ev = te.subset(slice(0, args.eval))
    out = {"settings": vars(args), "models": {}}
    for name, method in (("standard", None), ("pgd", "pgd"), ("fgsm_rs", "fgsm")):
        net, log = train(name, method, tr, te, args)
        clean = robust.evaluate_attack(net, ev, "fgsm", eps=0.0)
        p20 = robust.evaluate_attack(net, ev, "pgd", eps=args.eps, steps=20)
        probed = [r for r in log if "probe_pgd" in r]
        co = robust.detect_catastrophic_overfitting([r["probe_fgsm"] for r in probed], [r["probe_pgd"] for r in probed])
        out["models"][name] = {"clean_accuracy": clean.clean_accuracy, "pgd20_accuracy": p20.robust_accuracy,
                               "catastrophic_overfitting_epoch": co, "log": log}
        print(name, "clean", round(clean.clean_accuracy, 4), "pgd20", round(p20.robust_accuracy, 4), flush=True)
        if name == "standard":
            sub = te.subset(slice(0, args.onepixel))
            for tag, kw in (("su", robust.SU_SETTINGS), ("default", {})):
                t0 = time.perf_counter()
                r = robust.evaluate_attack(net, sub, "onepixel", generator=torch.Generator(args.device).manual_seed(0),
                                           **kw)
                out["models"][name][f"onepixel_{tag}"] = {"n": r.n, "clean_accuracy": r.clean_accuracy,
                                                          "success_rate": r.success_rate,
                                                          "seconds": time.perf_counter() - t0}
                print("onepixel", tag, out["models"][name][f"onepixel_{tag}"], flush=True)
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/figures_robust.json").write_text(json.dumps(out, indent=2))
    print(f"{'model':<10} {'clean':>7} {'PGD-20':>7}")
    for name, m in out["models"].items():
        print(f"{name:<10} {m['clean_accuracy']:>7.4f} {m['pgd20_accuracy']:>7.4f}")


if __name__ == "__main__":
    main()
