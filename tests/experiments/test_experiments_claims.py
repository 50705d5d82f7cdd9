"""The claims registry without running experiments: the statistics against scipy, the decision rule, the registry,
the quotes (verbatim in the seed files), and every claim's verdict rule fed constructed numbers for each of its
three outcomes."""

import math
import os
import re
from pathlib import Path

import pytest
import scipy.stats

from cnnlab import experiments
from cnnlab.experiments import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Estimate,
    combine,
    decide,
    exact,
    paired_interval,
    part,
    t_interval,
    wilson_interval,
)
from cnnlab.experiments._claims_stats import t_quantile

S, N, I = SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE


# ------------------------------------------------------------------------------------------ statistics


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 29, 30, 31, 45, 100, 1000])
def test_t_quantile_matches_scipy(df):
    assert t_quantile(df) == pytest.approx(scipy.stats.t.ppf(0.975, df), abs=2e-3)


@pytest.mark.parametrize("values", [[0.1, 0.3, 0.2], [1.0, 2.0], [5, 5.5, 4.0, 6.1, 5.2, 4.9], list(range(40))])
def test_t_interval_matches_scipy(values):
    e = t_interval(values)
    mean, sem = sum(values) / len(values), scipy.stats.sem(values)
    lo, hi = scipy.stats.t.interval(0.95, len(values) - 1, loc=mean, scale=sem)
    assert e.value == pytest.approx(mean) and e.n == len(values)
    assert e.low == pytest.approx(lo, rel=1e-3, abs=1e-9) and e.high == pytest.approx(hi, rel=1e-3, abs=1e-9)


