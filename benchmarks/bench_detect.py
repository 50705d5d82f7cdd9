"""Object detection on real data: every cnnlab detector on the Raccoon and BCCD test splits, and the notes' speed claim.

What it measures (issue 14):
  train DET DATA   train one detector (rcnn, fast-rcnn, faster-rcnn, mask-rcnn, retinanet, ssd, yolo) on one data set
                   (raccoon: the author's 160 training photos, 20% of them held out for validation; bccd: its train
                   split, validated on its val split) from the ImageNet EfficientNet-Lite0 only, pick the epoch by
                   validation mAP@0.5, and evaluate once on the test split (raccoon 40, bccd 72 images): COCO mAP@0.5
                   and mAP@[.5:.95] (pycocotools), VOC all-point AP@0.5, per-class AP, training time, inference
                   ms/image, parameters. Writes CACHE/results/DET-DATA.json.
  speed            the notes' claim ("Fast R-CNN 25x faster than R-CNN, Faster R-CNN 250x"): inference time per
                   image of R-CNN, Fast R-CNN and Faster R-CNN with the same backbone and input size, on the same
                   images in the same run, with and without selective search; ratios printed.
  evaluate DET DATA  a run that was stopped before its last epoch (CACHE/runs/DET-DATA): its best-validation
                   detector (or, before the first validation, its newest training state) evaluated once on the test
                   split; the JSON says "partial" and how many of the planned epochs were trained.
  table            the fixed-width table of every run JSON, and benchmarks/results/bench_detect.json (the summary
                   that benchmarks/make_results.py renders into benchmarks/RESULTS.md).
  (no command)     all of the above in turn (hours on a CPU).

Times: the CPU seconds of this process (``time.process_time``, one thread) beside the wall seconds: on a shared
machine the wall clock measures the other jobs; the ratios come from the same run. Tuning used the validation
splits only; the test splits are evaluated once per run, at the end.

Usage:
    python benchmarks/bench_detect.py train faster-rcnn raccoon --threads 1
    python benchmarks/bench_detect.py speed --images 8
    python benchmarks/bench_detect.py table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from cnnlab import data, detect

SHARED = Path(os.environ.get("CNNLAB_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
if not SHARED.is_dir():
    SHARED = Path("/work/shared/data")
DATASETS = {"raccoon": f"voc:{SHARED / 'raccoon'}", "bccd": f"voc:{SHARED / 'bccd' / 'BCCD'}"}
SCENES = {"train": 300, "val": 60, "test": 100, "size": 128}  # generated scenes with masks: Mask R-CNN's data
RESULTS = Path(__file__).resolve().parent / "results"  # bench_detect.json: the summary that RESULTS.md renders
CACHE = Path(os.environ.get("CNNLAB_BENCH_CACHE", "/tmp/cnnlab-bench-cache"))
RUNS = CACHE / "results"  # one JSON per run (with its epoch history) and speed.json; `table` gathers them
SS_MAX_SIDE = 300  # selective search on images resized to this longer side (the detectors' default is 500): CPU

SIZE = 320  # the shorter side (two-stage, RetinaNet) or the square side (SSD, YOLO): CPU minutes, not hours
RACCOON_SIZE = 256  # most Raccoon photos are 259 x 194 or smaller: 256 loses nothing for them
TWO_STAGE = {"min_size": SIZE, "max_size": 544}
TWO_STAGE_R = {"min_size": RACCOON_SIZE, "max_size": 448}
# Per detector: options for raccoon (large objects) and bccd (cells of 15-120 px at this size), and the training
# budget (epochs on raccoon, epochs on bccd) and its optimiser settings. Chosen on the validation splits.
RECIPES = {
    "rcnn": {"raccoon": {"crop_size": 112, "rois_per_image": 16, "test_proposals": 500, "ss_max_side": SS_MAX_SIDE},
             "bccd": {"crop_size": 112, "rois_per_image": 16, "test_proposals": 500, "ss_max_side": SS_MAX_SIDE},
             "epochs": (4, 3), "config": {"lr": 0.01, "eval_every": 100}},
    "fast-rcnn": {"raccoon": {**TWO_STAGE_R, "test_proposals": 1000, "ss_max_side": SS_MAX_SIDE},
                  "bccd": {**TWO_STAGE, "test_proposals": 1000, "ss_max_side": SS_MAX_SIDE},
                  "epochs": (8, 6), "config": {"lr": 0.01}},
    "faster-rcnn": {"raccoon": TWO_STAGE_R, "bccd": {**TWO_STAGE, "anchor_sizes": [16, 32, 64, 128]},
                    "epochs": (12, 10), "config": {"lr": 0.02}},
    # needs instance masks, which Raccoon and BCCD lack: trained on generated scenes (digits 0-4) instead
    "mask-rcnn": {"scenes": {"min_size": 128, "max_size": 128, "anchor_sizes": [16, 32, 64, 128]},
                  "epochs": {"scenes": 6}, "config": {"lr": 0.02}},
    "retinanet": {"raccoon": TWO_STAGE_R, "bccd": {**TWO_STAGE, "anchor_sizes": [16, 32, 64, 128, 256]},
                  "epochs": (8, 6), "config": {"lr": 0.01}},
    "ssd": {"raccoon": {"size": RACCOON_SIZE}, "bccd": {"size": SIZE, "min_ratio": 0.05, "max_ratio": 0.6},
            "epochs": (8, 6), "config": {"lr": 0.01}},
    "yolo": {"raccoon": {"size": RACCOON_SIZE}, "bccd": {"size": SIZE}, "epochs": (8, 6), "config": {"lr": 0.005}},
}


def hardware() -> dict:
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "load_average": os.getloadavg(),
            "gpu": "not measured: no GPU lent to this task"}


SUMMARY_METRICS = ("map", "map50", "map75", "voc_map", "voc_map11", "per_class_ap50", "mask_map", "mask_map50")


def machine(load_average=None) -> dict:
    """The machine in make_results.py's format (``load_average``: the one recorded with the runs)."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": None, "torch": torch.__version__, "threads": 1,
            "load_average": list(load_average or os.getloadavg())}


