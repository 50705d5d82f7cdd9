"""cnnlab transfer: a pretrained network or checkpoint adapted to a new labelled dataset."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transfer", help="transfer a pretrained network or checkpoint to new data",
        description="New classifier, input adapter (resize, grey -> RGB), then a linear probe on cached features "
        "(--mode linear), training with the stem and first N blocks frozen (--mode freeze:N), or full "
        "fine-tuning with a smaller backbone learning rate (--mode finetune). Writes a checkpoint to --out.")
    p.add_argument("--from", dest="source", default="efficientnet_lite0", metavar="MODEL|CHECKPOINT",
                   help="registry name (its pretrained weights) or checkpoint directory")
    p.add_argument("--data", required=True, help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--data-dir", default=None, help="root for --data specs without a directory")
    p.add_argument("--mode", default="linear", help="linear | freeze:N | finetune (default linear)")
    p.add_argument("--subset", type=int, default=None, help="train on N labelled images (stratified)")
    p.add_argument("--eval-subset", type=int, default=1000, help="test images scored (0 = the whole test set)")
    p.add_argument("--resize", type=int, default=64, help="side the network sees (default 64)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone-lr-mult", type=float, default=0.1)
    p.add_argument("--freeze-bn", action="store_true", help="freeze every batch-norm layer's statistics")
    p.add_argument("--loss", default="ce", help="a cnnlab.losses name (default ce)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="checkpoint directory, e.g. runs/NAME")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import data, transfer
    from cnnlab._format import table

    cfg = transfer.TransferConfig(mode=args.mode, resize=args.resize or None, epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, backbone_lr_mult=args.backbone_lr_mult,
                                  freeze_bn=args.freeze_bn, loss=args.loss, subset=args.subset, seed=args.seed,
                                  device=args.device)
    if args.eval_subset is not None and args.eval_subset < 0:
        raise ValueError(f"--eval-subset must be >= 0, got {args.eval_subset}")
    train = data.load_dataset(args.data, "train", data_dir=args.data_dir)
    test = data.load_dataset(args.data, "test", data_dir=args.data_dir)
    if args.eval_subset:
        test = data.stratified_subset(test, args.eval_subset, seed=args.seed + 1)
    r = transfer.transfer(args.source, train, config=cfg, eval_data=test, out_dir=args.out)
    if args.json:
        print(json.dumps({"checkpoint": str(r.checkpoint), "mode": cfg.mode, "train_images": r.train_images,
                          "eval_images": len(test), "eval_accuracy": r.eval_accuracy,
                          "trainable_params": r.trainable_params, "frozen_params": r.frozen_params,
                          "seconds": round(r.seconds, 2), "history": r.history}, indent=2))
        return 0
    rows = [[h["epoch"], f"{h['train_loss']:.4f}" if "train_loss" in h else "-", f"{h['train_acc']:.4f}",
             f"{h['eval_acc']:.4f}", f"{h['seconds']:.1f}"] for h in r.history]
    print(table(["epoch", "train_loss", "train_acc", "test_acc", "seconds"], rows, align="rrrrr"))
    print(f"{cfg.mode}: {r.train_images} training images, {r.trainable_params:,} trainable / "
          f"{r.frozen_params:,} frozen parameters; test accuracy {r.eval_accuracy:.4f} on {len(test)} images")
    print(f"checkpoint: {r.checkpoint}")
    return 0
