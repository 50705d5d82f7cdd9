"""Semantic segmentation on CamVid (the SegNet tutorial's protocol) and segments from gradients on the Raccoon photos.

What it measures:
  train NAME  one final run of a recipe (``cnnlab.segment`` recipes, e.g. segnet_basic-camvid, unet_lite0-camvid)
              on CamVid train (367 images), validated on val (101), evaluated on test (233): global accuracy,
              class-average accuracy, mIoU and per-class IoU over the 11 classes, void (label 11) ignored, one
              confusion matrix over the split (the tutorial's definitions); CPU training time.
  evaluate NAME  the latest checkpoint of a stopped ``train`` run (runs/bench-segment/NAME/state) on CamVid test,
              labelled with the epochs it completed of those planned: figures of an interrupted run, never a final one.
              ``--undo-weights TAU|auto``: with the run's class weights undone after training (segment.undo_weights;
              auto picks tau on CamVid val, never on test).
  tune        short runs of a few settings on train, scored by mIoU on val (never on test).
  speed       time per training epoch (367 images, batch 4, estimated from timed steps) and inference ms/image at
              360x480, for every architecture, as CPU seconds of one thread (on the shared machine the wall time of
              the same call was several times longer); the forward pass's share of a training step is printed.
  weak        segments and boxes from gradients (``segment.from_attribution``) with the ImageNet EfficientNet-Lite0,
              no training: CorLoc (box IoU >= 0.5 with a true box) and mean IoU on the 40 Raccoon test photos, per
              explanation method and refinement, against a centred box of the training photos' average size; the
              threshold is chosen on 60 of the training photos.
  report      the tables (fixed width) from the JSON files the other stages wrote under benchmarks/results/.

CPU runs train at half resolution (180x240, labels by nearest neighbour), labelled so in every table; full-resolution
figures need a GPU (none was lent to this task). The machine's two cores are shared with other jobs: absolute CPU
times are only indicative; ratios measured in the same run are the comparable figures.

Usage:
    nice -n 10 python benchmarks/bench_segment.py train segnet_basic-camvid --epochs 30 --threads 1
    python benchmarks/bench_segment.py train segnet_basic-camvid-crops --epochs 60 --threads 2 --no-val --full \
        --channels-last
    python benchmarks/bench_segment.py evaluate unet_lite0-camvid --runs /tmp/runs/bench-segment
    python benchmarks/bench_segment.py evaluate unet_lite0-camvid --undo-weights auto --tag=-20ep
    python benchmarks/bench_segment.py tune --recipe unet_lite0-camvid --lr 1e-3 3e-3 --epochs 3
    python benchmarks/bench_segment.py speed
    python benchmarks/bench_segment.py weak
    python benchmarks/bench_segment.py report
    python benchmarks/bench_segment.py --quick       # a smoke run of every stage on a few images (minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from cnnlab import _device, data, models, segment, train
from cnnlab._format import table
from cnnlab._io import atomic_write_json

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
RUNS = ROOT.parent / "runs" / "bench-segment"
CAMVID = os.environ.get("CNNLAB_CAMVID", "/work/shared/data/camvid")
RACCOON = os.environ.get("CNNLAB_RACCOON", "/work/shared/data/raccoon")
HALF = (180, 240)
FULL = (360, 480)
# the SegNet tutorial's SegNet-Basic on CamVid test (global, class average, mIoU), and published PyTorch figures
TUTORIAL = {"segnet_basic": (82.8, 62.3, 46.3)}
PUBLISHED_MIOU = {"SegNet, VGG-16 ImageNet encoder (public PyTorch)": 58.96, "U-Net": 48.7, "FCN-32s": 49.3}
NO_GPU = "not measured: no GPU lent to this task"
THRESHOLDS = (0.05, 0.1, 0.2, 0.35, 0.5)
WEAK_TRAIN = 60  # training photos the threshold is chosen on (the first 60 of the author's 160)


def _log_to_stderr() -> None:
    log = logging.getLogger("cnnlab.train")
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)


def _config(recipe: segment.Recipe, *, epochs: int, threads: int, out: Path | None, **changes) -> train.TrainConfig:
    kw = {**recipe.train, "epochs": epochs, "device": "cpu", "num_threads": threads, "progress": False,
          "tensorboard": False, "out_dir": str(out) if out is not None else None, **changes}
    return train.TrainConfig(**kw)


def _crop(recipe: segment.Recipe) -> list[int] | None:
    """The ``(h, w)`` crops the recipe trains on (``None``: whole images)."""
    return list(recipe.segment["crop"]) if recipe.segment.get("crop") else None


def _hardware() -> dict:
    """The machine, as benchmarks/make_results.py reads it (``machine``); ``gpu`` None: none was used."""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bfloat16": _device.cpu_has_native(torch.bfloat16),
            "shared": "the 2 cores were shared with other jobs", "gpu": None, "gpu_figures": NO_GPU}


# ------------------------------------------------------------------------------------------------------ train


def run_train(name: str, *, epochs: int, threads: int, limit: int | None = None, resume: bool = False,
              tag: str = "", validate: bool = True, channels_last: bool = False, amp: bool = False,
              size: tuple[int, int] = HALF) -> dict:
    """One final run of recipe ``name`` on images of ``size`` (default half resolution), tested at that size;
    writes results/segment-train-NAME.json."""
    rec = segment.recipe(name)
    out = RUNS / (name + tag)
    cfg = _config(rec, epochs=epochs, threads=threads, out=out, channels_last=channels_last, amp=amp)
    t0 = time.perf_counter()
    run = segment.train_segmenter(rec.arch, f"camvid:{CAMVID}", cfg, options=segment.SegmentConfig(**rec.segment),
                                  size=size, limit=limit, model_kwargs=rec.model, resume=resume, validate=validate)
    m = run.test.metrics
    rows = run.history.to_json()["rows"]
    seconds = sum(r["seconds"] for r in rows) if rows else run.seconds  # a resumed run: every epoch, not this session's
    doc = {"recipe": name, "arch": rec.arch, "note": rec.note, "resolution": list(size), "epochs": epochs,
           "crop": _crop(rec), "params": run.params,
           "train_seconds": seconds, "wall_seconds": time.perf_counter() - t0,
           "threads": threads, "limit": limit, "validated": validate, "channels_last": channels_last,
           "amp": cfg.amp_dtype if cfg.amp else None,
           "test": run.test.summary(),
           "global": 100 * m.global_accuracy, "class_avg": 100 * m.class_accuracy, "miou": 100 * m.miou,
           "iou": {c: None if v != v else 100 * v for c, v in zip(m.classes, m.iou.tolist())},
           "history": rows, "class_weights": run.class_weights, "run_dir": str(out),
           "machine": _hardware()}
    atomic_write_json(RESULTS / f"segment-train-{name}{tag}.json", doc)
    print(f"{name}: global {doc['global']:.1f} / class avg {doc['class_avg']:.1f} / mIoU {doc['miou']:.1f} "
          f"after {epochs} epochs ({seconds / 3600:.2f} h)")
    return doc


def run_evaluate(name: str, *, threads: int, tag: str = "", hflip: bool = False, undo: str | None = None) -> dict:
    """The latest checkpoint of the run ``RUNS/NAME`` on CamVid test at the size it trained at; writes
    results/segment-train-NAME.json (NAME-hflip.json with flip test-time augmentation) with ``epochs`` = the epochs
    it completed and ``planned_epochs`` = those its config asked for. ``undo``: ``segment.undo_weights`` of the run's
    class weights with this tau, or ``"auto"``: the tau of 0, .25, .5, .75, 1 with the best mIoU on CamVid *val*
    (NAME-undo.json)."""
    torch.set_num_threads(threads)
    rec = segment.recipe(name)
    run_dir = RUNS / (name + tag)
    state = run_dir / "state"
    latest = state / (state / "LATEST").read_text().strip()
    meta = json.loads((latest / "train_state.json").read_text())["meta"]
    net = segment.load(latest)
    size = tuple(json.loads((run_dir / "segmenter.json").read_text())["size"])  # what the run trained at
    tau, sweep = None, []
    weights = segment.run_class_weights(run_dir) if undo is not None else None
    if undo is not None:
        if undo == "auto":
            val = data.camvid(CAMVID, "val", size=size)
            for t, vm in segment.undo_weights_sweep(net, val, weights, hflip=hflip):
                sweep.append({"tau": t, "val_global": 100 * vm.global_accuracy,
                              "val_class_avg": 100 * vm.class_accuracy, "val_miou": 100 * vm.miou})
                print(f"val, tau {t:g}: global {sweep[-1]['val_global']:.1f} / class avg "
                      f"{sweep[-1]['val_class_avg']:.1f} / mIoU {sweep[-1]['val_miou']:.1f}", flush=True)
            tau = max(sweep, key=lambda d: d["val_miou"])["tau"]
        else:
            tau = float(undo)
    adjustment = None if tau is None else segment.undo_weights(weights, tau)
    test = data.camvid(CAMVID, "test", size=size)
    r = segment.evaluate(net, test, hflip=hflip, adjustment=adjustment)
    m = r.metrics
    curve = []  # the whole trade-off on test, for the record: tau itself was chosen on val above
    if sweep:
        curve = [{"tau": t, "global": 100 * tm.global_accuracy, "class_avg": 100 * tm.class_accuracy,
                  "miou": 100 * tm.miou}
                 for t, tm in segment.undo_weights_sweep(net, test, weights, hflip=hflip)]
    hist = meta["history"]
    doc = {"recipe": name, "arch": rec.arch, "note": rec.note, "resolution": list(size), "epochs": meta["epoch"],
           "planned_epochs": meta["config"]["epochs"], "stopped": meta["epoch"] < meta["config"]["epochs"],
           "params": sum(p.numel() for p in net.parameters()),
           "train_seconds": sum(h["seconds"] for h in hist), "threads": meta["config"]["num_threads"],
           "test": r.summary(), "global": 100 * m.global_accuracy, "class_avg": 100 * m.class_accuracy,
           "miou": 100 * m.miou, "iou": {c: None if v != v else 100 * v for c, v in zip(m.classes, m.iou.tolist())},
           "history": hist, "checkpoint": str(latest), "hflip": hflip, "undo_weights": tau,
           "undo_weights_val": sweep, "undo_weights_test_curve": curve,
           "amp": meta["config"]["amp_dtype"] if meta["config"].get("amp") else None,
           "crop": _crop(rec), "machine": _hardware()}
    suffix = ("-hflip" if hflip else "") + ("-undo" if tau is not None else "")
    atomic_write_json(RESULTS / f"segment-train-{name}{tag}{suffix}.json", doc)
    undone = f", class weights undone with tau {tau:g}" if tau is not None else ""
    print(f"{name}{' (flip TTA)' if hflip else ''}{undone} after {doc['epochs']} of {doc['planned_epochs']} epochs: "
          f"global {doc['global']:.1f} / class avg {doc['class_avg']:.1f} / mIoU {doc['miou']:.1f}")
    return doc


# ------------------------------------------------------------------------------------------------------- tune


def run_tune(name: str, lrs: list[float], *, epochs: int, threads: int, limit: int | None = None) -> list[dict]:
    """Short runs of recipe ``name`` at each learning rate: mIoU on CamVid *val*."""
    rec = segment.recipe(name)
    val = data.camvid(CAMVID, "val", size=HALF)
    rows = []
    path = RESULTS / "segment-tune.json"
    for lr in lrs:
        cfg = _config(rec, epochs=epochs, threads=threads, out=None, lr=lr)
        t0 = time.perf_counter()
        run = segment.train_segmenter(rec.arch, f"camvid:{CAMVID}", cfg, options=segment.SegmentConfig(**rec.segment),
                                      size=HALF, limit=limit, model_kwargs=rec.model, test=False)
        r = segment.evaluate(run.model, val)
        row = {"recipe": name, "lr": lr, "epochs": epochs, "limit": limit, "val_miou": 100 * r.metrics.miou,
               "val_global": 100 * r.metrics.global_accuracy, "val_class_avg": 100 * r.metrics.class_accuracy,
               "seconds": time.perf_counter() - t0}
        print(json.dumps(row), flush=True)
        rows.append(row)
        done = json.loads(path.read_text()) if path.is_file() else []  # other tune runs may have written meanwhile
        atomic_write_json(path, done + [row])
    return rows


# ------------------------------------------------------------------------------------------------------ speed


def _cpu_seconds(fn, *, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(median CPU seconds of this process, median wall seconds) of ``fn()``: on a shared machine the CPU time of a
    single-threaded call is what it costs, the wall time is what the other jobs left of it."""
    for _ in range(warmup):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def run_speed(names: list[str], *, threads: int, steps: int = 3, size: tuple[int, int] = FULL,
              amp: bool = False) -> list[dict]:
    """CPU seconds per training step (batch 4) and per image of inference (batch 1) at ``size``, one thread;
    ``amp``: both under bfloat16 autocast (results/segment-speed-HxW-bf16.json)."""
    torch.set_num_threads(threads)
    path = RESULTS / f"segment-speed-{size[0]}x{size[1]}{'-bf16' if amp else ''}.json"
    rows = json.loads(path.read_text())["rows"] if path.is_file() else []  # a later run replaces its names' rows
    rows = [r for r in rows if r["recipe"] not in names]
    for name in names:
        rec = segment.recipe(name) if name in segment.recipe_names() else segment.Recipe(arch=name)
        kw = dict(rec.model)
        kw.pop("backbone_weights", None)  # weights do not change the speed
        net = segment.create(rec.arch, num_classes=11, **kw)
        params = sum(p.numel() for p in net.parameters())
        opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
        x = torch.rand(4, 3, *size)
        y = torch.randint(0, 11, (4, *size))
        loss_fn = segment.segmentation_loss("ce", ignore_index=11)

        def step(net=net, opt=opt, x=x, y=y, loss_fn=loss_fn) -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(net(x).float(), y)
            loss.backward()
            opt.step()

        def infer(net=net, x1=x[:1]) -> None:
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                net(x1)

        net.train()
        step_cpu, step_wall = _cpu_seconds(step, repeats=steps)
        net.eval()
        inf_cpu, inf_wall = _cpu_seconds(infer, repeats=max(3, steps))
        steps_per_epoch = 367 // 4
        row = {"model": rec.arch, "recipe": name, "params": params, "size": list(size),
               "train_step_cpu_s": step_cpu, "train_step_wall_s": step_wall, "epoch_cpu_s": step_cpu * steps_per_epoch,
               "infer_cpu_ms": 1000 * inf_cpu, "infer_wall_ms": 1000 * inf_wall,
               "forward_share_of_step": inf_cpu * 4 / step_cpu, "threads": threads,
               "amp": "bfloat16" if amp else None}
        print(json.dumps(row), flush=True)
        rows.append(row)
        atomic_write_json(path, {"rows": rows, "machine": _hardware()})
    return rows


