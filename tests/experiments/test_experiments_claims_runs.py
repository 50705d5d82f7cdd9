"""Every claim's experiment on tiny settings: well-formed numbers, a verdict that follows from them by the stated
rule, a plot, a JSON round trip; reproducibility; the command, the page and the demo section."""

import json
import math

import pytest

from cnnlab import experiments
from cnnlab.experiments import combine, decide

# tiny settings per claim (fields that differ from the quick setting): seconds each on one CPU thread
TINY = {
    "equivariance": {"n_train": 400, "epochs": 1, "test_images": 100, "equivariance_images": 8,
                     "translate": (0, 2), "rotate": (0, 10, 90), "scale": (0.5, 0.9, 1.0, 1.1)},
    "one-pixel": {"n_train": 400, "epochs": 1, "images": 12, "popsize": 8, "steps": 2},
    "depth-residual": {"depths": (8, 14), "width": 2, "n_train": 200, "test_images": 100, "epochs": 1,
                       "seeds": (0, 1)},
    "estimation-error": {"widths": (1, 2), "sizes": (40, 80), "steps": 6, "folds": 2, "test_images": 100,
                         "seeds": (0,)},
    "transfer": {"sizes": (10, 20), "eval_size": 20, "resize": 16, "min_epochs": 1, "min_steps": 1,
                 "max_epochs": 1, "seeds": (0,)},
    "fc-parameters": {"context": ()},
    "saturation": {"depths": (2, 6), "seeds": (0, 1)},
    "visualisation": {"n_train": 400, "epochs": 1, "sanity_images": 6, "test_images": 60, "map_images": 12},
    "adversarial-defence": {"n_train": 400, "epochs": 1, "train_steps": 1, "attack_steps": 2, "test_images": 20,
                            "eot": 2},
    "imbalance-losses": {"n_max": 60, "epochs": 1, "eval_size": 100, "seeds": (0, 1)},
    "dropout": {"hidden": 32, "n_train": 200, "epochs": 2, "test_images": 100, "draws": 8, "seeds": (0, 1)},
    "early-stopping": {"n_train": 150, "n_val": 100, "test_images": 100, "epochs": 3, "seeds": (0, 1)},
    "batchnorm-lr": {"width": 2, "n_train": 200, "epochs": 1, "lrs": (0.1, 1.0), "seeds": (0, 1)},
    "xavier-init": {"layers": 4, "width": 64, "samples": 100, "seeds": (0, 1)},
    "ensembles": {"n_train": 300, "test_images": 80, "epochs": 2, "members": 2, "cycles": 2},
    "optimisers": {"starts": 3, "max_iters": 150, "lrs": (0.01, 0.1), "net_n_train": 200, "net_lrs": (0.01,),
                   "net_target": 2.0, "net_max_steps": 15, "seeds": (0, 1)},
    "pruning": {"widths": (4, 8, 16), "n_train": 300, "epochs": 1, "test_images": 80, "sparsities": (0.5, 0.9),
                "channel_fractions": (0.25,), "timing_batch": 8, "timing_repeats": 3},
    "receptive-field": {"networks": ("lenet5", "alexnet"), "measured": ("lenet5",)},
    "shape-bias": {"max_per_class": 1, "stimuli": "/work/shared/data/texture-vs-shape"},
}


@pytest.fixture(scope="module")
def ctx():
    """One context per test module and worker: Fashion-MNIST is read once, the tiny standard network shared."""
    return experiments.ClaimContext()


def test_every_claim_has_tiny_settings():
    assert set(TINY) == set(experiments.claim_names())


