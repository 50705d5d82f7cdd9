"""The README figures of cnnlab.robust on Fashion-MNIST (``cnnlab.experiments.robust_figures``).

Trains LeNet-5 (ReLU, max pooling) three ways -- standard, PGD adversarial training (eps 0.1, --adv-steps steps)
and FGSM with random start -- then measures clean and PGD-20 (eps 0.1) accuracy on the test set, the FGSM/PGD
per-epoch probe for catastrophic overfitting, and the one-pixel success rate at Su et al.'s settings. Checkpoints
go to runs/robust/<name> (used by the README's CLI examples); numbers to benchmarks/results/figures_robust.json.

    python benchmarks/figures_robust.py                 # ~30 min on 2 CPU cores
    python benchmarks/figures_robust.py --quick         # a smoke run
"""

from __future__ import annotations

import argparse

import torch

from cnnlab import data, experiments


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
    r = experiments.robust_figures(tr, te, epochs=args.epochs, batch_size=args.batch_size, eps=args.eps,
                                   adv_steps=args.adv_steps, eval_size=args.eval, onepixel=args.onepixel,
                                   device=args.device, run_dir="runs/robust", out_dir="benchmarks/results")
    print(f"{'model':<10} {'clean':>7} {'PGD-20':>7}")
    for name, m in r.models.items():
        print(f"{name:<10} {m['clean_accuracy']:>7.2%} {m['pgd20_accuracy']:>7.2%}")
    if "onepixel_su" in r.models["standard"]:
        for tag in ("su", "default"):
            o = r.models["standard"][f"onepixel_{tag}"]
            print(f"one-pixel ({tag}): {o['success_rate']:.1%} of {o['n']} images, {o['seconds']:.0f} s")
    print("wrote " + ", ".join(str(f) for f in r.files))


if __name__ == "__main__":
    main()
