"""Render every result JSON under benchmarks/results/ into one page, benchmarks/RESULTS.md.

Measured tables live in one generated place: each benchmark (``bench_*.py``) and each experiment run into
``benchmarks/results/<name>/`` (``cnnlab experiment ... --out benchmarks/results/<name>``) writes a JSON holding its
numbers and the machine and settings they were measured with; this script turns each into a section (a table
plus the hardware, software and settings), known formats with a renderer of their own and anything else with a
generic one. Nothing in RESULTS.md is typed by hand: edit the JSON's producer and rerun.

Usage:
    python benchmarks/make_results.py            # rewrite benchmarks/RESULTS.md
    python benchmarks/make_results.py --check    # exit 1 when RESULTS.md is not what the JSONs give (CI, tests)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE / "RESULTS.md"


def pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.1f}%"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def machine_line(doc: dict[str, Any]) -> str:
    """Where and with what it ran, from the JSON's ``machine`` (or the older top-level fields)."""
    m = doc.get("machine") or (doc.get("settings") or {}).get("machine")
    s = doc.get("settings") or {}
    if m:
        load = m.get("load_average")
        isa = ""
        if m.get("cpu_capability"):
            isa = f", {m['cpu_capability']}, bfloat16 {'native' if m.get('native_bfloat16') else 'emulated'}"
        parts = [f"{m.get('cpu')} ({m.get('cores')} cores{isa})", f"GPU {m['gpu']}" if m.get("gpu") else "no GPU",
                 f"torch {m.get('torch')}", f"{m.get('threads')} thread(s)"]
        if load:
            shared = " (shared: times inflated, ratios from one run hold)" if load[0] > (m.get("cores") or 1) else ""
            parts.append(f"load average {', '.join(map(str, load))}{shared}")
        if m.get("date"):
            parts.append(m["date"])
        return "Measured on " + "; ".join(parts) + "."
    known = {k: doc.get(k, s.get(k)) for k in ("device", "torch", "threads", "cuda_device")}
    shown = ", ".join(f"{k} {v}" for k, v in known.items() if v is not None)
    return f"Machine not recorded in the JSON (recorded: {shown or 'nothing'})."


