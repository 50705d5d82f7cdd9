"""cnnlab eval: accuracy, per-class accuracy and confusion matrix of a checkpoint on a dataset."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a checkpoint on a dataset",
                       description="Accuracy, per-class accuracy and the confusion matrix (PNG) of a checkpoint "
                       "(a `cnnlab train` run directory) on a split of fashion-mnist | cifar10:DIR | folder:DIR | "
                       "digits.")
    p.add_argument("checkpoint", help="checkpoint directory (or a registry name)")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--png", default=None, help="confusion-matrix PNG (default CHECKPOINT/confusion-DATA-SPLIT.png, "
                   "one per data set and split, beside CHECKPOINT/eval-DATA-SPLIT.json)")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from cnnlab import train
    from cnnlab._format import percent, table

    r = train.evaluate_checkpoint(args.checkpoint, args.data, split=args.split, data_dir=args.data_dir,
                                  batch_size=args.batch_size, device=args.device, limit=args.limit)
    base = args.checkpoint if os.path.isdir(args.checkpoint) else "."
    doc_path, png = train.write_eval(r, base, args.data, args.split, png=args.png)
    if args.json:
        print(json.dumps({**r.summary(), "png": str(png), "json": str(doc_path)}, indent=2))
        return 0
    rows = [[name, int(r.confusion[i].sum()), "-" if acc != acc else percent(acc)]
            for i, (name, acc) in enumerate(zip(r.classes, r.per_class_accuracy.tolist()))]
    print(table(["class", "images", "accuracy"], rows, align="lrr"))
    print(f"accuracy {percent(r.accuracy)} on {r.n} images of {args.data} ({args.split}), loss {r.loss:.4f}; "
          f"confusion matrix: {png}; results: {doc_path}")
    return 0
