"""The statistics behind the claims' verdicts: estimates with 95% confidence intervals and one decision rule.

Every number a verdict reads is an :class:`Estimate` (value, interval, how many samples, which method):

* :func:`t_interval` -- the mean of independent repeats (training seeds, starting points, images) with the
  Student-t interval ``mean +- t(0.975, n - 1) * sd / sqrt(n)``. One repeat gives an infinite interval, so a
  rule reading it can only be inconclusive.
* :func:`paired_interval` -- the same on the differences ``a_i - b_i`` of paired repeats (same seed, same
  image): the noise common to both arms cancels.
* :func:`wilson_interval` -- a proportion ``k / n`` (an attack's success rate) with Wilson's score interval,
  which stays inside [0, 1] and is not degenerate at ``k = 0``.
* :func:`exact` -- a computed quantity with no sampling (parameter counts, receptive fields).

:func:`decide` is the one rule: a claim that a quantity is above (below) a threshold is *supported* when the
whole interval lies above (below) it, *not supported* when the whole interval lies on the other side, and
*inconclusive* when the interval contains the threshold. :func:`combine` joins the parts of a claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
STATUSES = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)

# two-sided 95% quantiles t(0.975, df) of Student's t for df = 1..30 (beyond 30 the normal 1.96 is within 2%)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
_Z975 = 1.959964


def t_quantile(df: int) -> float:
    """``t(0.975, df)``: the two-sided 95% quantile of Student's t (table to 30, then a Cornish-Fisher term
    on the normal quantile, within 1e-4 of scipy)."""
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% confidence interval.

    Attributes:
        value: the point estimate (a mean, a difference of means, a proportion or an exact value).
        low, high: the interval (``-inf``/``inf`` when it cannot be computed, e.g. one seed).
        n: how many repeats it rests on (0 for an exact value).
        method: how the interval was made, in words (``"t over 3 seeds"``, ``"Wilson over 40 images"``,
            ``"exact"``).
    """

    value: float
    low: float
    high: float
    n: int
    method: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("value", "low", "high"):
            if not math.isfinite(d[k]):
                d[k] = str(d[k])  # JSON has no inf / nan
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Estimate:
        return cls(float(d["value"]), float(d["low"]), float(d["high"]), int(d["n"]), str(d["method"]))


def _finite(values: Sequence[float], what: str) -> list[float]:
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError(f"{what}: no values")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{what}: values must be finite, got {vals}")
    return vals


def t_interval(values: Sequence[float], *, unit: str = "seeds") -> Estimate:
    """Mean of independent repeats with the two-sided 95% Student-t interval (``n = 1``: infinite)."""
    vals = _finite(values, "t_interval")
    n = len(vals)
    mean = sum(vals) / n
    if n == 1:
        return Estimate(mean, -math.inf, math.inf, 1, f"t over 1 {unit.rstrip('s')} (no interval)")
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, f"t over {n} {unit}")


def paired_interval(a: Sequence[float], b: Sequence[float], *, unit: str = "seeds") -> Estimate:
    """Mean of the paired differences ``a_i - b_i`` with its 95% t interval."""
    a, b = _finite(a, "paired_interval a"), _finite(b, "paired_interval b")
    if len(a) != len(b):
        raise ValueError(f"paired_interval needs equal lengths, got {len(a)} and {len(b)}")
    est = t_interval([x - y for x, y in zip(a, b)], unit=unit)
    return Estimate(est.value, est.low, est.high, est.n, f"paired {est.method}")


def wilson_interval(k: int, n: int, *, unit: str = "images") -> Estimate:
    """The proportion ``k / n`` with Wilson's 95% score interval (Wilson 1927)."""
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs integers 0 <= k <= n, n >= 1; got k={k!r}, n={n!r}")
    z = _Z975
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n, f"Wilson over {n} {unit}")


def summary(est: Estimate, *, paired: bool = False) -> dict[str, Any]:
    """An estimate as the numbers dict claims store when the raw values are too many to keep (per-image values
    of thousands of images): ``{"mean", "low", "high", "n", "method"}``; :func:`from_summary` reads it back."""
    return {"mean": est.value, "low": est.low, "high": est.high, "n": est.n,
            "method": ("paired " if paired and not est.method.startswith("paired") else "") + est.method}


def from_summary(d: dict[str, Any]) -> Estimate:
    """The :class:`Estimate` of a :func:`summary` dict."""
    return Estimate(float(d["mean"]), float(d["low"]), float(d["high"]), int(d["n"]), str(d["method"]))