# ------------------------------------------------------------------------------------------------------- weak


def raccoon_boxes(split: str) -> list[tuple[Path, torch.Tensor]]:
    """(image path, true boxes ``Tensor[K, 4]`` x1y1x2y2 pixels, far edge) of the author's split, read from the
    Pascal VOC xml files with ``xml.etree`` (a private reader for these photos only: VOC's 1-based inclusive
    ``xmin..xmax`` becomes ``xmin - 1 .. xmax``)."""
    root = Path(RACCOON)
    names = []
    for line in (root / "data" / f"{split}_labels.csv").read_text().splitlines()[1:]:
        fname = line.split(",")[0]
        if fname and fname not in names:
            names.append(fname)
    out = []
    for fname in names:
        doc = ET.parse(root / "annotations" / (Path(fname).stem + ".xml")).getroot()
        boxes = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
                 for o in doc.findall("object")]
        b = torch.tensor(boxes).reshape(-1, 4)
        b[:, :2] -= 1
        out.append((root / "images" / fname, b))
    return out


def run_weak(*, threads: int, limit: int | None = None, train_limit: int = WEAK_TRAIN) -> dict:
    """CorLoc and mean IoU of boxes from gradients on the Raccoon test photos."""
    from torchvision.ops import box_iou

    torch.set_num_threads(threads)
    net = models.create("efficientnet_lite0", weights="imagenet").eval()
    train_set, test_set = raccoon_boxes("train"), raccoon_boxes("test")
    baseline_set = list(train_set)  # the baseline's average box size comes from all training photos
    train_set = train_set[:train_limit]
    if limit is not None:
        train_set, test_set = train_set[:limit], test_set[:limit]
    # the baseline: a centred box of the training photos' average relative size
    rel = []
    for path, b in baseline_set:
        w, h = _image_size(path)
        rel += [((bx[2] - bx[0]) / w, (bx[3] - bx[1]) / h) for bx in b.tolist()]
    rw, rh = statistics.fmean(r[0] for r in rel), statistics.fmean(r[1] for r in rel)

    def score(pred: list[torch.Tensor], truth: list[torch.Tensor]) -> tuple[float, float]:
        best = [float(box_iou(p[None], t).max()) for p, t in zip(pred, truth)]
        return 100 * sum(v >= 0.5 for v in best) / len(best), 100 * statistics.fmean(best)

    truth = [b for _, b in test_set]
    rows = []
    centred = []
    for path, _ in test_set:
        w, h = _image_size(path)
        centred.append(torch.tensor([w * (1 - rw) / 2, h * (1 - rh) / 2, w * (1 + rw) / 2, h * (1 + rh) / 2]))
    corloc, miou = score(centred, truth)
    rows.append({"method": "centred box (baseline)", "refine": "-", "threshold": None, "corloc": corloc,
                 "miou": miou, "cpu_seconds_per_image": 0.0})
    images_train = [data.load_image(p) for p, _ in train_set]
    images_test = [data.load_image(p) for p, _ in test_set]
    boxes_train = [b for _, b in train_set]
    for method in ("gradcam", "saliency", "guided"):
        t0 = time.process_time()  # CPU seconds of this (single-threaded) process: the shared machine's wall is longer
        heat_test = segment.attribution_heatmaps(net, images_test, method=method)
        secs_map = (time.process_time() - t0) / len(images_test)
        heat_train = segment.attribution_heatmaps(net, images_train, method=method)
        for refine in ("threshold", "grabcut"):
            # the threshold is chosen on the training photos, then fixed for the test photos
            best_t, best_c = None, -1.0
            for t in THRESHOLDS:
                c, _ = score([segment.segment_heatmap(h, refine=refine, threshold=t).box for h in heat_train],
                             boxes_train)
                if c > best_c:
                    best_t, best_c = t, c
            t0 = time.process_time()
            segs = [segment.segment_heatmap(h, refine=refine, threshold=best_t) for h in heat_test]
            secs = secs_map + (time.process_time() - t0) / len(images_test)
            corloc, miou = score([s.box for s in segs], truth)
            row = {"method": method, "refine": refine, "threshold": best_t, "train_corloc": best_c,
                   "corloc": corloc, "miou": miou, "cpu_seconds_per_image": secs}
            print(json.dumps(row), flush=True)
            rows.append(row)
    doc = {"rows": rows, "test_images": len(test_set), "threshold_images": len(train_set),
           "baseline_images": len(baseline_set), "thresholds": list(THRESHOLDS),
           "baseline_relative_size": [rw, rh], "machine": _hardware()}
    atomic_write_json(RESULTS / "segment-weak.json", doc)
    return doc


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:
        return img.size