def load(ds: str):
    """(train, val, test) of a data set: raccoon's val is a seeded 20% of its training photos."""
    if ds == "scenes":
        sets = [data.generate_scenes(SCENES[k], size=SCENES["size"], classes=[0, 1, 2, 3, 4], max_objects=3,
                                     min_scale=24, max_scale=48, seed=seed)
                for k, seed in (("train", 0), ("val", 1), ("test", 2))]
        return (*sets, [])
    spec = DATASETS[ds]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = data.load_detection(spec, "train")
        if ds == "bccd":
            val = data.load_detection(spec, "val", classes=train.classes)
        else:
            perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(14)).tolist()
            n_val = len(train) // 5
            train, val = train.subset(perm[n_val:]), train.subset(perm[:n_val])
        test = data.load_detection(spec, "test", classes=train.classes)
    notes = [str(w.message) for w in caught]
    return train, val, test, notes


def proposals(ds: str, sets) -> dict:
    """Selective-search proposals of every image of the data set, computed once and kept on disk (CACHE)."""
    from safetensors.torch import load_file, save_file

    path = CACHE / f"ss-{ds}.safetensors"
    store = load_file(str(path)) if path.is_file() else {}
    todo = [(s.name, i, img) for s in sets for i, img in zip(s.ids, s.images) if i not in store]
    CACHE.mkdir(parents=True, exist_ok=True)
    for k, (_, i, img) in enumerate(todo):
        store[i] = detect.selective_search(img, max_side=SS_MAX_SIDE)
        if (k + 1) % 50 == 0 or k + 1 == len(todo):  # kept as it goes: a killed run loses little
            save_file(store, str(path))
    return store


def attach(det, sets, store) -> None:
    for s in sets:
        for img, i, t in zip(s.images, s.ids, s.targets):
            det.net.proposals.put(img, store[i])
            t["proposals"] = store[i]


def _runs(name: str) -> list[str]:
    return [ds for ds in (*DATASETS, "scenes") if ds in RECIPES[name]]