def exact(value: float) -> Estimate:
    """A value computed without sampling: its interval is the value itself."""
    v = float(value)
    return Estimate(v, v, v, 0, "exact")


def decide(est: Estimate, threshold: float, claim: str = "above") -> str:
    """The verdict of "the quantity is above (or below) ``threshold``" from its interval.

    ``claim="above"``: supported when ``low > threshold``, not supported when ``high < threshold``,
    inconclusive otherwise (``"below"`` mirrors it). An exact value equal to the threshold is not supported
    (the claim is strict).
    """
    if claim not in ("above", "below"):
        raise ValueError(f"claim must be 'above' or 'below', got {claim!r}")
    lo, hi, t = est.low, est.high, float(threshold)
    if claim == "below":
        lo, hi, t = -hi, -lo, -t
    if lo > t:
        return SUPPORTED
    if hi < t or (lo == hi == t):
        return NOT_SUPPORTED
    return INCONCLUSIVE


@dataclass
class Part:
    """One tested statement of a claim: what is compared, the estimate, the threshold, the verdict."""

    name: str
    estimate: Estimate
    threshold: float
    claim: str  # "above" or "below"
    status: str
    unit: str = ""  # how to print the numbers: "" (plain), "pp" (percentage points), "%", "x", "log10"

    def short(self) -> str:
        """``name = value [low, high]`` (no interval for an exact value)."""
        e, f = self.estimate, _fmt(self.unit)
        ci = "" if e.method == "exact" else f" [{f(e.low)}, {f(e.high)}]"
        return f"{self.name} = {f(e.value)}{ci}"

    def needs(self) -> str:
        """The condition, e.g. ``"> +0.0 pp"``."""
        return f"{'>' if self.claim == 'above' else '<'} {_fmt(self.unit)(self.threshold)}"

    def interval(self) -> str:
        """``value [low, high]`` in the part's unit (no interval for an exact value)."""
        return self.short().split(" = ", 1)[1]

    @property
    def reason(self) -> str:
        word = {SUPPORTED: "holds", NOT_SUPPORTED: "fails", INCONCLUSIVE: "undecided"}[self.status]
        return f"{self.short()} ({self.estimate.method}); needs {self.needs()}: {word}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "estimate": self.estimate.to_json(), "threshold": self.threshold,
                "claim": self.claim, "status": self.status, "unit": self.unit, "reason": self.reason}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Part:
        return cls(d["name"], Estimate.from_json(d["estimate"]), float(d["threshold"]), d["claim"], d["status"],
                   d.get("unit", ""))


def part(name: str, est: Estimate, threshold: float, claim: str = "above", *, unit: str = "") -> Part:
    """A :class:`Part` whose status is :func:`decide` of ``est`` against ``threshold``."""
    return Part(name, est, float(threshold), claim, decide(est, threshold, claim), unit)


def _fmt(unit: str):
    def f(v: float) -> str:
        if not math.isfinite(v):
            return "-inf" if v < 0 else "inf"
        if unit == "pp":
            return f"{100 * v:+.1f} pp"
        if unit == "%":
            return f"{100 * v:.1f}%"
        if unit == "x":
            return f"{v:.4g}x"
        if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3):
            return f"{v:.2e}"
        return f"{v:.3g}"

    return f


@dataclass
class Verdict:
    """A claim's verdict: its status, the reason in one sentence, and the parts it was combined from."""

    status: str
    reason: str
    parts: list[Part]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "parts": [p.to_json() for p in self.parts]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        return cls(d["status"], d["reason"], [Part.from_json(p) for p in d.get("parts", [])])


def combine(parts: Sequence[Part]) -> Verdict:
    """All parts supported: supported. Any part not supported: not supported (the reason names those parts).
    Otherwise inconclusive (naming the undecided parts)."""
    parts = list(parts)
    if not parts:
        raise ValueError("a verdict needs at least one part")
    failed = [p for p in parts if p.status == NOT_SUPPORTED]
    open_ = [p for p in parts if p.status == INCONCLUSIVE]
    if failed:
        return Verdict(NOT_SUPPORTED, "; ".join(p.reason for p in failed), parts)
    if open_:
        return Verdict(INCONCLUSIVE, "; ".join(p.reason for p in open_), parts)
    return Verdict(SUPPORTED, "every part holds: " + "; ".join(p.name for p in parts), parts)