# ----------------------------------------------------------------------------------------------------- report


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def report() -> str:
    lines = []
    trained = sorted(RESULTS.glob("segment-train-*.json"))
    if trained:
        docs = [json.loads(p.read_text()) for p in trained]
        classes = data.CAMVID_CLASSES
        head = ["model", "params", "trained on", "tested at", "epochs", "global", "class avg", "mIoU",
                "train h (wall, shared)"]

        def label(d: dict) -> str:
            return (d["recipe"] + (" (limit)" if d.get("limit") else "") + (" (bf16)" if d.get("amp") else "")
                    + (" + flip TTA" if d.get("hflip") else "")
                    + (f", weights undone (tau {d['undo_weights']:g}, chosen on val)" if d.get("undo_weights_val")
                       else f", weights undone (tau {d['undo_weights']:g})" if d.get("undo_weights") is not None
                       else ""))

        def trained_on(d: dict) -> str:
            hw = "x".join(map(str, d["resolution"]))
            return f"{'x'.join(map(str, d['crop']))} crops of {hw}" if d.get("crop") else hw

        rows = [[label(d), f"{d['params'] / 1e6:.2f}M", trained_on(d), "x".join(map(str, d["resolution"])),
                 f"{d['epochs']} of {d['planned_epochs']} (stopped)" if d.get("stopped") else d["epochs"],
                 _fmt(d["global"]), _fmt(d["class_avg"]), _fmt(d["miou"]), f"{d['train_seconds'] / 3600:.2f}"]
                for d in docs]
        for name, (g, c, mi) in TUTORIAL.items():
            rows.append([f"{name} (SegNet tutorial)", "", "360x480", "360x480", "", g, c, mi, ""])
        lines.append("CamVid test (233 images), void ignored; 180x240 is half resolution, 360x480 the SegNet protocol")
        lines.append(table(head, rows))
        rows = [[label(d), "x".join(map(str, d["resolution"]))] + [_fmt(d["iou"].get(c)) for c in classes]
                for d in docs]
        lines.append("per-class IoU (%), CamVid test")
        lines.append(table(["model", "tested at", *classes], rows))
    for size, amp in ((FULL, ""), (FULL, "-bf16"), (HALF, "")):
        p = RESULTS / f"segment-speed-{size[0]}x{size[1]}{amp}.json"
        if p.is_file():
            doc = json.loads(p.read_text())
            rows = [[r["recipe"], f"{r['params'] / 1e6:.2f}M", f"{r['train_step_cpu_s']:.1f}",
                     f"{r['epoch_cpu_s'] / 60:.1f}", f"{r['infer_cpu_ms']:.0f}",
                     f"{r['train_step_cpu_s'] / ref:.2f}x"]
                    for r in doc["rows"] for ref in [doc["rows"][0]["train_step_cpu_s"]]]
            lines.append(f"speed at {size[0]}x{size[1]}{', bfloat16 autocast' if amp else ''}: CPU seconds of one "
                         "thread (wall seconds in the "
                         f"JSON); GPU: {NO_GPU}")
            lines.append(table(["model", "params", "train step CPU s (batch 4)", "epoch CPU min (367 images)",
                                "inference CPU ms/image", f"step vs {doc['rows'][0]['recipe']}"], rows))
    p = RESULTS / "segment-weak.json"
    if p.is_file():
        doc = json.loads(p.read_text())
        cpu = all("cpu_seconds_per_image" in r for r in doc["rows"])  # earlier runs recorded wall seconds
        key = "cpu_seconds_per_image" if cpu else "seconds_per_image"
        rows = [[r["method"], r["refine"], _fmt(r["threshold"], 2), _fmt(r.get("train_corloc")), _fmt(r["corloc"]),
                 _fmt(r["miou"]), f"{r[key]:.2f}"] for r in doc["rows"]]
        lines.append(f"boxes from gradients, Raccoon test ({doc['test_images']} photos), ImageNet EfficientNet-Lite0, "
                     f"no training; threshold chosen on {doc['threshold_images']} training photos from "
                     f"{', '.join(str(t) for t in doc['thresholds'])}")
        lines.append(table(["method", "refine", "threshold", "train CorLoc %", "CorLoc %", "mean IoU %",
                            "CPU s/image" if cpu else "wall s/image (shared CPU)"], rows))
    text = "\n\n".join(lines)
    print(text)
    return text


