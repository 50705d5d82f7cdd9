"""Text formatting shared by the CLI, the library's ``format_*`` helpers and the report: fixed-width tables,
markdown tables, and one way to write a fraction (as a percent)."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, align: str | None = None) -> str:
    """A fixed-width text table; ``align`` is one char per column, ``l`` or ``r`` (numbers right by default)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    if align is None:
        align = "".join(
            "r" if cells and all(_is_number(r[i]) for r in cells) else "l" for i in range(len(headers))
        )

    def fmt(row: Sequence[str]) -> str:
        out = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(out).rstrip()

    lines = [fmt(list(headers)), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in cells]
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The same rows as a GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def percent(fraction: float | None, digits: int = 1) -> str:
    """``0.8912 -> "89.1%"``; the one way cnnlab prints accuracies and rates (``None`` -> ``"-"``)."""
    if fraction is None:
        return "-"
    return f"{100 * float(fraction):.{digits}f}%"


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", "").rstrip("%").rstrip("x"))
    except ValueError:
        return False
    return True
