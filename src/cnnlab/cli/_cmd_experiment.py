"""cnnlab experiment: the course notes' claims, measured (class imbalance and losses; transfer vs data size)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run an experiment from the course notes",
                       description="Experiments that turn the notes' claims into measured numbers.")
    exp = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", parser_class=type(p))
    exp.required = True

    im = exp.add_parser("imbalance", help="CE vs balanced CE vs focal vs class-balanced focal on long-tailed data",
                        description="Fashion-MNIST made long-tailed (--ratio 100 = 100:1), one LeNet-5 per loss, "
                        "balanced accuracy and minority-class recall on the balanced test set.")
    im.add_argument("--data", default="fashion-mnist")
    im.add_argument("--data-dir", default=None)
    im.add_argument("--ratio", type=float, default=100.0)
    im.add_argument("--n-max", type=int, default=6000, help="images of the largest class")
    im.add_argument("--epochs", type=int, default=5)
    im.add_argument("--model", default="lenet5")
    im.add_argument("--losses", nargs="+", default=None, help="loss names (default: ce balanced_ce focal "
                    "class_balanced_focal)")
    im.add_argument("--eval-subset", type=int, default=0, help="test images scored (0 = all)")
    im.add_argument("--quick", action="store_true", help="n-max 1000, 4 epochs, 2000 test images")
    _common(im)
    im.set_defaults(func=run_imbalance)

    tr = exp.add_parser("transfer", help="scratch vs linear probe vs fine-tune vs LP-FT as the labelled data grows",
                        description="Subsets of Fashion-MNIST and of the 8x8 digits: training from scratch, a "
                        "linear probe on ImageNet EfficientNet-Lite0 features, fine-tuning (same rates and epochs as "
                        "scratch) and LP-FT (the probe's classifier kept, then fine-tuned); test accuracy, epochs to "
                        "--target, a plot.")
    tr.add_argument("--data", nargs="+", default=["fashion-mnist", "digits"])
    tr.add_argument("--data-dir", default=None)
    tr.add_argument("--sizes", nargs="+", type=int, default=[100, 1000])
    tr.add_argument("--methods", nargs="+", default=["scratch", "linear", "finetune", "lpft"])
    tr.add_argument("--resize", type=int, default=32)
    tr.add_argument("--eval-subset", type=int, default=300, help="test images scored every epoch (0 = all)")
    tr.add_argument("--min-epochs", type=int, default=3)
    tr.add_argument("--min-steps", type=int, default=30)
    tr.add_argument("--max-epochs", type=int, default=15)
    tr.add_argument("--target", type=float, default=0.8)
    tr.add_argument("--quick", action="store_true", help="sizes 50 200, 200 test images, resize 24, 1-3 epochs")
    _common(tr)
    tr.set_defaults(func=run_transfer)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy CPU)")
    p.add_argument("--out", default=None, help="directory for the JSON / CSV (and plot)")
    p.add_argument("--json", action="store_true")


def _threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)


def run_imbalance(args: argparse.Namespace) -> int:
    import json

    from cnnlab import experiments, losses
    from cnnlab._format import percent, table

    _threads(args)
    n_max, epochs, eval_size = args.n_max, args.epochs, args.eval_subset or None
    if args.quick:
        n_max, epochs, eval_size = 1000, 4, 2000
    chosen = experiments.DEFAULT_LOSSES if args.losses is None else tuple(
        next(((n, o) for n, o in experiments.DEFAULT_LOSSES if n == name), (name, {})) for name in args.losses)
    for name, _ in chosen:
        losses.LOSSES.lookup(name)
    r = experiments.imbalance_experiment(args.data, ratio=args.ratio, n_max=n_max, losses=chosen, model=args.model,
                                    epochs=epochs, seed=args.seed, device=args.device, eval_size=eval_size,
                                    data_dir=args.data_dir, out_dir=args.out)
    if args.json:
        print(json.dumps({"rows": r.rows, "counts": r.counts, "settings": r.settings}, indent=2))
        return 0
    rows = [[x["loss"], percent(x["balanced_accuracy"]), percent(x["minority_recall"]), percent(x["rarest_recall"]),
             percent(x["majority_recall"]), f"{x['seconds']:.1f}"] for x in r.rows]
    print(f"{r.settings['dataset']}: {r.settings['train_images']} training images (per class "
          f"{', '.join(map(str, r.counts))}); minority classes {', '.join(map(str, r.settings['minority_classes']))}; "
          f"{r.settings['model']}, {epochs} epochs")
    print(table(["loss", "balanced_acc", "minority_recall", "rarest_recall", "majority_recall", "seconds"], rows,
                align="lrrrrr"))
    return 0


def run_transfer(args: argparse.Namespace) -> int:
    import json

    from cnnlab import experiments
    from cnnlab._format import percent, table

    _threads(args)
    kw = {"sizes": args.sizes, "eval_size": args.eval_subset or None, "resize": args.resize,
          "min_epochs": args.min_epochs, "min_steps": args.min_steps, "max_epochs": args.max_epochs}
    if args.quick:
        kw.update(sizes=[50, 200], eval_size=200, resize=24, min_epochs=1, min_steps=8, max_epochs=3)
    r = experiments.data_size_experiment(args.data, methods=args.methods, target=args.target, seed=args.seed,
                                      device=args.device, data_dir=args.data_dir, out_dir=args.out, **kw)
    if args.json:
        print(json.dumps({"rows": r.rows, "curves": r.curves, "settings": r.settings}, indent=2))
        return 0
    rows = [[x["dataset"], x["train_images"], x["method"], x["epochs"] or "-", percent(x.get("start_acc")),
             percent(x["test_acc"]), x["epochs_to_target"] or "-", f"{x['seconds']:.0f}"] for x in r.rows]
    print(table(["data", "images", "method", "epochs", "start_acc", "test_acc", f"epochs_to_{args.target:g}",
                 "seconds"], rows, align="lrlrrrrr"))
    if r.files:
        print("wrote " + ", ".join(str(f) for f in r.files))
    return 0
