"""cnnlab eval-segmenter: global / class-average accuracy, per-class IoU and mIoU of a trained segmenter on a split."""

from __future__ import annotations

import argparse

from cnnlab.cli._types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-segmenter", help="evaluate a segmenter: global / class accuracy, IoU, mIoU",
                       description="Evaluate a `cnnlab train-segmenter` run on a split of camvid:DIR | "
                       "segfolder:DIR | scenes: one confusion matrix over the split (void pixels ignored) gives "
                       "global accuracy, class-average accuracy, per-class IoU and mIoU. Writes a per-class IoU "
                       "chart and example predictions (PNG) beside the run.")
    p.add_argument("run", metavar="RUN", help="run (checkpoint) directory")
    p.add_argument("--data", default=None, help="camvid:DIR | segfolder:DIR | scenes (default: the run's)")
    p.add_argument("--split", default="test")
    p.add_argument("--size", default=None, help="evaluate at HxW (default: the size the run was trained at)")
    p.add_argument("--limit", type=positive_int, default=None, help="the first N images only")
    p.add_argument("--out", default=None, help="where the PNGs go (default RUN)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--hflip", action="store_true", help="flip test-time augmentation: average each image's class "
                   "probabilities with its mirror image's (twice the inference)")
    p.add_argument("--undo-weights", default=None, metavar="TAU|auto", help="subtract TAU x log(class weight) "
                   "from the class log-probabilities (0-1; 1 undoes the run's median-frequency weights: more global "
                   "accuracy, less class average); auto: the TAU of 0, .25, .5, .75, 1 with the best mIoU on the val "
                   "split")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _pct(v: float) -> str:
    from cnnlab._format import percent

    return "-" if v != v else percent(v)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from cnnlab import data, segment
    from cnnlab._checks import check_int
    from cnnlab._format import table
    from cnnlab._plot import save_figure
    from cnnlab.cli._cmd_train_segmenter import parse_hw

    if not os.path.exists(args.run):
        raise FileNotFoundError(f"no such run directory: {args.run!r}")
    check_int("--batch-size", args.batch_size)
    model = segment.load(args.run, map_location=args.device)
    spec = args.data or segment.load_run_options(args.run).get("data")
    if spec is None:
        raise ValueError(f"{args.run!r} does not say which data it was trained on: pass --data")
    size = parse_hw(args.size, "--size") or tuple(model.cnnlab.input_size[1:])
    ds = data.load_segmentation(spec, args.split, size=size)
    if args.limit is not None:
        ds = ds.subset(slice(0, check_int("--limit", args.limit)))
    adjustment, tau, sweep = undo_weights_adjustment(args, model, spec, size)
    r = segment.evaluate(model, ds, batch_size=args.batch_size, device=args.device, keep=4, hflip=args.hflip,
                         adjustment=adjustment)
    m = r.metrics
    out = Path(args.out or (args.run if os.path.isdir(args.run) else "."))
    iou_png = save_figure(segment.iou_figure({model.cnnlab.name: m}, title=f"{spec} {args.split}"),
                          out / f"iou-{args.split}.png")
    palette = data.segmentation_palette(ds.classes)
    ex_png = save_figure(segment.examples_figure(ds.images[:4], ds.labels[:4], r.predictions, palette, ds.classes,
                                                 ignore_index=ds.ignore_index), out / f"examples-{args.split}.png")
    if args.json:
        print(json.dumps({**r.summary(), "undo_weights": tau, "undo_weights_val": sweep, "iou_png": str(iou_png),
                          "examples_png": str(ex_png)}, indent=2))
        return 0
    support = m.confusion.sum(1).tolist()
    rows = [[c, support[i], _pct(m.per_class_accuracy[i].item()), _pct(m.iou[i].item())]
            for i, c in enumerate(m.classes)]
    print(table(["class", "pixels", "accuracy", "IoU"], rows, align="lrrr"))
    if sweep:
        print("undo-weights on val: " + ", ".join(f"tau {d['tau']:g}: mIoU {_pct(d['miou'])}" for d in sweep))
    undone = f", class weights undone with tau {tau:g}" if tau is not None else ""
    print(f"global accuracy {_pct(m.global_accuracy)}, class average {_pct(m.class_accuracy)}, mIoU {_pct(m.miou)} "
          f"on {r.n} images at {size[0]}x{size[1]} ({spec} {args.split}{undone}); charts: {iou_png}, {ex_png}")
    return 0


def undo_weights_adjustment(args: argparse.Namespace, model, spec: str, size: tuple[int, int]):
    """``--undo-weights``: ``(adjustment or None, tau or None, the val sweep for auto)``; ``ValueError`` naming the
    value for a run without class weights, a TAU outside 0-1 or a data set without a val split."""
    from cnnlab import data, segment
    from cnnlab._checks import check_number

    if args.undo_weights is None:
        return None, None, []
    weights = segment.run_class_weights(args.run)
    rows = []
    if args.undo_weights == "auto":
        val = data.load_segmentation(spec, "val", size=size)
        if args.limit is not None:
            val = val.subset(slice(0, args.limit))
        sweep = segment.undo_weights_sweep(model, val, weights, batch_size=args.batch_size, device=args.device,
                                           hflip=args.hflip)
        rows = [{"tau": t, "global": m.global_accuracy, "class_avg": m.class_accuracy, "miou": m.miou}
                for t, m in sweep]
        tau = max(rows, key=lambda d: d["miou"])["tau"]
    else:
        try:
            tau = float(args.undo_weights)
        except ValueError:
            raise ValueError(f"--undo-weights must be a number in [0, 1] or auto, got {args.undo_weights!r}") from None
        tau = check_number("--undo-weights", tau, minimum=0.0, maximum=1.0)
    return segment.undo_weights(weights, tau), tau, rows
