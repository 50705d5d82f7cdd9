"""Receptive fields: size, effective stride and first centre of a feature map, per spatial dimension.

Coordinates are input pixel centres: pixel ``i`` sits at ``i``. A local field says that output unit ``u``
along a dimension sees the input pixels ``start + u * stride +- (size - 1) / 2`` (before clipping to the
image). Layers compose as (Araujo et al., "Computing receptive fields of convolutional neural networks",
Distill 2019)::

    size'   = size + (k - 1) * d * stride
    stride' = stride * s
    start'  = start + ((k - 1) * d / 2 - p) * stride

At an add or a concatenation the field is the region covering every input's field; if the inputs' centres
differ the branches are *misaligned* and the field says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

LOCAL, GLOBAL, NONE, UNKNOWN = "local", "global", "none", "unknown"


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of a feature map's units.

    Attributes:
        kind: ``"local"`` (size/stride/start are known), ``"global"`` (every unit sees the whole input, e.g.
            after attention or a flatten of a spatial map), ``"none"`` (does not depend on the input: a
            parameter, a constant) or ``"unknown"`` (cannot be computed; ``note`` says why).
        size, stride, start: ``(h, w)`` for a local field; stride and start may be fractions (transposed
            convolutions, upsampling).
        aligned: False when branches with different centres were merged (add / concat).
        exact: False when the size is an upper bound (e.g. a transposed convolution with stride > 1, whose
            units see different numbers of inputs).
        note: why the field is unknown, misaligned or approximate.
    """

    kind: str
    size: tuple[int, int] | None = None
    stride: tuple[Fraction, Fraction] | None = None
    start: tuple[Fraction, Fraction] | None = None
    aligned: bool = True
    exact: bool = True
    note: str = ""

    @staticmethod
    def identity() -> ReceptiveField:
        """The field of the input image itself: one pixel, stride 1, first centre at 0."""
        one, zero = Fraction(1), Fraction(0)
        return ReceptiveField(LOCAL, (1, 1), (one, one), (zero, zero))

    @staticmethod
    def unknown(note: str) -> ReceptiveField:
        return ReceptiveField(UNKNOWN, note=note)

    @property
    def is_local(self) -> bool:
        return self.kind == LOCAL

    def region(self, unit: Sequence[int]) -> tuple[tuple[float, float], tuple[float, float]]:
        """Input coordinates ``((top, bottom), (left, right))`` seen by unit ``(uh, uw)``, not clipped."""
        if not self.is_local:
            raise ValueError(f"a {self.kind} receptive field has no region")
        out = []
        for i in range(2):
            c = self.start[i] + unit[i] * self.stride[i]
            half = Fraction(self.size[i] - 1, 2)
            out.append((float(c - half), float(c + half)))
        return out[0], out[1]

    def to_dict(self) -> dict:
        """``{"size", "stride", "start"}`` (a number when both dimensions agree, else ``[h, w]``), plus
        ``kind``, ``aligned``, ``exact`` and ``note``; unknown values are ``None``."""
        def num(v):
            if v is None:
                return None
            vals = [int(x) if Fraction(x).denominator == 1 else float(x) for x in v]
            return vals[0] if vals[0] == vals[1] else vals

        return {"size": num(self.size), "stride": num(self.stride), "start": num(self.start), "kind": self.kind,
                "aligned": self.aligned, "exact": self.exact, "note": self.note}

    def __str__(self) -> str:
        if not self.is_local:
            return self.kind
        d = self.to_dict()
        flags = ("" if self.aligned else " misaligned") + ("" if self.exact else " (max)")
        return f"{fmt_value(d['size'])} /{fmt_value(d['stride'])} @{fmt_value(d['start'])}{flags}"


def fmt_value(v) -> str:
    """A value of :meth:`ReceptiveField.to_dict` as text: ``3``, ``0.5``, or ``3x5`` for an ``[h, w]`` pair."""
    if isinstance(v, list):
        return "x".join(fmt_value(x) for x in v)
    return str(v) if isinstance(v, int) else f"{v:g}"