def settings_line(settings: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    items = [f"`{k}={json.dumps(v)}`" for k, v in settings.items() if k not in skip and k != "machine"]
    return "Settings: " + ", ".join(items) + "." if items else ""


# ------------------------------------------------------------------------------------------------- renderers


def render_bench_train(doc: dict[str, Any]) -> str:
    ours, ref, fl = doc["cnnlab"], doc["reference"], doc.get("floors_s_per_epoch", {})
    model = doc.get("model", "cnnlab")
    rows = [[f"cnnlab `{doc['recipe']}` recipe ({model})", len(ours), f"{ours[-1]['seconds']:.1f}",
             pct(ours[-1]["test_acc"]), f"{ours[-1]['seconds'] / len(ours):.1f}",
             f"{fl.get('cnnlab_forward', float('nan')):.1f}", f"{fl.get('cnnlab_fwd_bwd', float('nan')):.1f}"],
            ["PyTorch MNIST example (the reference)", len(ref), f"{ref[-1]['seconds']:.1f}", pct(ref[-1]["test_acc"]),
             f"{ref[-1]['seconds'] / len(ref):.1f}", f"{fl.get('reference_forward', float('nan')):.1f}",
             f"{fl.get('reference_fwd_bwd', float('nan')):.1f}"]]
    t = doc["target"]
    first = lambda rs: next((r for r in rs if r["test_acc"] >= t), None)  # noqa: E731
    o, f = first(ours), first(ref)
    reach = (f"Time to {pct(t)} test accuracy: cnnlab "
             + (f"{o['seconds']:.1f} s (epoch {o['epoch']})" if o else "not reached")
             + ", reference " + (f"{f['seconds']:.1f} s (epoch {f['epoch']})" if f else "not reached")
             + (f": **{doc['speedup']:.1f}x**" if doc.get("speedup") else "") + ".")
    per_epoch = table(["epoch", "cnnlab s", "cnnlab test acc", "reference s", "reference test acc"],
                      [[i + 1, f"{ours[i]['seconds']:.1f}" if i < len(ours) else "",
                        pct(ours[i]["test_acc"]) if i < len(ours) else "",
                        f"{ref[i]['seconds']:.1f}" if i < len(ref) else "",
                        pct(ref[i]["test_acc"]) if i < len(ref) else ""] for i in range(max(len(ours), len(ref)))])
    cfg = doc.get("config", {})
    keys = ("epochs", "batch_size", "optimizer", "lr", "nesterov", "weight_decay", "schedule", "warmup_fraction",
            "label_smoothing", "crop_padding", "hflip", "channels_last", "amp", "compile")
    data = (f"{doc.get('train_images', '?')} training / {doc.get('test_images', '?')} test images"
            + (" (`--quick`)" if doc.get("quick") else ""))
    return "\n\n".join([
        f"Fashion-MNIST, {data}; training time only (the per-epoch test evaluation excluded for both); floors: one "
        "forward / forward+backward pass over an epoch's images at the batch size (seconds per epoch).",
        table(["", "epochs", "train s", "test acc", "s/epoch", "forward floor s/epoch", "fwd+bwd floor s/epoch"],
              rows),
        reach, per_epoch,
        "Recipe: " + ", ".join(f"`{k}={json.dumps(cfg[k])}`" for k in keys if k in cfg)
        + (f"; model options `{json.dumps(doc['model_options'])}`" if doc.get("model_options") else "") + "."])


def render_bench_losses(doc: dict[str, Any]) -> str:
    rows = [[r["what"], f"{r['cnnlab_ms']:.2f}", r["anchor"], f"{r['anchor_ms']:.2f}", f"{r['ratio']:.2f}",
             f"{r['floor_ms']:.2f}", f"{r['vs_floor']:.2f}"] for r in doc["rows"]]
    return "\n\n".join([
        f"Forward + backward, median of {doc.get('repeats')} after warm-up" + (" (`--quick`)" if doc.get("quick")
                                                                              else "") + "; ratio = cnnlab / anchor "
        "(below 1: cnnlab faster); the floor is one `F.cross_entropy` forward + backward on the same logits.",
        table(["what", "cnnlab ms", "anchor", "anchor ms", "ratio", "floor ms", "x floor"], rows)])


def render_bench_style(doc: dict[str, Any]) -> str:
    """Quality against neural-style, speed against a tutorial-style loop, shape bias (``bench_style.py``)."""
    parts, meta = [], doc.get("meta") or {}
    if doc.get("quality"):
        q = meta.get("quality") or {}
        names = [k for k in doc["quality"][0] if k != "pair"]
        parts.append(f"Quality at {q.get('size')} px, L-BFGS steps {q.get('steps')} (coarse-to-fine from half size); "
                     "neural-style: its published VGG-19 outputs. Style distance (lower is closer) under Lite2 and a "
                     "random VGG-16; SSIM of the luminance to the photo.")
        parts.append(table(["pair", "output", "Lite2", "random VGG-16", "SSIM"],
                           [[r["pair"], n, f"{r[n]['Lite2']:.4f}", f"{r[n]['random VGG-16']:.4f}",
                             f"{r[n]['SSIM']:.3f}"] for r in doc["quality"] for n in names]))
        v = doc.get("verdict") or {}
        if v:
            parts.append("Pairs at least as close as neural-style on both judges (SSIM no more than 0.05 below): "
                         + ", ".join(f"{k} {x['pairs_met']} of {x['of']}" for k, x in v["variants"].items())
                         + f"; goal (4 of 5) {'met' if v['goal_met'] else 'not met'}.")
    if doc.get("tune"):
        t = doc["tune"]
        parts.append(f"Variant, starting image and style weight on held-out pairs ({t['content']} x "
                     f"{', '.join(t['styles'])}; {t['size']} px, steps {t['steps']}), means over the styles; chosen "
                     f"(best mean rank over the judges with mean SSIM >= {t['min_ssim']}): "
                     f"{t.get('variant', 'cnnlab plain')}, init {t.get('init', 'content')}, beta {t['beta']:g}:")
        parts.append(table(["variant", "init", "beta", "Lite2", "random VGG-16", "SSIM"],
                           [[r.get("variant", "cnnlab plain"), r.get("init", "content"), f"{r['beta']:g}",
                             f"{r['Lite2']:.4f}", f"{r['random VGG-16']:.4f}", f"{r['SSIM']:.3f}"]
                            for r in t["rows"]]))
    if doc.get("speed"):
        parts.append(table(["size", "steps", "cnnlab s", "tutorial-style s", "speed-up", "floor s"],
                           [[r["size"], r["steps"], f"{r['cnnlab_s']:.1f}", f"{r['tutorial_s']:.1f}",
                             f"{r['speedup']:.2f}x", f"{r['floor_s']:.1f}"] for r in doc["speed"]]))
    if doc.get("shape_bias"):
        parts.append(table(["observer", "shape bias", "neither", "silhouettes", "edges"],
                           [[k, pct(x["shape_bias"]), pct(x["other_fraction"]), pct(x["silhouette_accuracy"]),
                             pct(x["edge_accuracy"])] for k, x in doc["shape_bias"].items()]))
    return "\n\n".join(parts)


def render_transfer(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    methods = [m for m in ("scratch", "linear", "finetune", "lpft") if any(r["method"] == m for r in doc["rows"])]
    names = {"scratch": "scratch", "linear": "linear probe", "finetune": "fine-tune", "lpft": "LP-FT"}
    cells: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in doc["rows"]:
        cells.setdefault((r["dataset"], r["train_images"]), {})[r["method"]] = r
    rows = []
    for (data, n), by in cells.items():
        best = max((by[m]["test_acc"] for m in methods if m in by), default=None)
        accs = [("**" + pct(by[m]["test_acc"]) + "**") if m in by and by[m]["test_acc"] == best
                else (pct(by[m]["test_acc"]) if m in by else "-") for m in methods]
        ep = next((by[m]["epochs"] for m in ("scratch", "finetune", "lpft") if m in by), "-")
        reach = " / ".join(str(by[m].get("epochs_to_target") or "—") for m in methods if m != "linear" and m in by)
        start = pct(by["lpft"].get("start_acc")) if "lpft" in by else "-"
        rows.append([data, f"{n:,}", ep, *accs, start, reach])
    heads = ["data", "images", "epochs", *[names[m] for m in methods], "LP-FT at epoch 0",
             f"epochs to {pct(s.get('target'))} ({' / '.join(names[m] for m in methods if m != 'linear')})"]
    if "lpft" not in methods:
        heads.remove("LP-FT at epoch 0")
        rows = [r[:3 + len(methods)] + r[-1:] for r in rows]
    lpft = s.get("lpft")
    rates = (f"scratch and fine-tune: AdamW, cosine, peak lr {s.get('lr')} (backbone x{s.get('backbone_lr_mult')}); "
             if "backbone_lr_mult" in s and "scratch_lr" not in s else
             f"scratch lr {s.get('scratch_lr')}; fine-tune lr {s.get('lr')} with the backbone at x"
             f"{s.get('backbone_lr_mult')}; ")
    if lpft:
        rates += (f"LP-FT: the probe's classifier kept, batch-norm statistics frozen, dropout off, lr {lpft['lr']} "
                  f"x{lpft['kept_head_lr_scale']} (backbone x{lpft['backbone_lr_mult']}); ")
    return "\n\n".join([
        f"EfficientNet-Lite0 ({s.get('source')}) at {s.get('resize')}x{s.get('resize')} through the input adapter, "
        f"batch {s.get('batch_size')}; {rates}linear probe: L-BFGS logistic regression on the frozen features. "
        f"Test accuracy on {s.get('eval_size') or 'all the'} stratified test images after the last epoch (best per "
        "row in bold); one seed.",
        table(heads, rows)])


def render_imbalance(doc: dict[str, Any]) -> str:
    s = doc["settings"]
    rows = [[r["loss"] + (f" `{json.dumps(r['options'])}`" if r.get("options") else ""), pct(r["balanced_accuracy"]),
             pct(r["minority_recall"]), pct(r["rarest_recall"]), pct(r["majority_recall"]), pct(r["accuracy"])]
            for r in doc["rows"]]
    return "\n\n".join([
        f"{s.get('dataset')} made long-tailed {s.get('ratio'):g}:1 ({s.get('train_images'):,} training images; "
        f"per class {doc.get('counts')}), {s.get('model')} trained by `cnnlab.train.fit` (AdamW {s.get('lr')}, "
        f"cosine, batch {s.get('batch_size')}, {s.get('epochs')} epochs, the same initial weights for every loss), "
        f"scored on {s.get('test_images'):,} balanced test images; minority classes {s.get('minority_classes')}.",
        table(["loss", "balanced accuracy", "minority recall", "rarest class recall", "majority recall",
               "accuracy"], rows)])


def render_bench_claims(doc: dict[str, Any]) -> str:
    rows = [[f"{c['number']} `{c['claim']}`", f"**{c['status']}**", c["key_numbers"], ",".join(map(str, c["seeds"]))
             or "-", f"{c['seconds']:.0f}", f"{c['cpu_seconds']:.0f}" if c.get("cpu_seconds") else "not recorded"]
            for c in doc["claims"]]
    text = [f"{len(rows)} claims, {doc['setting']} setting; verdict from each claim's 95% intervals by the rule in "
            "docs/claims.md.",
            table(["claim", "verdict", "key numbers [95% interval]", "seeds", "wall s", "CPU s"], rows)]
    if doc.get("not_run"):
        text.append(f"Not run in this setting yet: {', '.join(doc['not_run'])}.")
    if doc.get("pending"):
        text.append(f"Pending (not registered yet): claim {', '.join(doc['pending'])}.")
    return "\n\n".join(text)


def render_bench_detect(doc: dict[str, Any]) -> str:
    """Per detector and data set: COCO AP@0.5 and AP@[.5:.95], VOC all-point AP@0.5, per-class AP@0.5, how much
    of the planned training ran; then the notes' R-CNN -> Fast -> Faster R-CNN speed claim."""
    rows = []
    for r in doc["runs"]:
        t = r["test"]
        per = ", ".join(f"{k} {v:.2f}" for k, v in t["per_class_ap50"].items()) if len(t["per_class_ap50"]) > 1 else ""
        if t.get("mask_map") is not None:
            per = f"mask AP@0.5 {t['mask_map50']:.3f}, mask AP {t['mask_map']:.3f}; " + per
        epochs = f"{r['epochs_run']} of {r['epochs_planned']} (stopped)" if r.get("partial") else str(r["epochs_run"])
        train = f"{r['train_cpu_s']:.0f} CPU s" if r.get("train_cpu_s") else f"({r['train_wall_s']:.0f} wall s)"
        rows.append([r["detector"], r["data"], f"{t['map50']:.3f}", f"{t['map']:.3f}", f"{t['voc_map']:.3f}", per,
                     epochs, train, f"{r['test_cpu_ms_per_image']:.0f}", f"{r['params'] / 1e6:.2f}M"])
    parts = ["COCO AP (pycocotools, 101-point) and Pascal VOC all-point AP@0.5 on each set's test split; \"stopped\": "
             "the run was killed before its planned last epoch and its best-validation checkpoint (or newest "
             "state) was scored.",
             table(["detector", "data", "AP@0.5", "AP@[.5:.95]", "VOC AP@0.5", "per class AP@0.5", "epochs",
                    "training", "CPU ms / image", "params"], rows)]
    sp = doc.get("speed")
    if sp:
        srows = [[k, f"{v['network_cpu_s']:.3f}", f"{v['total_cpu_s']:.3f}", f"{v['params'] / 1e6:.2f}M"]
                 for k, v in sp["rows"].items()]
        parts += [f"Inference CPU s per image, {sp['images']} Raccoon test images at shorter side {sp['size']}, "
                  f"selective search {sp['selective_search']['cpu_s']:.2f} s "
                  f"({sp['selective_search']['proposals']:.0f} proposals):",
                  table(["detector", "network", "with selective search", "params"], srows),
                  table(["ratio", "x"], [[k, f"{v:.1f}x"] for k, v in sp["ratios"].items()])]
    return "\n\n".join(parts)


def render_generic(doc: Any) -> str:
    """Scalars as settings, lists of records as tables, anything deeper as indented JSON."""
    if not isinstance(doc, dict):
        return "```json\n" + json.dumps(doc, indent=1)[:4000] + "\n```"
    parts, scalars = [], {}
    for k, v in doc.items():
        if k == "machine":
            continue
        if isinstance(v, (str, int, float, bool)) or v is None:
            scalars[k] = v
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            keys = list(dict.fromkeys(key for x in v for key in x))
            fmt = lambda x: f"{x:.4g}" if isinstance(x, float) else ("" if x is None else  # noqa: E731
                                                                      json.dumps(x) if isinstance(x, (dict, list))
                                                                      else x)
            parts.append(f"`{k}`:\n\n" + table(keys, [[fmt(x.get(key)) for key in keys] for x in v]))
        else:
            parts.append(f"`{k}`:\n\n```json\n{json.dumps(v, indent=1)[:3000]}\n```")
    if scalars:
        parts.insert(0, settings_line(scalars))
    return "\n\n".join(parts)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bench_train": render_bench_train,
    "bench_losses": render_bench_losses,
    "bench_style": render_bench_style,
    "bench_detect": render_bench_detect,
    "transfer": render_transfer,  # cnnlab experiment transfer --out DIR
    "imbalance": render_imbalance,  # cnnlab experiment imbalance --out DIR
    "bench_claims": render_bench_claims,
}
TITLES = {
    "bench_amp_cpu-avx2": "CPU bfloat16 autocast vs float32 per convolution, AVX2 (`benchmarks/bench_amp_cpu.py`)",
    "bench_train": "Training: time to accuracy (`benchmarks/bench_train.py`)",
    "bench_losses": "Losses: forward + backward against torch / torchvision (`benchmarks/bench_losses.py`)",
    "bench_style": "Style transfer, speed and shape bias (`benchmarks/bench_style.py`)",
    "bench_detect": "Object detection on Raccoon, BCCD and generated scenes (`benchmarks/bench_detect.py`)",
    "experiment_transfer": "Transfer vs data size (`cnnlab experiment transfer`)",
    "experiment_transfer_quick": "Transfer vs data size, `--quick` (`cnnlab experiment transfer --quick`)",
    "experiment_transfer_quick_before": "Transfer vs data size, `--quick`, before issue 12's fixes (commit 0f581bd)",
    "experiment_imbalance": "Class imbalance and losses (`cnnlab experiment imbalance`)",
    "claims": "The notes' claims, full setting (`benchmarks/bench_claims.py`)",
    "claims_quick": "The notes' claims, quick setting (`benchmarks/bench_claims.py --quick`)",
}


def sections(root: Path = RESULTS) -> list[tuple[str, str, str]]:
    """(title, anchor, markdown body) for every JSON under ``root``, in a stable order."""
    out = []
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        name = rel.parent.name if rel.parent != Path(".") else path.stem  # experiments: their directory names them
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            out.append((name, name, f"Cannot read `{rel}`: {exc}."))
            continue
        render = RENDERERS.get(path.stem, render_generic)
        try:
            body = render(doc)
        except (KeyError, TypeError, ValueError, IndexError) as exc:  # a format this script does not know yet
            body = f"(the `{path.stem}` renderer failed on it: {type(exc).__name__} {exc}; shown as it is)\n\n" \
                   + render_generic(doc)
        settings = doc.get("settings") if isinstance(doc, dict) else None
        extra = ("\n\n" + settings_line(settings, skip=("lpft",))) if isinstance(settings, dict) else ""
        machine = machine_line(doc) if isinstance(doc, dict) else ""
        body = f"{body}{extra}\n\n{machine}\n\nSource: `benchmarks/results/{rel.as_posix()}`."
        out.append((TITLES.get(name, f"`{name}`"), name, body))
    return out


def render_page(root: Path = RESULTS) -> str:
    secs = sections(root)
    toc = "\n".join(f"- [{title}](#{anchor.replace('_', '-')})" for title, anchor, _ in secs)
    body = "\n\n".join(f'<a id="{anchor.replace("_", "-")}"></a>\n## {title}\n\n{text}' for title, anchor, text in secs)
    return ("# Measured results\n\n"
            "Generated by `python benchmarks/make_results.py` from the JSON files under `benchmarks/results/`; do not "
            "edit by hand. Each section says the machine and settings its numbers come from. On the shared 2-core "
            "development CPU only ratios measured in one run mean something; figures measured elsewhere without a "
            "JSON (the GPU tables) stay in the capability pages of `docs/`, marked with their provenance.\n\n"
            f"{toc}\n\n{body}\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md is out of date")
    args = p.parse_args(argv)
    page = render_page()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != page:
            print(f"{PAGE} is out of date: run python benchmarks/make_results.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page)
    print(f"wrote {PAGE} ({len(page):,} characters, {page.count(chr(10) + '## ')} sections)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
