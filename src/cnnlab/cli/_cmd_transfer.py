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
    p.add_argument("--resize", type=int, default=64, help="side the network sees (at least 8; checked against "
                   "the network and the machine's memory)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone-lr-mult", type=float, default=0.1)
    p.add_argument("--freeze-bn", action="store_true", help="freeze every batch-norm layer's statistics")
    p.add_argument("--loss", default="ce", help="a cnnlab.losses name (default ce)")
    p.add_argument("--new-head", action="store_true", help="a new random classifier even when the source "
                   "checkpoint already classifies these classes (by default its trained classifier is kept, with "
                   "its batch-norm statistics)")
    p.add_argument("--allow-random", action="store_true", help="accept a registry model without pretrained "
                   "weights (random weights: a scratch baseline); refused otherwise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="checkpoint directory, e.g. runs/NAME")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import data, transfer
    from cnnlab._checks import check_int
    from cnnlab._format import percent, table

    cfg = transfer.TransferConfig(mode=args.mode, resize=check_int("--resize", args.resize, 8), epochs=args.epochs,
                                  batch_size=args.batch_size, lr=args.lr, backbone_lr_mult=args.backbone_lr_mult,
                                  freeze_bn=args.freeze_bn, loss=args.loss, subset=args.subset, seed=args.seed,
                                  device=args.device, keep_head=False if args.new_head else None,
                                  allow_random=args.allow_random)
    check_int("--eval-subset", args.eval_subset, 0)
    train = data.load_dataset(args.data, "train", data_dir=args.data_dir)
    test = data.load_dataset(args.data, "test", data_dir=args.data_dir)
    if args.eval_subset:
        test = data.stratified_subset(test, args.eval_subset, seed=args.seed + 1)
    r = transfer.transfer(args.source, train, config=cfg, eval_data=test, out_dir=args.out)
    if args.json:
        print(json.dumps({"checkpoint": str(r.checkpoint), "mode": cfg.mode, "train_images": r.train_images,
                          "eval_images": len(test), "eval_accuracy": r.eval_accuracy,
                          "kept_head": r.extra.get("kept_head", False),
                          "trainable_params": r.trainable_params, "frozen_params": r.frozen_params,
                          "seconds": round(r.seconds, 2), "history": r.history}, indent=2))
        return 0
    rows = [[h["epoch"], f"{h['train_loss']:.4f}" if "train_loss" in h else "-", percent(h["train_acc"]),
             percent(h.get("eval_acc")), f"{h['seconds']:.1f}"] for h in r.history]
    if r.extra.get("start_accuracy") is not None:
        rows.insert(0, [0, "-", "-", percent(r.extra["start_accuracy"]), "-"])
    print(table(["epoch", "train loss", "train acc", "test acc", "s"], rows, align="rrrrr"))
    kept = "; kept the source's classifier and its batch-norm statistics" if r.extra.get("kept_head") else ""
    print(f"{cfg.mode}: {r.train_images} training images, {r.trainable_params:,} trainable / "
          f"{r.frozen_params:,} frozen parameters{kept}; test accuracy {percent(r.eval_accuracy)} on "
          f"{len(test)} images")
    print(f"checkpoint: {r.checkpoint}")
    return 0
