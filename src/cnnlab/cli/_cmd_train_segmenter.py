"""cnnlab train-segmenter: train a segmenter (FCN, U-Net, SegNet, DeepLabV3, LR-ASPP) on CamVid or your own
image/label folders through the training engine; checkpoints, resume, metrics.csv; test-split metrics."""

from __future__ import annotations

import argparse

from cnnlab.cli._log import log_to_stderr
from cnnlab.cli._types import nonneg, nonneg_int, positive, positive_int


def parse_hw(text: str | None, flag: str) -> tuple[int, int] | None:
    """``"180x240"`` or ``"180"`` -> ``(h, w)``."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{flag} must be H or HxW (e.g. 180x240), got {text!r}") from None
    if len(vals) not in (1, 2) or min(vals) < 1:
        raise ValueError(f"{flag} must be H or HxW with positive sizes, got {text!r}")
    return (vals[0], vals[-1])


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-segmenter", help="train a segmentation network (FCN, U-Net, SegNet, DeepLabV3, ...)",
                       description="Train a segmenter on camvid:DIR | segfolder:DIR | scenes through cnnlab's "
                       "training engine (pixel-wise loss with void ignored, median-frequency class weights, joint "
                       "flips/zooms of image and label), validate on the val split when there is one, evaluate on "
                       "the test split (global / class-average accuracy, per-class IoU, mIoU). OUT holds the "
                       "checkpoint: `cnnlab eval-segmenter OUT` and `cnnlab segment IMAGE --model OUT` use it. "
                       "Options left unset come from --recipe, else from cnnlab.segment.DEFAULT_TRAIN.")
    p.add_argument("--arch", default=None, help="segmenter: fcn32s | fcn16s | fcn8s | unet | unet_lite0 | "
                   "segnet_basic | segnet | deeplabv3 | lraspp (default: the recipe's)")
    p.add_argument("--recipe", default=None, help="named settings, e.g. segnet_basic-camvid, unet_lite0-camvid, "
                   "unet-scenes")
    p.add_argument("--data", required=True, help="camvid:DIR | segfolder:DIR | scenes")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--size", default=None, help="train at HxW (e.g. 180x240, half of CamVid's 360x480)")
    p.add_argument("--epochs", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--optimizer", default=None, help="sgd | adam | adamw | rmsprop | ...")
    p.add_argument("--lr", type=positive, default=None)
    p.add_argument("--weight-decay", type=nonneg, default=None)
    p.add_argument("--schedule", default=None, help="none | step | cosine | onecycle")
    p.add_argument("--loss", default=None, help="ce | focal | dice | ce+dice (default ce)")
    p.add_argument("--class-weighting", default=None, help="median_frequency | none (default median_frequency)")
    p.add_argument("--no-hflip", action="store_true", help="no random flips")
    p.add_argument("--scale", type=positive, nargs=2, default=None, metavar=("MIN", "MAX"), help="random zoom range")
    p.add_argument("--crop", default=None, help="train on random HxW crops")
    p.add_argument("--backbone", default=None, help="backbone of fcn*/deeplabv3/lraspp/unet_lite0 (a cnnlab model)")
    p.add_argument("--backbone-weights", default=None, help="pretrained backbone weights, e.g. imagenet")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=nonneg_int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast; on a CPU with AMX it speeds up dense "
                   "convolutions (SegNet-Basic 2-4x) and slows depthwise ones (the Lite0 models): measure first; "
                   "refused on a CPU that only emulates bfloat16 (AVX2)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--limit", type=positive_int, default=None, help="train on the first N images only")
    p.add_argument("--resume", action="store_true", help="continue the run in --out with its saved settings")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import segment, train
    from cnnlab._format import percent, table

    model_kw = {"backbone": args.backbone, "backbone_weights": args.backbone_weights}
    train_kw = {"epochs": args.epochs, "batch_size": args.batch_size, "optimizer": args.optimizer, "lr": args.lr,
                "weight_decay": args.weight_decay, "schedule": args.schedule}
    seg_kw = {"loss": args.loss, "class_weighting": args.class_weighting, "hflip": False if args.no_hflip else None,
              "scale": tuple(args.scale) if args.scale else None, "crop": parse_hw(args.crop, "--crop")}
    arch, model_kw, train_kw, seg_kw = segment.training_settings(args.arch, args.recipe, model=model_kw,
                                                                 train=train_kw, segment=seg_kw)
    segment.SEGMENTERS.lookup(arch)
    config = train.TrainConfig(**{**train_kw, "seed": args.seed, "device": args.device, "out_dir": args.out,
                                  "num_threads": args.threads, "progress": not args.quiet,
                                  "amp": args.amp, "channels_last": args.channels_last})
    with log_to_stderr("cnnlab.train", not args.quiet):
        res = segment.train_segmenter(arch, args.data, config, options=segment.SegmentConfig(**seg_kw),
                                      size=parse_hw(args.size, "--size"), limit=args.limit, model_kwargs=model_kw,
                                      resume=args.resume, test=not args.no_test)
    h = res.history
    if args.json:
        print(json.dumps({"out_dir": res.out_dir, "arch": arch, "params": res.params,
                          "history": h.to_json(), "class_weights": res.class_weights,
                          "test": res.test.summary() if res.test else None}, indent=2))
        return 0
    rows = [[r.epoch, f"{r.train_loss:.4f}", percent(r.train_acc), "" if r.val_loss is None else f"{r.val_loss:.4f}",
             "" if r.val_acc is None else percent(r.val_acc), f"{r.lr:.3g}", f"{r.seconds:.1f}"] for r in h.rows]
    print(table(["epoch", "train loss", "pixel acc", "val loss", "val pixel acc", "lr", "s"], rows))
    if res.test is not None:
        m = res.test.metrics
        print(f"test: global accuracy {percent(m.global_accuracy)}, class average {percent(m.class_accuracy)}, "
              f"mIoU {percent(m.miou)} ({res.test.n} images at {res.test.size[0]}x{res.test.size[1]})")
    print(f"{arch}: {res.params:,} parameters; checkpoint: {res.out_dir}")
    return 0