def _pair(v, default=None) -> tuple[int, int]:
    """``(h, w)`` from an int or a 1- or 2-sequence (torch's argument forms); ``None`` means ``default``."""
    if v is None:
        v = default
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def through_window(rf: ReceptiveField, kernel, stride, padding, dilation=1) -> ReceptiveField:
    """The field after a sliding window (convolution, pooling): kernel ``k``, stride ``s``, padding ``p``
    (symmetric, before the first unit), dilation ``d``; each argument an int or an ``(h, w)`` pair."""
    if not rf.is_local:
        return rf
    k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    size = tuple(rf.size[i] + (k[i] - 1) * d[i] * rf.stride[i] for i in range(2))
    if any(Fraction(x).denominator != 1 for x in size):  # only after fractional strides
        return ReceptiveField.unknown("window over an upsampled map with a fractional stride")
    return ReceptiveField(
        LOCAL,
        tuple(int(x) for x in size),
        tuple(rf.stride[i] * s[i] for i in range(2)),
        tuple(rf.start[i] + (Fraction((k[i] - 1) * d[i], 2) - p[i]) * rf.stride[i] for i in range(2)),
        rf.aligned, rf.exact, rf.note,
    )


def through_pad(rf: ReceptiveField, before: Sequence[int]) -> ReceptiveField:
    """Explicit padding (``F.pad``) of ``before = (top, left)`` pixels shifts the first centre."""
    if not rf.is_local:
        return rf
    return ReceptiveField(LOCAL, rf.size, rf.stride, tuple(rf.start[i] - before[i] * rf.stride[i] for i in range(2)),
                          rf.aligned, rf.exact, rf.note)


def through_transposed(rf: ReceptiveField, kernel, stride, padding, dilation=1) -> ReceptiveField:
    """The field after a transposed convolution. Output unit ``o`` reads input units ``i`` with
    ``o = i * s - p + m * d``; with stride > 1 different units read different counts, so the size is the
    largest (``exact=False``) and the centres are those of a uniform ``1/s`` grid."""
    if not rf.is_local:
        return rf
    k, s, p, d = _pair(kernel), _pair(stride), _pair(padding), _pair(dilation)
    size, stride_out, start, exact = [], [], [], rf.exact
    for i in range(2):
        counts = []
        for o in range(s[i]):  # residues: the pattern repeats every s outputs
            lo = -(-(o + p[i] - (k[i] - 1) * d[i]) // s[i])
            hi = (o + p[i]) // s[i]
            counts.append(max(hi - lo, 0))
        span = max(counts)
        exact = exact and s[i] == 1
        size.append(rf.size[i] + span * rf.stride[i])
        stride_out.append(rf.stride[i] / s[i])
        start.append(rf.start[i] + Fraction(p[i] * 2 - (k[i] - 1) * d[i], 2 * s[i]) * rf.stride[i])
    if any(Fraction(x).denominator != 1 for x in size):
        return ReceptiveField.unknown("transposed convolution over a fractional-stride map")
    note = rf.note if exact else "transposed convolution with stride > 1: largest field shown"
    return ReceptiveField(LOCAL, tuple(int(x) for x in size), tuple(stride_out), tuple(start), rf.aligned, exact, note)


def covering(fields: Sequence[ReceptiveField]) -> ReceptiveField:
    """The field covering several inputs' fields on the same grid (add, multiply, concat of channels).

    Fields of kind ``none`` are ignored; any ``unknown`` makes the result unknown; any ``global`` makes it
    global. Local fields must share a stride, else the result is unknown. Differing centres give the covering
    region with ``aligned=False``.
    """
    fields = [f for f in fields if f.kind != NONE]
    if not fields:
        return ReceptiveField(NONE)
    for f in fields:
        if f.kind == UNKNOWN:
            return f
    if any(f.kind == GLOBAL for f in fields):
        return ReceptiveField(GLOBAL, note="merges a global input")
    first = fields[0]
    if len(fields) == 1:
        return first
    if any(f.stride != first.stride for f in fields):
        return ReceptiveField.unknown("merges feature maps with different effective strides")
    size, start = [], []
    for i in range(2):
        lo = min(f.start[i] - Fraction(f.size[i] - 1, 2) for f in fields)
        hi = max(f.start[i] + Fraction(f.size[i] - 1, 2) for f in fields)
        size.append(hi - lo + 1)
        start.append((lo + hi) / 2)
    aligned = all(f.aligned for f in fields) and all(f.start == first.start for f in fields)
    if any(Fraction(x).denominator != 1 for x in size):
        return ReceptiveField.unknown("merges fields whose extents do not fall on whole pixels")
    note = next((f.note for f in fields if f.note), "")
    if not aligned and "misaligned" not in note:
        note = "misaligned branches: their centres differ; the covering region is shown"
    return ReceptiveField(LOCAL, tuple(int(x) for x in size), first.stride, tuple(start), aligned,
                          all(f.exact for f in fields), note)
