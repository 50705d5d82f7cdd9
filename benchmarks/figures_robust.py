"""The README figures of cnnlab.robust on Fashion-MNIST.

Trains a small CNN (LeNet-5 with ReLU and max-pooling) three ways -- standard, PGD adversarial training
(Madry; eps 0.1, --adv-steps steps) and FGSM with random start (Wong et al. 2020; eps 0.1, step 1.25 eps) -- then
measures clean and PGD-20 (eps 0.1) accuracy on the test set, the FGSM/PGD per-epoch probe for catastrophic
overfitting, and the one-pixel success rate at Su et al.'s settings (population 400, 100 generations).
Checkpoints go to runs/robust/<name> (used by the README's CLI examples); numbers to
benchmarks/results/figures_robust.json.

Training uses cnnlab.train.fit(..., perturb=...) when cnnlab.train exists, else a plain Adam loop.

    python benchmarks/figures_robust.py                 # ~30 min on 2 CPU cores
    python benchmarks/figures_robust.py --quick         # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab import data, models, robust


def train(name: str, method: str | None, tr, te, args) -> tuple[torch.nn.Module, list[dict]]:
    torch.manual_seed(0)
    net = models.create("lenet5", activation="relu", pool="max").to(args.device)
    perturb = robust.adversarial_perturb(method, eps=args.eps, steps=args.adv_steps) if method else None
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x_all, y_all = tr.floats(), tr.labels
    probe_x, probe_y = te.floats()[-500:].to(args.device), te.labels[-500:].to(args.device)
    log = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(y_all))
        total, right, loss_sum = 0, 0, 0.0
        for s in range(0, len(perm), args.batch_size):
            idx = perm[s: s + args.batch_size]
            x, y = x_all[idx].to(args.device), y_all[idx].to(args.device)
            if perturb is not None:
                x = perturb(net, x, y)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += len(y)
            right += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
        probe = robust.robust_accuracies(net, probe_x, probe_y, eps=args.eps, pgd_steps=10)
        row = {"epoch": epoch, "train_loss": loss_sum / total, "train_acc": right / total,
               "seconds": time.perf_counter() - t0, **{f"probe_{k}": v for k, v in probe.items()}}
        log.append(row)
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
    ap.add_argument("--onepixel", type=int, default=100, help="test images for the one-pixel attack")
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
        co = robust.detect_catastrophic_overfitting([r["probe_fgsm"] for r in log], [r["probe_pgd"] for r in log])
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
