"""cnnlab train-detector: train a detector on Pascal VOC / COCO data or generated scenes."""

from __future__ import annotations

import argparse

from cnnlab.cli._log import log_to_stderr


def _option(text: str) -> tuple[str, object]:
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE (a detector option), got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-detector", help="train a detector (R-CNN ... YOLO) on VOC / COCO data",
                       description="Train a detector (cnnlab.detect.names(): rcnn, fast-rcnn, faster-rcnn, mask-rcnn, "
                       "retinanet, ssd, yolo) with a cnnlab backbone (the pretrained EfficientNet-Lite0 by default) "
                       "on --data: voc:DIR[:SPLIT] (Pascal VOC or the Raccoon layout), coco:FILE, scenes[:OBJECTS:N:"
                       "SIZE]. Validates on the data's val split (else a hold-out of --val-fraction), early-stops on "
                       "validation mAP@0.5, writes OUT/detector.*, OUT/best/, OUT/metrics.csv and resumable states, "
                       "and evaluates on the test split. `cnnlab detect --model OUT` and `cnnlab eval-detector OUT` "
                       "use the result.")
    p.add_argument("--arch", required=True, help="detector name")
    p.add_argument("--data", required=True, help="voc:DIR[:SPLIT] | coco:FILE | scenes[:OBJECTS:N:SIZE]")
    p.add_argument("--val-data", default=None, help="validation data spec (default: the data's val split)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--backbone", default="efficientnet_lite0", help="cnnlab model name")
    p.add_argument("--weights", default="imagenet", help="the backbone's weights, or 'none' for a random init")
    p.add_argument("--size", type=int, default=None,
                   help="input size: the shorter side (R-CNNs, RetinaNet) or the square side (SSD, YOLO)")
    p.add_argument("--max-size", type=int, default=None, help="the longer side's limit (R-CNNs, RetinaNet)")
    p.add_argument("--set", dest="options", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="a detector option (JSON value), e.g. --set anchor_sizes=[16,32,64,128]; repeatable")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--optimizer", default="sgd", help="sgd | adam | adamw | rmsprop | adagrad | adadelta")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--backbone-lr", type=float, default=0.1, help="learning-rate multiplier of the backbone")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="onecycle", help="none | step | cosine | onecycle")
    p.add_argument("--no-augment", action="store_true", help="no flips, scale jitter or crops")
    p.add_argument("--val-fraction", type=float, default=0.2, help="hold-out when the data has no val split")
    p.add_argument("--eval-every", type=int, default=1, help="validate every N epochs")
    p.add_argument("--monitor", default="map50", help="map50 | map | voc_map")
    p.add_argument("--patience", type=int, default=0, help="early-stopping patience in validations (0: off)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also write a training state every N steps")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from cnnlab import detect
    from cnnlab._format import percent as _percent
    from cnnlab._format import table

    def percent(v):
        return "-" if v is None or v != v else _percent(v)

    detect.DETECTORS.lookup(args.arch)
    options = dict(args.options)
    if args.size is not None:
        options["size" if args.arch in ("ssd", "yolo") else ("crop_size" if args.arch == "rcnn" else "min_size")] = \
            args.size
    if args.max_size is not None:
        if args.arch in ("ssd", "yolo", "rcnn"):
            raise ValueError(f"--max-size does not apply to {args.arch} (it takes one --size)")
        options["max_size"] = args.max_size
    aug = {"hflip": False, "scale": (1.0, 1.0), "crop": 0.0} if args.no_augment else {}
    config = detect.DetectConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        backbone_lr=args.backbone_lr, weight_decay=args.weight_decay, schedule=args.schedule,
        val_fraction=args.val_fraction, eval_every=args.eval_every, monitor=args.monitor, patience=args.patience,
        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device, num_threads=args.threads,
        out_dir=args.out, progress=not args.quiet, **aug)
    weights = None if str(args.weights).lower() == "none" else args.weights
    with log_to_stderr("cnnlab.detect", not args.quiet):
        res = detect.train_detector(args.arch, args.data, config, val_spec=args.val_data, backbone=args.backbone,
                                    weights=weights, options=options, limit=args.limit, resume=args.resume,
                                    test=not args.no_test)
    h = res.history
    if args.json:
        print(json.dumps({"out_dir": res.out_dir, "history": h.to_json(), "train_images": res.train_images,
                          "val_images": res.val_images, "test": res.test.summary() if res.test else None}, indent=2))
        return 0
    losses = [k for k in (h.rows[0] if h.rows else {}) if k.startswith("loss")]
    rows = [[r["epoch"], *(f"{r[k]:.4f}" for k in losses),
             percent(r["val_map50"]) if "val_map50" in r else "", percent(r["val_map"]) if "val_map" in r else "",
             f"{r['lr']:.3g}", f"{r['seconds']:.0f}"] for r in h.rows]
    print(table(["epoch", *[k.removeprefix("loss_") for k in losses], "val AP50", "val AP", "lr", "s"], rows))
    print(f"{res.train_images} training / {res.val_images} validation images; {h.seconds:.0f} s of training")
    if h.best_epoch is not None:
        print(f"best validation {h.monitor} {percent(h.best_metric)} at epoch {h.best_epoch}"
              + (" (stopped early)" if h.stopped_early else ""))
    if res.test is not None:
        t = res.test
        print(f"test: mAP@0.5 {percent(t.map50)}, mAP@[.5:.95] {percent(t.map)}, VOC mAP {percent(t.voc_map)} on "
              f"{t.images} images ({t.ms_per_image:.0f} ms/image)")
    print(f"detector: {res.out_dir}")
    return 0
