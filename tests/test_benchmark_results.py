"""benchmarks/RESULTS.md is generated from benchmarks/results/**/*.json and must be up to date with them; the
renderer shows each table's machine and settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_results():
    spec = importlib.util.spec_from_file_location("make_results", ROOT / "benchmarks" / "make_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_page_is_generated_from_the_jsons():
    mod = _make_results()
    jsons = sorted((ROOT / "benchmarks" / "results").rglob("*.json"))
    assert jsons, "no result JSON in benchmarks/results"
    page = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert page == mod.render_page(), "benchmarks/RESULTS.md is stale: run python benchmarks/make_results.py"
    for path in jsons:  # every JSON has its section, with where it came from
        assert f"Source: `benchmarks/results/{path.relative_to(ROOT / 'benchmarks' / 'results').as_posix()}`" in page
    assert page.count("Measured on ") + page.count("Machine not recorded") == len(jsons)


def test_renderers_show_machine_settings_and_numbers(tmp_path):
    mod = _make_results()
    (tmp_path / "experiment_transfer").mkdir()
    doc = {"rows": [{"dataset": "digits", "train_images": 50, "method": m, "epochs": 3 if m != "linear" else 0,
                     "test_acc": acc, "epochs_to_target": None} for m, acc in
                    (("scratch", 0.25), ("linear", 0.5), ("finetune", 0.375))],
           "curves": {}, "settings": {"source": "efficientnet_lite0", "resize": 24, "batch_size": 32, "lr": 0.002,
                                      "backbone_lr_mult": 1.0, "eval_size": 200, "target": 0.8,
                                      "machine": {"cpu": "Test CPU", "cores": 2, "load_average": [9.0, 8.0, 7.0],
                                                  "torch": "2.x", "threads": 1, "gpu": None}}}
    (tmp_path / "experiment_transfer" / "transfer.json").write_text(json.dumps(doc))
    (tmp_path / "bench_misc.json").write_text(json.dumps({"device": "cpu", "rows": [{"what": "x", "ms": 1.5}]}))
    page = mod.render_page(tmp_path)
    assert "| digits | 50 | 3 | 25.0% | **50.0%** | 37.5% |" in page
    assert "Measured on Test CPU (2 cores); no GPU; torch 2.x; 1 thread(s); load average 9.0, 8.0, 7.0 (shared" in page
    assert "| what | ms |" in page and "| x | 1.5 |" in page and "Machine not recorded in the JSON" in page
