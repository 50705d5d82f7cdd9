"""The claims registry: every statement of the course notes that an experiment can check, with its verdict.

A claim is registered by decorating its experiment function::

    @register_claim("saturation", number="8", title="...", quotes=(Quote("...", "003_....txt"),),
                    tested="...", rule="...", uncertainty="...", settings=SaturationSettings,
                    quick={"seeds": (0, 1, 2)}, verdict=saturation_verdict, plot=plot_saturation_claim)
    def saturation_claim(s: SaturationSettings, ctx: ClaimContext) -> dict: ...

* ``settings`` is a dataclass whose defaults are the *full* setting (the benchmark); ``quick`` holds the
  fields that differ in the quick setting (seconds to a minute on a 2-core CPU). Every settings class has a
  ``seeds`` field.
* The experiment returns the raw numbers as a JSON-able dict (per-seed values, curves).
* ``verdict(numbers) -> Verdict`` is a pure function of those numbers (tests feed it constructed numbers);
  it decides with :func:`cnnlab.experiments._claims_stats.decide` on 95% intervals.
* ``plot(result) -> Figure`` draws a :class:`ClaimResult`; it is separate from the experiment.

Claim modules are the ``cnnlab.experiments._claims_*`` modules, found by name (:func:`discover`): a new claim
is one new module, touching no other file.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab._io import atomic_write_json
from cnnlab._registry import Registry
from cnnlab.experiments._claims_stats import STATUSES, Verdict


@dataclass(frozen=True)
class Quote:
    """A sentence from the course notes, verbatim (typos kept), and the seed file it is in."""

    text: str
    source: str


@dataclass(frozen=True)
class Claim:
    """A registered claim. Build it with :func:`register_claim`; run it with :func:`run_claim`.

    Attributes:
        id: short name (``"one-pixel"``), used on the command line.
        number: the claim's number in issue 13 (``"2"``, ``"12a"``), the report's order.
        title: the claim in one line.
        quotes: the notes' sentences it tests.
        tested: what exactly is measured, where the notes are imprecise.
        rule: how the verdict follows from the numbers.
        uncertainty: which interval decides (seeds, images, exact).
        settings: the settings dataclass (its defaults are the full setting).
        quick: the fields that differ in the quick setting.
        run: ``run(settings, ctx) -> dict`` the experiment.
        verdict: ``verdict(numbers) -> Verdict``.
        plot: ``plot(result) -> matplotlib Figure`` or ``None``.
        demo: fast enough (a few seconds in the quick setting) for the demo report.
    """

    id: str
    number: str
    title: str
    quotes: tuple[Quote, ...]
    tested: str
    rule: str
    uncertainty: str
    settings: type
    quick: dict[str, Any]
    run: Callable[[Any, ClaimContext], dict[str, Any]]
    verdict: Callable[[dict[str, Any]], Verdict]
    plot: Callable[[ClaimResult], Any] | None = None
    demo: bool = False

    def config(self, quick: bool = False, **changes: Any) -> Any:
        """The settings of the quick (or full) setting, with ``changes`` applied."""
        return self.settings(**{**(self.quick if quick else {}), **changes})

    def settings_json(self, settings: Any) -> dict[str, Any]:
        """``settings`` as the JSON a :class:`ClaimResult` stores (to compare a stored result's settings)."""
        return _jsonable(settings)

    def __repr__(self) -> str:
        return f"Claim({self.number}: {self.id!r}, {self.title!r})"


CLAIMS: Registry[Claim] = Registry("claim")


def register_claim(id: str, *, number: str, title: str, quotes: Sequence[Quote], tested: str, rule: str,
                   uncertainty: str, settings: type, quick: dict[str, Any],
                   verdict: Callable[[dict[str, Any]], Verdict], plot: Callable[[ClaimResult], Any] | None = None,
                   demo: bool = False) -> Callable[[Callable], Callable]:
    """Decorator registering the experiment function of a claim (see the module docstring)."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", id):
        raise ValueError(f"claim id must be lower-case words joined by '-', got {id!r}")
    if not re.fullmatch(r"[0-9]+[a-z]?", number):
        raise ValueError(f"claim number must look like '4' or '12a', got {number!r}")
    if not dataclasses.is_dataclass(settings) or "seeds" not in {f.name for f in dataclasses.fields(settings)}:
        raise TypeError(f"settings of claim {id!r} must be a dataclass with a 'seeds' field")
    if not quotes:
        raise ValueError(f"claim {id!r} quotes no sentence of the notes")
    settings(**quick)  # a wrong quick field fails at import time

    def deco(fn: Callable[[Any, ClaimContext], dict[str, Any]]) -> Callable:
        CLAIMS.register(id, number=number)(Claim(id, number, title, tuple(quotes), tested, rule, uncertainty,
                                                 settings, dict(quick), fn, verdict, plot, demo))
        return fn

    return deco


def discover() -> None:
    """Import every ``cnnlab.experiments._claims_*`` module (each registers its claims once)."""
    pkg = importlib.import_module("cnnlab.experiments")
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("_claims_"):
            importlib.import_module(f"cnnlab.experiments.{m.name}")


def _order(number: str) -> tuple[int, str]:
    digits = re.match(r"[0-9]+", number).group()
    return int(digits), number[len(digits):]


def claim_names() -> list[str]:
    """Claim ids in the issue's order (by number)."""
    discover()
    return sorted(CLAIMS.names(), key=lambda n: _order(CLAIMS.lookup(n).number))


# claims of the issue that are not registered yet: number -> (title, why)
PENDING_CLAIMS: dict[str, tuple[str, str]] = {}


def get_claim(name: str) -> Claim:
    """A claim by id or by number (``"one-pixel"`` or ``"2"``); ``ValueError`` naming close ids when unknown
    (and saying why, for a claim in :data:`PENDING_CLAIMS`)."""
    discover()
    if isinstance(name, str):
        for n in CLAIMS.names():
            if CLAIMS.lookup(n).number == name:
                return CLAIMS.lookup(n)
        if name in PENDING_CLAIMS:
            title, why = PENDING_CLAIMS[name]
            raise ValueError(f"claim {name} ({title}) is not registered yet: {why}")
    return CLAIMS.lookup(name)


@dataclass
class ClaimContext:
    """What the experiments of one run share: device, data folder and a cache of loaded data sets and trained
    networks (so claims needing the same network train it once; values depend only on their key, so the
    cache never changes a number).
    """

    device: str = "cpu"
    data_dir: str | os.PathLike | None = None
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def dataset(self, spec: str, split: str):
        """``cnnlab.data.load_dataset(spec, split)``, loaded once per context."""
        from cnnlab.data import load_dataset

        return self.memo(("dataset", spec, split), lambda: load_dataset(spec, split, data_dir=self.data_dir))

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, the stored value afterwards."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@dataclass
class ClaimResult:
    """One claim run: its verdict, the numbers it was computed from, the settings and seeds that made them.

    Attributes:
        claim, number, title: which claim.
        verdict: status (supported / not supported / inconclusive), reason and parts.
        numbers: everything the experiment measured (JSON).
        settings: the settings used.
        seeds: the seeds.
        setting: ``"quick"``, ``"full"`` or ``"custom"`` (settings given that are neither).
        seconds: wall time of the experiment.
        cpu_seconds: CPU time of the process during the experiment (on a shared CPU the honest measure of its
            cost: with one torch thread it is the wall time the experiment would take on an idle core).
        files: the JSON and plot written (with ``out_dir``).
    """

    claim: str
    number: str
    title: str
    verdict: Verdict
    numbers: dict[str, Any]
    settings: dict[str, Any]
    seeds: list[int]
    setting: str
    seconds: float
    cpu_seconds: float = 0.0
    files: list[Path] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def quick(self) -> bool:
        return self.setting == "quick"

    def key_numbers(self) -> str:
        """The parts' estimates, one short phrase each (for tables)."""
        return "; ".join(p.short() for p in self.verdict.parts)

    def uncertainty(self) -> str:
        """The interval methods of the parts, deduplicated."""
        return "; ".join(dict.fromkeys(p.estimate.method for p in self.verdict.parts))

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "number": self.number, "title": self.title, "verdict": self.verdict.to_json(),
                "numbers": self.numbers, "settings": self.settings, "seeds": self.seeds, "setting": self.setting,
                "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                "files": [str(f) for f in self.files]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ClaimResult:
        return cls(d["claim"], d["number"], d["title"], Verdict.from_json(d["verdict"]), d["numbers"], d["settings"],
                   list(d["seeds"]), d["setting"], float(d["seconds"]), float(d.get("cpu_seconds", 0.0)),
                   [Path(f) for f in d.get("files", [])])

    def __repr__(self) -> str:
        return f"ClaimResult({self.number} {self.claim!r}: {self.status})"


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def run_claim(name: str, *, quick: bool = False, settings: Any = None, context: ClaimContext | None = None,
              out_dir: str | os.PathLike | None = None) -> ClaimResult:
    """Run one claim's experiment and compute its verdict.

    Args:
        name: claim id or number (:func:`claim_names`).
        quick: the quick setting (default: the full one).
        settings: the claim's settings object (overrides ``quick``), e.g. ``claim.config(True, seeds=(0,))``.
        context: shared data / network cache (a fresh one by default).
        out_dir: writes ``<id>.json`` and, when the claim has a plot, ``<id>.png`` there.

    Example:
        >>> r = run_claim("receptive-field", quick=True)   # doctest: +SKIP
        >>> r.status, r.key_numbers()                      # doctest: +SKIP
    """
    claim = get_claim(name)
    s = settings if settings is not None else claim.config(quick)
    if not isinstance(s, claim.settings):
        raise TypeError(f"settings of claim {claim.id!r} must be a {claim.settings.__name__}, got {type(s).__name__}")
    ctx = context if context is not None else ClaimContext()
    t0, c0 = time.perf_counter(), time.process_time()
    numbers = _jsonable(claim.run(s, ctx))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    verdict = claim.verdict(numbers)
    if verdict.status not in STATUSES:
        raise AssertionError(f"claim {claim.id}: verdict status {verdict.status!r}")
    setting = "quick" if s == claim.config(True) else "full" if s == claim.config(False) else "custom"
    result = ClaimResult(claim.id, claim.number, claim.title, verdict, numbers, _jsonable(s), list(s.seeds),
                         setting, seconds, cpu)
    if out_dir is not None:
        out = Path(out_dir)
        if claim.plot is not None:
            from cnnlab._plot import save_figure

            result.files.append(save_figure(claim.plot(result), out / f"{claim.id}.png"))
        result.files.insert(0, out / f"{claim.id}.json")
        atomic_write_json(out / f"{claim.id}.json", result.to_json())
    return result


def run_claims(names: Sequence[str] | None = None, *, quick: bool = False, context: ClaimContext | None = None,
               out_dir: str | os.PathLike | None = None,
               on_result: Callable[[ClaimResult], None] | None = None) -> list[ClaimResult]:
    """Run several claims (default: all, in order) with one shared context; with ``out_dir`` also writes
    ``claims.json`` (every result). ``on_result`` is called after each claim (progress for the CLI)."""
    ids = claim_names() if not names else [get_claim(n).id for n in names]
    ids = list(dict.fromkeys(ids))
    ctx = context if context is not None else ClaimContext()
    results = []
    for n in ids:
        r = run_claim(n, quick=quick, context=ctx, out_dir=out_dir)
        results.append(r)
        if on_result is not None:
            on_result(r)
    if out_dir is not None:
        atomic_write_json(Path(out_dir) / "claims.json",
                          {"setting": "quick" if quick else "full", "claims": [r.to_json() for r in results]})
    return results


def claims_table(results: Sequence[ClaimResult]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (claim, verdict, key numbers, uncertainty, seeds, wall and CPU seconds) for a terminal or
    markdown table."""
    rows = [[f"{r.number} {r.claim}", r.status, r.key_numbers(), r.uncertainty(),
             ",".join(map(str, r.seeds)), f"{r.seconds:.0f}", f"{r.cpu_seconds:.0f}"] for r in results]
    return ["claim", "verdict", "key numbers", "uncertainty", "seeds", "s", "cpu s"], rows
