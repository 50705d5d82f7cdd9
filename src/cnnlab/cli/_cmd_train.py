"""cnnlab train: train a registered model on a dataset, checkpoint it, evaluate it on the test split."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (checkpoints, resume, ensembles, DDP)",
                       description="Train a registered model on fashion-mnist | cifar10:DIR | folder:DIR | digits, "
                       "save checkpoints in --out, evaluate on the test split. Metrics go to OUT/metrics.csv "
                       "(and TensorBoard when installed); `cnnlab eval OUT` and `cnnlab predict --model OUT` "
                       "use the result.")
    p.add_argument("--model", required=True, help="registry name (cnnlab models)")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist | cifar10:DIR | folder:DIR | digits")
    p.add_argument("--data-dir", default=None, help="where Fashion-MNIST's IDX files are")
    p.add_argument("--out", default=None, help="run directory (default runs/MODEL)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128, help="global batch (split over --nproc processes)")
    p.add_argument("--optimizer", default="sgd", help="sgd | rmsprop | adagrad | adam | adamw | adadelta")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--schedule", default="onecycle", help="none | step | cosine | onecycle")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--loss", default="ce")
    p.add_argument("--crop-padding", type=int, default=0, help="random crop with this zero padding")
    p.add_argument("--hflip", action="store_true", help="random horizontal flips")
    p.add_argument("--pca-noise", type=float, default=0.0, help="AlexNet PCA colour noise std (RGB; 0.1 in the paper)")
    p.add_argument("--init", default="default", help="default | xavier | kaiming")
    p.add_argument("--val-fraction", type=float, default=0.1, help="held out for validation / early stopping")
    p.add_argument("--patience", type=int, default=0, help="early stopping patience in epochs (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--ensemble", type=int, default=1, metavar="N", help="train N seeds and average them")
    p.add_argument("--nproc", type=int, default=1, metavar="N", help="DDP over N processes (torchrun)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run, parser=p)


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """The command line of a DDP worker: this one without --nproc."""
    argv = []
    for action in args.parser._actions:
        dest = action.dest
        if dest in ("help", "nproc") or not action.option_strings:
            continue
        value = getattr(args, dest)
        if isinstance(action, argparse._StoreTrueAction):
            if value:
                argv.append(action.option_strings[0])
        elif value is not None and value != action.default:
            argv += [action.option_strings[0], str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    import os

    from cnnlab import models, train
    from cnnlab._format import table

    models.MODELS.lookup(args.model)
    out = args.out or os.path.join("runs", args.model)
    config = train.TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay, schedule=args.schedule,
        label_smoothing=args.label_smoothing, loss=args.loss, crop_padding=args.crop_padding, hflip=args.hflip,
        pca_noise=args.pca_noise, init=args.init, val_fraction=args.val_fraction, patience=args.patience,
        seed=args.seed, device=args.device, amp=args.amp, compile=args.compile, channels_last=args.channels_last,
        out_dir=out, checkpoint_every=args.checkpoint_every, num_threads=args.threads, progress=not args.quiet)
    if args.nproc > 1:
        if args.ensemble > 1:
            raise ValueError("--nproc and --ensemble cannot be combined")
        train.load_run_data(args.data, data_dir=args.data_dir, test=False)  # bad data: one line, before launch
        return train.launch_distributed(args.nproc, ["train", *_worker_argv(args)])
    if args.nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {args.nproc}")
    log = logging.getLogger("cnnlab.train")
    handler = None
    if not args.quiet and int(os.environ.get("RANK", "0")) == 0:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    try:
        res = train.run_training(args.model, args.data, config, data_dir=args.data_dir, limit=args.limit,
                                 ensemble=args.ensemble, resume=args.resume, test=not args.no_test)
    finally:
        if handler is not None:
            log.removeHandler(handler)
    if res.rank != 0:
        return 0
    h = res.history
    if args.json:
        doc = {"out_dir": res.out_dir, "history": h.to_json(),
               "test": res.test.summary() if res.test else None,
               "members": [r.accuracy for r in res.members],
               "ensemble": res.ensemble.accuracy if res.ensemble else None}
        print(json.dumps(doc, indent=2))
        return 0
    rows = [[r.epoch, f"{r.train_loss:.4f}", f"{r.train_acc:.2%}",
             "" if r.val_loss is None else f"{r.val_loss:.4f}", "" if r.val_acc is None else f"{r.val_acc:.2%}",
             f"{r.lr:.3g}", f"{r.seconds:.1f}", f"{r.images_per_s:.0f}"] for r in h.rows]
    print(table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "s", "img/s"], rows))
    if res.members:
        print(table(["model", "test acc"], [[f"seed {args.seed + i}", f"{r.accuracy:.2%}"]
                                             for i, r in enumerate(res.members)]
                    + [[f"ensemble of {len(res.members)}", f"{res.ensemble.accuracy:.2%}"]]))
    elif res.test is not None:
        print(f"test accuracy {res.test.accuracy:.2%} ({res.test.n} images), loss {res.test.loss:.4f}")
    if h.stopped_early:
        print(f"stopped early; best epoch {h.best_epoch}")
    print(f"checkpoint: {res.out_dir}")
    return 0
