"""Progress bars for slow work (training, visualisation, sanity checks, feature extraction, one-pixel, experiments):
tqdm on stderr, shown only when stderr is a terminal, so logs and tests stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def enabled(flag: bool | None = None) -> bool:
    """``flag`` when given, else whether stderr is a terminal."""
    if flag is not None:
        return bool(flag)
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def bar(total: int | None = None, *, desc: str = "", unit: str = "it", show: bool | None = None,
        initial: int = 0) -> Any:
    """A tqdm bar (disabled unless :func:`enabled`); use as a context manager and call ``.update(n)``."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=not enabled(show))


def track(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
          show: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(total, desc=desc, unit=unit, show=show) as b:
        for x in items:
            yield x
            b.update(1)