def quick(threads: int) -> None:
    """Every stage on a few images: checks the script, measures nothing worth reporting."""
    global RESULTS, RUNS
    RESULTS, RUNS = RESULTS / "quick", RUNS / "quick"
    run_speed(["segnet_basic-camvid", "unet_lite0-camvid"], threads=threads, steps=1, size=HALF)
    run_tune("unet_lite0-camvid", [2e-3], epochs=1, threads=threads, limit=8)
    run_train("lraspp_lite0-camvid", epochs=1, threads=threads, limit=8)
    run_weak(threads=threads, limit=4)
    report()


def main(argv: list[str] | None = None) -> int:
    global RUNS
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", nargs="?", default="report", choices=["train", "evaluate", "tune", "speed", "weak",
                                                                     "report"])
    p.add_argument("recipes", nargs="*", help="recipe names (train, speed)")
    p.add_argument("--recipe", default="unet_lite0-camvid", help="tune: the recipe")
    p.add_argument("--lr", type=float, nargs="+", default=[1e-3, 3e-3], help="tune: learning rates")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--resume", action="store_true", help="train: continue the run in runs/bench-segment/NAME")
    p.add_argument("--no-val", action="store_true", help="train: no per-epoch validation pass")
    p.add_argument("--channels-last", action="store_true", help="train: channels-last memory format")
    p.add_argument("--amp", action="store_true", help="train, speed: bfloat16 autocast (on an AMX CPU SegNet-Basic "
                   "trains 2-4x faster, the Lite0 models slower; refused where bfloat16 is emulated: "
                   "benchmarks/README.md)")
    p.add_argument("--tag", default="", help="train, evaluate: suffix of the run directory and results file")
    p.add_argument("--hflip", action="store_true", help="evaluate: flip test-time augmentation (NAME-hflip.json)")
    p.add_argument("--undo-weights", default=None, metavar="TAU|auto", help="evaluate: undo the run's class weights "
                   "(segment.undo_weights); auto: the tau with the best mIoU on CamVid val (NAME-undo.json)")
    p.add_argument("--full", action="store_true", help="train: load (and test) CamVid at 360x480, not 180x240")
    p.add_argument("--runs", default=None, help="train, evaluate: the folder of run directories "
                   "(default runs/bench-segment next to benchmarks/)")
    p.add_argument("--steps", type=int, default=3, help="speed: timed repeats per measurement")
    p.add_argument("--quick", action="store_true", help="smoke run of every stage")
    args = p.parse_args(argv)
    if args.amp:
        try:
            _device.check_autocast(torch.device("cpu"), torch.bfloat16, "--amp")
        except ValueError as exc:
            p.error(str(exc))
    _log_to_stderr()
    if args.runs is not None:
        RUNS = Path(args.runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.quick:
        quick(args.threads)
    elif args.stage == "train":
        for name in args.recipes:
            run_train(name, epochs=args.epochs, threads=args.threads, limit=args.limit, resume=args.resume,
                      validate=not args.no_val, channels_last=args.channels_last, amp=args.amp, tag=args.tag,
                      size=FULL if args.full else HALF)
    elif args.stage == "evaluate":
        for name in args.recipes:
            run_evaluate(name, threads=args.threads, tag=args.tag, hflip=args.hflip, undo=args.undo_weights)
    elif args.stage == "tune":
        run_tune(args.recipe, args.lr, epochs=args.epochs, threads=args.threads, limit=args.limit)
    elif args.stage == "speed":
        names = args.recipes or ["segnet_basic-camvid", "unet_lite0-camvid", "fcn8s_lite0-camvid",
                                 "lraspp_lite0-camvid", "fcn32s", "fcn16s", "unet", "segnet", "deeplabv3"]
        run_speed(names, threads=args.threads, steps=args.steps, amp=args.amp)
    elif args.stage == "weak":
        run_weak(threads=args.threads, limit=args.limit)
    else:
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