def test_one_repeat_has_no_interval_and_paired_differences():
    e = t_interval([0.7])
    assert e.low == -math.inf and e.high == math.inf and decide(e, 0) == I
    p = paired_interval([3.0, 4.0, 5.0], [1.0, 2.5, 2.0])
    assert p.value == pytest.approx((2.0 + 1.5 + 3.0) / 3) and p.method.startswith("paired")
    with pytest.raises(ValueError, match="equal lengths"):
        paired_interval([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        t_interval([1.0, math.nan])


@pytest.mark.parametrize("k, n", [(0, 10), (1, 20), (7, 40), (40, 40), (3, 1000)])
def test_wilson_matches_scipy(k, n):
    ci = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    e = wilson_interval(k, n)
    assert e.value == pytest.approx(k / n)
    assert e.low == pytest.approx(ci.low, abs=1e-6) and e.high == pytest.approx(ci.high, abs=1e-6)


def test_wilson_rejects_bad_counts():
    for k, n in [(3, 2), (-1, 5), (1, 0)]:
        with pytest.raises(ValueError, match="0 <= k <= n"):
            wilson_interval(k, n)


@pytest.mark.parametrize("low, high, claim, expected", [
    (0.1, 0.2, "above", S), (-0.2, -0.1, "above", N), (-0.1, 0.1, "above", I),
    (-0.2, -0.1, "below", S), (0.1, 0.2, "below", N), (-0.1, 0.1, "below", I),
])
def test_decide_is_the_interval_rule(low, high, claim, expected):
    assert decide(Estimate((low + high) / 2, low, high, 5, "t"), 0.0, claim) == expected


def test_exact_values_and_combine():
    assert decide(exact(2.0), 1.0) == S and decide(exact(0.5), 1.0) == N and decide(exact(1.0), 1.0) == N
    assert decide(exact(1.0), 1.0, "below") == N  # strict on both sides: an exact value is never inconclusive
    ok, bad, open_ = part("a", exact(2), 1), part("b", exact(0), 1), part("c", t_interval([1.0]), 0)
    assert combine([ok, ok]).status == S
    assert combine([ok, open_]).status == I and "c =" in combine([ok, open_]).reason
    v = combine([ok, open_, bad])
    assert v.status == N and v.reason.startswith("b =") and "c =" not in v.reason
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError, match="above"):
        decide(exact(1), 0, "over")


def test_part_text_and_json_round_trip():
    p = part("gain", Estimate(0.05, 0.01, 0.09, 3, "paired t over 3 seeds"), 0, unit="pp")
    assert p.short() == "gain = +5.0 pp [+1.0 pp, +9.0 pp]" and p.needs() == "> +0.0 pp"
    assert "paired t over 3 seeds" in p.reason and p.reason.endswith("holds")
    v = combine([p, part("inf", t_interval([2.0]), 0)])
    back = experiments.Verdict.from_json(v.to_json())
    assert back.status == v.status and back.parts[1].estimate.high == math.inf and back.reason == v.reason


# ------------------------------------------------------------------------------------------ the registry


def test_registry_order_numbers_and_lookup():
    names = experiments.claim_names()
    numbers = [experiments.get_claim(n).number for n in names]
    assert len(names) == len(set(names)) == len(set(numbers))
    assert numbers[:4] == ["1", "2", "3", "4"] and numbers[-1] == "16"
    assert {"12a", "12b", "12c", "12d"} <= set(numbers)
    assert experiments.get_claim("3").id == "shape-bias" and not experiments.PENDING_CLAIMS
    assert experiments.get_claim("2").id == "one-pixel" and experiments.get_claim("one-pixel").number == "2"
    with pytest.raises(ValueError, match="unknown claim 'one_pixel'.*one-pixel"):
        experiments.get_claim("one_pixel")


@pytest.mark.parametrize("name", experiments.claim_names())
def test_every_claim_is_complete(name):
    c = experiments.get_claim(name)
    assert c.quotes and all(q.text and re.fullmatch(r"00[0-9]_[0-9a-f]{16}\.txt", q.source) for q in c.quotes)
    assert len(c.tested) > 80 and len(c.rule) > 40 and c.uncertainty and c.title
    quick, full = c.config(True), c.config(False)
    assert hasattr(full, "seeds") and callable(c.run) and callable(c.verdict)
    assert c.settings_json(quick) == experiments._claims._jsonable(quick)
    if c.demo:
        assert c.plot is not None


def test_register_claim_refuses_bad_claims():
    from dataclasses import dataclass

    @dataclass
    class Settings:
        seeds: tuple = ()

    kw = dict(number="99", title="t", quotes=(experiments.Quote("x", "000_27d70af722d9eeea.txt"),), tested="t",
              rule="r", uncertainty="u", settings=Settings, quick={}, verdict=lambda n: combine([]))
    with pytest.raises(ValueError, match="lower-case"):
        experiments.register_claim("Bad_Id", **kw)
    with pytest.raises(ValueError, match="12a"):
        experiments.register_claim("ok", **{**kw, "number": "x1"})
    with pytest.raises(TypeError, match="seeds"):
        experiments.register_claim("ok", **{**kw, "settings": dict})
    with pytest.raises(TypeError):
        experiments.register_claim("ok", **{**kw, "quick": {"nonsense": 1}})
    with pytest.raises(ValueError, match="already registered"):
        experiments.register_claim("saturation", **kw)(lambda s, ctx: {})


def _seeds_dir() -> Path:
    """The course notes: ``shared/seeds`` beside the checkout (or above it), else this machine's /work/shared."""
    for base in Path(__file__).resolve().parents:
        if (base / "shared" / "seeds").is_dir():
            return base / "shared" / "seeds"
    return Path(os.environ.get("CNNLAB_SEEDS", "/work/shared/seeds"))


@pytest.mark.parametrize("name", experiments.claim_names())
def test_quotes_are_verbatim_in_the_notes(name):
    def norm(t):
        return re.sub(r"\s+", " ", t).strip()

    for q in experiments.get_claim(name).quotes:
        text = norm((_seeds_dir() / q.source).read_text(encoding="utf-8"))
        for fragment in re.split(r" \.\.\. | / ", q.text):  # "..." elides, " / " joins a card's question and answer
            assert norm(fragment) in text, f"{name}: {fragment!r} is not in {q.source}"


# ------------------------------------------------------------------------------ verdict rules, constructed


def around(mean, spread=0.01, n=5):
    """n values with the given mean and a fixed spread (deterministic)."""
    offsets = [-1.2, -0.4, 0.0, 0.4, 1.2, -0.8, 0.8][:n]
    shift = sum(offsets) / n
    return [mean + spread * (o - shift) for o in offsets]


def est(mean, half):
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": 500, "method": "paired t over 500 images"}


# the value a case puts on the claimed side, the other side, or across the threshold
def side(case, good, bad, mixed):
    return {S: good, N: bad, I: mixed}[case]


def equivariance(case):
    small = side(case, est(0.03, 0.02), est(0.30, 0.03), est(0.10, 0.05))
    drops = {"translate:2": small, "rotate:10": est(0.02, 0.01), "rotate:90": est(0.6, 0.03)}
    return {"tolerance": 0.10, "circular_error": 1e-7, "drops": drops, "small": ["translate:2", "rotate:10"],
            "large": ["rotate:90"]}


def one_pixel(case):
    k, n = side(case, (10, 100), (0, 1000), (1, 50))
    return {"threshold": 0.01, "successes": k, "attacked": n}


def depth(case):
    deep = side(case, 0.30, 0.05, 0.15)
    spread = 0.01 if case != I else 0.3
    return {"plain": {"8": {"train_error": around(0.15, 0.01)}, "20": {"train_error": around(deep, spread)}},
            "residual": {"20": {"train_error": around(0.10, 0.01)}}}


def capacity(case):
    wide_test = side(case, 0.40, 0.03, 0.06)  # gap of the narrow network: 0.06
    spread = 0.01 if case != I else 0.2
    runs = {"200": {"2": {"train_error": around(0.30), "test_error": around(0.36)},
                    "18": {"train_error": around(0.0, 0.0), "test_error": around(wide_test, spread)}},
            "2000": {"2": {"train_error": around(0.35), "test_error": around(0.37)},
                     "18": {"train_error": around(0.05), "test_error": around(0.12)}}}
    return {"runs": runs}


def transfer(case):
    far_gain = side(case, 0.05, 0.40, 0.20)
    spread = 0.01 if case != I else 0.3

    def cell(acc, first=None):
        return {"test_acc": around(acc, 0.01), "first_epoch_acc": around(first or acc - 0.1, 0.01)}

    runs = {"fashion-mnist": {"50": {"scratch": cell(0.40), "linear": cell(0.65), "finetune": cell(0.60)},
                              "1000": {"scratch": cell(0.85, 0.6), "linear": cell(0.80), "finetune": cell(0.87, 0.8)}},
            "digits": {"50": {"scratch": cell(0.40), "linear": {"test_acc": around(0.40 + far_gain, spread),
                                                                "first_epoch_acc": around(0.3)},
                              "finetune": cell(0.5)},
                       "1000": {"scratch": cell(0.9), "linear": cell(0.9), "finetune": cell(0.9)}}}
    return {"near": "fashion-mnist", "far": "digits", "runs": runs}


def fc_parameters(case):
    share = {S: 0.9, N: 0.3, I: None}[case]
    n = {"fc_param_share": share, "conv_memory_share": 0.99, "conv_layers": [{"ratio": 169.0}, {"ratio": 3025.0}]}
    return {"networks": ["alexnet"], "by_network": {"alexnet": n}}


def saturation(case):
    relu = side(case, 0.0, -3.0, -2.0)
    return {"decay": {"4": {"sigmoid": around(-1.0), "relu": around(0.0)},
                      "16": {"sigmoid": around(-7.0, 0.2), "relu": around(relu, 0.2 if case != I else 1.0)}}}


def visualisation(case):
    guided = side(case, 0.8, 0.2, 0.5)
    n = 40
    marked = [1] * n
    clean = [1, 0] * (n // 2)
    return {"threshold": 0.5,
            "sanity": {"correlation": {"guided": around(guided, 0.05 if case != I else 0.4, 5),
                                       "saliency": around(0.1, 0.05, 5)}},
            "bias": {"correct_marked": marked, "correct_clean": clean, "marker_share_biased": [0.06] * n,
                     "marker_share_control": [0.01] * n}}


def defence(case):
    adaptive = side(case, est(0.02, 0.02), est(0.30, 0.04), est(0.10, 0.05))
    return {"margin": 0.10, "adversarial_gain": est(0.45, 0.05), "defences": {"jpeg quality=50":
                                                                             {"adaptive_gain": adaptive}}}


def imbalance(case):
    focal = side(case, 0.15, 0.02, 0.06)
    spread = 0.01 if case != I else 0.3
    return {"minority_recall": {"ce": around(0.05), "focal": around(focal, spread),
                                "class_balanced_focal": around(0.5)}}


def dropout(case):
    ratio = side(case, 1.0, 0.5, 1.0)
    spread = 0.001 if case != I else 0.05
    return {"tolerance": 0.01, "p": 0.5, "mean_ratio_inverted": around(ratio, spread, 7),
            "gap": {"0": around(0.10), "0.5": around(0.05)}}


def early_stopping(case):
    last = side(case, 0.6, 0.4, 0.5)
    spread = 0.01 if case != I else 0.4
    return {"runs": {"val_loss_last": around(0.6), "val_loss_min": around(0.45), "test_loss_best": around(0.5),
                     "test_loss_last": around(last, spread)}}


def batchnorm(case):
    bn = side(case, 0.0, -2.0, -1.0)
    spread = 0.0 if case != I else 2.0
    return {"log10_best_lr": {"bn": around(bn, spread, 3), "plain": [-1.0, -1.0, -1.0]}}


def xavier(case):
    last_std = side(case, 0.2, 0.01, 0.06)
    runs = {"small": [{"std": [0.2, 1e-7], "saturated": [0.0, 0.0]}] * 3,
            "xavier": [{"std": [0.6, last_std * f], "saturated": [0.0, 0.0]} for f in ((1, 1.1, 0.9) if case != I
                                                                                      else (0.2, 1.0, 5.0))],
            "large": [{"std": [1.0, 1.0], "saturated": [0.9, 0.9]}] * 3}
    return {"small": 0.01, "large": 1.0, "runs": runs}


def ensembles(case):
    best = [1] * 40 + [0] * 20
    ens = side(case, [1] * 50 + [0] * 10, [1] * 30 + [0] * 30, [1] * 39 + [0] + [1] * 2 + [0] * 18)
    return {"cycles": 3, "correct": {"members": [best, [1] * 35 + [0] * 25], "ensemble": ens,
                                     "snapshot": [1] * 50 + [0] * 10, "average": [1] * 48 + [0] * 12}}


def optimisers(case):
    adam = side(case, [30, 35, 40], [900, 950, 1000], [50, 500, 5000])
    runs = {"sgd": {"iterations": [400, 420, 380]}, "adam": {"iterations": adam}}
    return {"quadratic": runs, "network": {"sgd": {"iterations": [300, 310, 290]},
                                          "adam": {"iterations": [40, 45, 50]}}}


def pruning(case):
    drop = side(case, est(0.002, 0.002), est(0.05, 0.01), est(0.01, 0.01))
    speed = {"mean": 1.8, "low": 1.6, "high": 2.0, "n": 10, "method": "t over 10 timing repeats"}
    return {"tolerance": 0.01, "verdict_sparsity": 0.5, "verdict_channels": 0.25, "magnitude": {"0.5": {"drop": drop}},
            "channels": {"0.25": {"drop": est(0.004, 0.002), "speedup": speed}}}


def receptive_field(case):
    measured = {S: 11, N: 13, I: None}[case]
    rows = [{"kernel": 11, "rf": 11, "measured": measured, "computed_in_input": 11},
            {"kernel": 3, "rf": 19, "measured": 19, "computed_in_input": 19}]
    return {"fields": {"alexnet": rows}}


def shape_bias(case):
    def obs(shape, texture):
        return {"shape": shape, "texture": texture, "other": 10}

    net = side(case, obs(180, 620), obs(600, 200), obs(42, 38))  # 22.5% / 75% / 52.5% of 80 (straddles 50%)
    return {"models": {"efficientnet_lite0": net}, "paper": {"humans": obs(9000, 400), "VGG-16": obs(130, 625)},
            "images": 1280}


CASES = {"equivariance": equivariance, "one-pixel": one_pixel, "depth-residual": depth, "estimation-error": capacity,
         "transfer": transfer, "fc-parameters": fc_parameters, "saturation": saturation,
         "visualisation": visualisation, "adversarial-defence": defence, "imbalance-losses": imbalance,
         "dropout": dropout, "early-stopping": early_stopping, "batchnorm-lr": batchnorm, "xavier-init": xavier,
         "ensembles": ensembles, "optimisers": optimisers, "pruning": pruning, "receptive-field": receptive_field,
         "shape-bias": shape_bias}
EXACT = {"fc-parameters", "receptive-field"}  # computed without sampling: never inconclusive


def test_every_claim_has_constructed_cases():
    assert set(CASES) == set(experiments.claim_names())


@pytest.mark.parametrize("name, case", [(n, c) for n in sorted(CASES) for c in (S, N, I)
                                        if not (c == I and n in EXACT)])
def test_verdict_rule_on_constructed_numbers(name, case):
    v = experiments.get_claim(name).verdict(CASES[name](case))
    assert v.status == case, v.reason
    assert v.parts and all(p.status == decide(p.estimate, p.threshold, p.claim) for p in v.parts)
    assert v.status == combine(v.parts).status