def _finite(obj, path="numbers"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            _finite(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        assert math.isfinite(obj), f"{path} is {obj}"


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_run_is_well_formed_and_its_verdict_follows_the_rule(name, ctx, tmp_path):
    claim = experiments.get_claim(name)
    settings = claim.config(True, **TINY[name])
    r = experiments.run_claim(name, settings=settings, context=ctx, out_dir=tmp_path)
    assert r.setting == "custom" and r.seeds == list(settings.seeds) and r.seconds > 0
    _finite(r.numbers)
    # the verdict is the stated rule applied to the numbers: recomputed from them, part by part
    again = claim.verdict(json.loads(json.dumps(r.numbers)))
    assert again.status == r.status and again.reason == r.verdict.reason
    assert all(p.status == decide(p.estimate, p.threshold, p.claim) for p in r.verdict.parts)
    assert r.status == combine(r.verdict.parts).status
    # files: the JSON reads back to the same result, the plot is a PNG
    assert (tmp_path / f"{name}.json").is_file()
    back = experiments.ClaimResult.from_json(json.loads((tmp_path / f"{name}.json").read_text()))
    assert back.numbers == r.numbers and back.status == r.status and back.settings == r.settings
    png = tmp_path / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_numbers_are_what_they_say(ctx):
    # a few claim-specific invariants on the tiny runs (cached networks make these cheap)
    eq = experiments.run_claim("equivariance", settings=experiments.get_claim("equivariance").config(
        True, **TINY["equivariance"]), context=ctx)
    assert eq.numbers["circular_error"] < 1e-4 < eq.numbers["zeros_error"]  # exact with circular padding
    zero = [r for r in eq.numbers["curves"] if r["value"] == 0]
    assert all(r["agreement"] == 1.0 for r in zero)  # an identity transform changes no prediction
    op = experiments.run_claim("one-pixel", settings=experiments.get_claim("one-pixel").config(
        True, **TINY["one-pixel"]), context=ctx)
    assert op.numbers["changed_more_than_one_pixel"] == 0 and 0 <= op.numbers["successes"] <= op.numbers["attacked"]
    fc = experiments.run_claim("fc-parameters", settings=experiments.get_claim("fc-parameters").config(
        True, **TINY["fc-parameters"]), context=ctx)
    alex = fc.numbers["by_network"]["alexnet"]
    assert alex["params"] == 62_378_344 and alex["fc_params"] == 58_631_144  # the paper's one-tower AlexNet


def test_runs_are_reproducible():
    s = experiments.get_claim("dropout").config(True, **TINY["dropout"])
    a = experiments.run_claim("dropout", settings=s, context=experiments.ClaimContext())
    b = experiments.run_claim("dropout", settings=s, context=experiments.ClaimContext())
    assert a.numbers == b.numbers and a.verdict.reason == b.verdict.reason


def test_settings_must_be_the_claims_own():
    with pytest.raises(TypeError, match="SaturationSettings"):
        experiments.run_claim("saturation", settings=experiments.get_claim("xavier-init").config(True))


def test_cli_runs_a_claim_and_writes_the_page(tmp_path, capsys):
    from cnnlab.cli import main

    assert main(["claims", "8", "saturation", "--quick", "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["claim"] for d in doc] == ["saturation"] and doc[0]["setting"] == "quick"
    assert doc[0]["verdict"]["status"] in (experiments.SUPPORTED, experiments.NOT_SUPPORTED, experiments.INCONCLUSIVE)
    html = (tmp_path / "claims.html").read_text()
    assert "Sigmoid tended to saturate" in html and "003_dbe7e23f1359843d.txt" in html
    assert html.count("data:image/png;base64,") == 1 and "src=\"http" not in html
    assert {p.name for p in tmp_path.iterdir()} == {"saturation.json", "saturation.png", "claims.json", "claims.html"}
    assert main(["claims", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "12d" in listing and "shape-bias" in listing and "texture" in listing


@pytest.mark.parametrize("argv, message", [
    (["claims", "nosuch", "--quick"], "unknown claim 'nosuch'"),
    (["claims", "3", "--quick", "--data-dir", "/nonexistent"], "claim 3 needs Geirhos et al.'s texture-vs-shape"),
    (["claims", "8", "--threads", "0"], "--threads must be >= 1"),
    (["claims", "8", "--device", "tpu"], "device"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys, tmp_path):
    from cnnlab.cli import main

    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_demo_section_runs_the_fast_claims_and_lists_the_rest(tmp_path):
    from cnnlab import data, models
    from cnnlab.report import DemoContext
    from cnnlab.report._section_claims import claims_section

    net = models.create("lenet5")
    sec = claims_section(DemoContext(net, "lenet5", {"chelsea": data.sample_image("chelsea")}, tmp_path))
    fast = [n for n in experiments.claim_names() if experiments.get_claim(n).demo]
    assert set(fast) == {"fc-parameters", "saturation", "xavier-init", "receptive-field"}
    for n in experiments.claim_names():
        assert n in sec.body
        assert (f"cnnlab claims {n} --quick" in sec.body) == (n not in fast)
    assert sec.body.count("data:image/png;base64,") == len(fast)
