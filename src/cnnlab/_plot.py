"""The plotting backend: matplotlib with the non-interactive Agg backend, figures saved atomically and closed.

Every plot in cnnlab goes through :func:`pyplot` and :func:`save_figure`, so none opens a window, none is left
half-written, and figures are readable (one default size and dpi; callers set larger sizes for grids).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from cnnlab._io import atomic_write_bytes

DPI = 120


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend unless the caller already chose one (no display needed)."""
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # a notebook's or user's backend, once chosen, is left alone
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_bytes(fig: Any, *, dpi: int = DPI, fmt: str = "png") -> bytes:
    """The figure encoded as PNG (or ``fmt``) bytes; the figure is closed."""
    plt = pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = DPI) -> Path:
    """Save ``fig`` to ``path`` atomically (format from the suffix, PNG by default) and close it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    return atomic_write_bytes(path, figure_bytes(fig, dpi=dpi, fmt=fmt))