def train_one(name: str, ds: str, *, epochs: int | None = None, threads: int = 1) -> dict:
    recipe = RECIPES[name]
    if ds not in recipe:
        raise SystemExit(f"{name} is not run on {ds} (runs: {', '.join(_runs(name))}): Mask R-CNN needs instance "
                         "masks, which the VOC sets lack")
    torch.set_num_threads(threads)
    train, val, test, notes = load(ds)
    ep = epochs or (recipe["epochs"][ds] if isinstance(recipe["epochs"], dict) else
                    recipe["epochs"][0 if ds == "raccoon" else 1])
    torch.manual_seed(0)
    det = detect.create(name, num_classes=train.num_classes, classes=train.classes, **recipe[ds])
    if name in ("rcnn", "fast-rcnn"):
        attach(det, (train, val, test), proposals(ds, (train, val, test)))
    out = CACHE / "runs" / f"{name}-{ds}"
    cfg = detect.DetectConfig(epochs=ep, batch_size=2, device="cpu", progress=False, out_dir=str(out),
                              **{"lr": 0.02, "eval_every": 2, **recipe["config"]})
    c0, w0 = time.process_time(), time.perf_counter()
    hist = detect.fit(det, train, val, cfg, resume=(out / "state" / "LATEST").is_file())  # a stopped run goes on
    train_cpu, train_wall = time.process_time() - c0, time.perf_counter() - w0
    if name in ("rcnn", "fast-rcnn"):
        for s in (val, test):  # evaluation reads its proposals from the cache: selective search is timed apart
            for img, i in zip(s.images, s.ids):
                det.net.proposals.put(img, proposals(ds, ())[i])
    c0, w0 = time.process_time(), time.perf_counter()
    r = detect.evaluate(det, test)
    test_cpu, test_wall = time.process_time() - c0, time.perf_counter() - w0
    doc = {"detector": name, "data": ds, "options": det.card.options, "config": cfg.to_json(),
           "train_images": len(train), "val_images": len(val), "test_images": len(test), "epochs_run": len(hist.rows),
           "best_epoch": hist.best_epoch, "best_val_map50": hist.best_metric, "history": hist.rows,
           "train_cpu_s": train_cpu, "train_wall_s": train_wall, "test_cpu_ms_per_image": 1000 * test_cpu / len(test),
           "test_wall_ms_per_image": 1000 * test_wall / len(test), "params": detect.model_params(det),
           "test": r.summary(), "data_notes": notes, "hardware": hardware()}
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{name}-{ds}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{name} on {ds}: test mAP@0.5 {r.map50:.3f}, mAP@[.5:.95] {r.map:.3f}, VOC AP {r.voc_map:.3f}; "
          f"best val mAP@0.5 {hist.best_metric} at epoch {hist.best_epoch}; train {train_cpu:.0f} CPU s "
          f"({train_wall:.0f} s wall); -> {path}", flush=True)
    return doc


def _planned_epochs(name: str, ds: str) -> int:
    ep = RECIPES[name]["epochs"]
    return ep[ds] if isinstance(ep, dict) else ep[0 if ds == "raccoon" else 1]


def evaluate_partial(name: str, ds: str, threads: int = 1) -> dict:
    """The test-split figures of an interrupted ``train`` run, from what it left in CACHE/runs/NAME-DS."""
    import csv

    from cnnlab.train import latest_state_dir

    torch.set_num_threads(threads)
    out = CACHE / "runs" / f"{name}-{ds}"
    rows = list(csv.DictReader(open(out / "metrics.csv"))) if (out / "metrics.csv").is_file() else []
    if not rows:
        raise SystemExit(f"{out} holds no finished epoch")
    best = out / "best"
    source = best if (best / "detector.safetensors").is_file() else latest_state_dir(out)
    evaluated = [r for r in rows if r.get("val_map50")]
    best_row = max(evaluated, key=lambda r: float(r["val_map50"])) if source == best else None
    det = detect.load_detector(source)
    _, _, test, notes = load(ds)
    if name in ("rcnn", "fast-rcnn"):
        store = proposals(ds, ())
        for img, i in zip(test.images, test.ids):
            det.net.proposals.put(img, store[i])
    c0, w0 = time.process_time(), time.perf_counter()
    r = detect.evaluate(det, test)
    test_cpu, test_wall = time.process_time() - c0, time.perf_counter() - w0
    doc = {"detector": name, "data": ds, "partial": True, "options": det.card.options,
           "epochs_planned": _planned_epochs(name, ds), "epochs_run": len(rows),
           "evaluated_checkpoint": "best validation" if best_row else f"newest training state ({source.name})",
           "best_epoch": int(best_row["epoch"]) if best_row else None,
           "best_val_map50": float(best_row["val_map50"]) if best_row else None, "history": rows,
           "train_cpu_s": None, "train_wall_s": sum(float(r["seconds"]) for r in rows),
           "test_images": len(test), "test_cpu_ms_per_image": 1000 * test_cpu / len(test),
           "test_wall_ms_per_image": 1000 * test_wall / len(test), "params": detect.model_params(det),
           "test": r.summary(), "data_notes": notes, "hardware": hardware()}
    RUNS.mkdir(parents=True, exist_ok=True)
    path = RUNS / f"{name}-{ds}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{name} on {ds} (partial: {len(rows)} of {doc['epochs_planned']} epochs, {doc['evaluated_checkpoint']}): "
          f"test mAP@0.5 {r.map50:.3f}, mAP@[.5:.95] {r.map:.3f}, VOC AP {r.voc_map:.3f} -> {path}", flush=True)
    return doc


