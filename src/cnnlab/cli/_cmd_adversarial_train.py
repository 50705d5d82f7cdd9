"""cnnlab adversarial-train: PGD or FGSM-with-random-start training with the catastrophic-overfitting probe."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import nonneg_int, positive, positive_int, unit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adversarial-train", help="adversarial training (PGD / fast FGSM) with cnnlab.train",
        description="Train MODEL (a registry name, random init) on a dataset with every batch replaced by its "
        "adversarial twin; after each epoch report clean / FGSM / PGD accuracy on held-out images and flag "
        "catastrophic overfitting. The checkpoint goes to --out (see cnnlab.train.fit).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--data", required=True, help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--method", default="pgd", choices=["pgd", "fgsm"])
    p.add_argument("--eps", type=unit, default=0.1)
    p.add_argument("--steps", type=positive_int, default=7, help="PGD steps per batch")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=positive, default=1e-3)
    p.add_argument("--limit", type=positive_int, default=None, help="training images used")
    p.add_argument("--probe", type=positive_int, default=512, help="test images attacked after each epoch")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--out", default=None, help="checkpoint directory")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnlab import data, models, robust, train
    from cnnlab._device import resolve_device
    from cnnlab._format import percent, table

    device = resolve_device(args.device, "--device")
    tr, te = data.load_dataset(args.data, "train"), data.load_dataset(args.data, "test")
    if args.limit:
        tr = tr.subset(slice(0, args.limit))
    c = tr.images.shape[1]
    model = models.create(args.model, num_classes=len(tr.classes), in_channels=c)
    cfg = train.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                            schedule="none", weight_decay=0.0, seed=args.seed, device=str(device), out_dir=args.out)
    res = robust.adversarial_training(model, tr, te.subset(slice(0, args.probe)), cfg, method=args.method,
                                      eps=args.eps, steps=args.steps, probe_size=args.probe)
    rows = [[r.epoch, f"{r.train_loss:.4f}", percent(r.train_acc), percent(p["clean"]), percent(p["fgsm"]),
             percent(p["pgd"]), f"{r.seconds:.1f}"] for r, p in zip(res.history.rows, res.probes)]
    print(table(["epoch", "train loss", "train acc", "clean", "FGSM", "PGD-10", "s"], rows))
    co = res.catastrophic_epoch
    print("catastrophic overfitting: " + (f"detected at epoch {co}" if co else "not detected"))
    if args.out:
        print(f"checkpoints in {args.out}")
    return 0