def speed(n_images: int = 8, threads: int = 1) -> dict:
    """Inference per image of R-CNN, Fast R-CNN, Faster R-CNN: same Lite0 backbone, same images at shorter side
    SIZE, same proposals for the first two; median CPU and wall seconds over the images after one warm-up."""
    import statistics

    torch.set_num_threads(threads)
    _, _, test, _ = load("raccoon")
    images = []
    for img in test.images[: n_images + 1]:
        h, w = img.shape[1:]
        s = SIZE / min(h, w)
        images.append(data.resize_detection(img, {"boxes": torch.zeros(0, 4)}, (round(h * s), round(w * s)))[0])
    dets = {"rcnn": detect.create("rcnn", num_classes=1, test_proposals=2000).eval(),
            "fast-rcnn": detect.create("fast-rcnn", num_classes=1, min_size=SIZE, max_size=SIZE * 2,
                                       test_proposals=2000).eval(),
            "faster-rcnn": detect.create("faster-rcnn", num_classes=1, min_size=SIZE, max_size=SIZE * 2).eval()}
    out = {"images": n_images, "size": SIZE, "rows": {}}
    ss_cpu, ss_wall, n_props = [], [], []
    for img in images[1:]:
        c0, w0 = time.process_time(), time.perf_counter()
        p = detect.selective_search(img)
        ss_cpu.append(time.process_time() - c0)
        ss_wall.append(time.perf_counter() - w0)
        n_props.append(len(p))
    out["selective_search"] = {"cpu_s": statistics.median(ss_cpu), "wall_s": statistics.median(ss_wall),
                               "proposals": statistics.median(n_props)}
    with torch.no_grad():
        for name, det in dets.items():
            cpu, wall = [], []
            for k, img in enumerate(images):
                if name != "faster-rcnn":  # the network's time alone; selective search is added below
                    det.net.proposals.put(img, detect.selective_search(img))
                c0, w0 = time.process_time(), time.perf_counter()
                det([img])
                if k:  # the first image warms up
                    cpu.append(time.process_time() - c0)
                    wall.append(time.perf_counter() - w0)
            net_cpu = statistics.median(cpu)
            total = net_cpu + (out["selective_search"]["cpu_s"] if name != "faster-rcnn" else 0.0)
            out["rows"][name] = {"network_cpu_s": net_cpu, "network_wall_s": statistics.median(wall),
                                 "total_cpu_s": total, "params": detect.model_params(det)}
            print(f"{name}: network {net_cpu:.3f} CPU s/image, with proposals {total:.3f}", flush=True)
    r = out["rows"]
    out["ratios"] = {
        "rcnn/fast-rcnn total": r["rcnn"]["total_cpu_s"] / r["fast-rcnn"]["total_cpu_s"],
        "rcnn/faster-rcnn total": r["rcnn"]["total_cpu_s"] / r["faster-rcnn"]["total_cpu_s"],
        "rcnn/fast-rcnn network only": r["rcnn"]["network_cpu_s"] / r["fast-rcnn"]["network_cpu_s"],
        "rcnn/faster-rcnn network only": r["rcnn"]["network_cpu_s"] / r["faster-rcnn"]["network_cpu_s"],
    }
    out["hardware"] = hardware()
    for k, v in out["ratios"].items():
        print(f"{k}: {v:.1f}x (the notes: 25x for Fast R-CNN, 250x for Faster R-CNN)")
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / "speed.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def table() -> str:
    from cnnlab._format import table as fmt

    rows, docs = [], []
    for name in detect.names():
        for ds in (*DATASETS, "scenes"):
            path = RUNS / f"{name}-{ds}.json"
            if ds not in RECIPES[name]:
                if ds != "scenes":
                    rows.append([name, ds, "n/a: needs instance masks", "", "", "", "", "", "", ""])
                continue
            if not path.is_file():
                rows.append([name, ds, "not run", "", "", "", "", "", "", ""])
                continue
            d = json.loads(path.read_text())
            docs.append(d)
            t = d["test"]
            per = " ".join(f"{k} {v:.2f}" for k, v in t["per_class_ap50"].items()) if ds == "bccd" else ""
            if t.get("mask_map") is not None:
                per = f"mask AP@0.5 {t['mask_map50']:.3f}, mask AP {t['mask_map']:.3f}"
            trained = (f"{d['epochs_run']} of {d['epochs_planned']} (stopped)" if d.get("partial") else
                       f"{d['epochs_run']}")
            train_min = (f"{d['train_cpu_s'] / 60:.0f}" if d.get("train_cpu_s") else
                         f"({d['train_wall_s'] / 60:.0f} wall)")
            rows.append([name, ds, f"{t['map50']:.3f}", f"{t['map']:.3f}", f"{t['voc_map']:.3f}", per, trained,
                         train_min, f"{d['test_cpu_ms_per_image']:.0f}", f"{d['params'] / 1e6:.2f}M"])
    text = fmt(["detector", "data", "AP@0.5", "AP@[.5:.95]", "VOC AP", "per-class AP@0.5", "epochs",
                "train CPU min", "CPU ms/img", "params"], rows)
    sp = RUNS / "speed.json"
    speed_doc = json.loads(sp.read_text()) if sp.is_file() else None
    if speed_doc:
        text += "\n" + "\n".join(f"{k}: {v:.1f}x" for k, v in speed_doc["ratios"].items())
    keep = ("detector", "data", "partial", "epochs_planned", "epochs_run", "evaluated_checkpoint", "best_epoch",
            "best_val_map50", "train_images", "test_images", "train_cpu_s", "train_wall_s", "test_cpu_ms_per_image",
            "params", "options", "data_notes")
    summary = {"runs": [{**{k: d.get(k) for k in keep}, "test": {k: v for k, v in d["test"].items()
                                                                   if k in SUMMARY_METRICS}} for d in docs],
               "speed": speed_doc and {k: speed_doc[k] for k in ("images", "size", "rows", "selective_search",
                                                                  "ratios")},
               "machine": machine(docs[0]["hardware"]["load_average"] if docs else None)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_detect.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd")
    t = sub.add_parser("train")
    t.add_argument("detector", choices=detect.names())
    t.add_argument("data", choices=[*DATASETS, "scenes"])
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--threads", type=int, default=1)
    pr = sub.add_parser("proposals", help="selective search of every image of both data sets, cached on disk")
    pr.add_argument("--threads", type=int, default=1)
    pr.add_argument("--data", choices=list(DATASETS), nargs="*", default=list(DATASETS))
    ev = sub.add_parser("evaluate", help="test-split figures of an interrupted train run")
    ev.add_argument("detector", choices=detect.names())
    ev.add_argument("data", choices=[*DATASETS, "scenes"])
    ev.add_argument("--threads", type=int, default=1)
    s = sub.add_parser("speed")
    s.add_argument("--images", type=int, default=8)
    s.add_argument("--threads", type=int, default=1)
    sub.add_parser("table")
    args = p.parse_args(argv)
    if args.cmd == "train":
        train_one(args.detector, args.data, epochs=args.epochs, threads=args.threads)
    elif args.cmd == "proposals":
        torch.set_num_threads(args.threads)
        for ds in args.data:
            train, val, test, _ = load(ds)
            print(ds, len(proposals(ds, (train, val, test))), "images' proposals cached", flush=True)
    elif args.cmd == "evaluate":
        evaluate_partial(args.detector, args.data, args.threads)
    elif args.cmd == "speed":
        speed(args.images, args.threads)
    elif args.cmd == "table":
        table()
    else:
        for name in detect.names():
            for ds in _runs(name):
                train_one(name, ds)
        speed()
        table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
