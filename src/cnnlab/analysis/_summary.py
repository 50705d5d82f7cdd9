"""``summarize``: per-layer shapes, parameters, memory, MACs/FLOPs and receptive fields of any network.

Conventions:
    * One multiply-accumulate (MAC) = 2 FLOPs. Convolutions and linear layers count their MACs (bias adds
      are not counted, as in fvcore, whose "flops" are these MACs); element-wise ops count 1 FLOP per output
      element, pooling 1 per window element, batch norm 2 per element; views count nothing.
    * Memory of a layer is the size of its output (the notes' ``filters * H * W * 4 / 1024`` KB at float32).
      The forward total counts each new tensor once (in-place ops and views allocate nothing); the training
      total is what autograd saves for the backward pass, measured with saved-tensor hooks.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int
from cnnlab.analysis._fields import ReceptiveField, fmt_value
from cnnlab.analysis._trace import SILENT, ModuleCall, OpEvent, Tracer, _nbytes, _storage_key

log = logging.getLogger(__name__)

KINDS = ("conv", "fc", "other")
FORMATS = ("table", "markdown", "csv", "json")


@dataclass
class LayerRow:
    """One computing layer: a leaf module call, a functional op outside modules (add, cat, flatten,
    functional pooling...), or with ``depth`` a whole module call."""

    name: str
    type: str
    kind: str  # conv / fc / other
    depth: int
    output_shape: list
    params_trainable: int = 0
    params_frozen: int = 0
    memory_bytes: int = 0
    new_bytes: int = 0
    macs: int = 0
    flops: int = 0
    rf: ReceptiveField | None = None

    @property
    def params(self) -> int:
        return self.params_trainable + self.params_frozen

    @property
    def memory_kb(self) -> float:
        """The notes' memory figure: output elements x bytes per element / 1024."""
        return self.memory_bytes / 1024

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "kind": self.kind, "depth": self.depth,
                "output_shape": self.output_shape, "params": self.params,
                "params_trainable": self.params_trainable, "params_frozen": self.params_frozen,
                "memory_bytes": self.memory_bytes, "memory_kb": round(self.memory_kb, 3), "macs": self.macs,
                "flops": self.flops, "rf": self.rf.to_dict() if self.rf is not None else None}


@dataclass
class Summary:
    """The result of :func:`summarize`: rows, totals and subtotals by layer kind.

    Attributes:
        rows: the layers, in execution order (at ``depth``, module calls grouped).
        layers: always the finest rows (leaf modules and functional ops), whatever ``depth``.
        total_params / trainable_params / frozen_params: over the model's unique parameters.
        unused_params: parameters of modules the forward pass never called (e.g. auxiliary heads in eval).
        param_bytes: parameter memory at the summary's dtype.
        activation_bytes: the tensors a forward pass creates (each once; in-place ops and views free).
        saved_bytes: what a training forward keeps for backward (autograd's saved tensors, parameters
            excluded), measured.
        total_macs / total_flops: 1 MAC = 2 FLOPs.
        by_kind: ``{"conv" | "fc" | "other": {"params", "memory_bytes", "macs", "flops", "layers"}}``.
    """

    model: str
    input_size: tuple[int, ...]
    dtype: str
    rows: list[LayerRow]
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    frozen_params: int
    unused_params: int
    param_bytes: int
    activation_bytes: int
    saved_bytes: int
    total_macs: int
    total_flops: int
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    device: str = "meta"
    modules: dict[str, LayerRow] = field(default_factory=dict)

    def row(self, name: str) -> LayerRow:
        """The row, finest layer or module call named ``name`` (e.g. ``"layer4"`` whatever ``depth``)."""
        for r in [*self.rows, *self.layers]:
            if r.name == name:
                return r
        if name in self.modules:
            return self.modules[name]
        raise KeyError(f"no layer named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``cnnlab summary --format json``."""
        return {"model": self.model, "input_size": list(self.input_size), "dtype": self.dtype,
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "frozen_params": self.frozen_params, "unused_params": self.unused_params,
                "param_bytes": self.param_bytes, "total_macs": self.total_macs, "total_flops": self.total_flops,
                "activation_bytes": self.activation_bytes, "saved_bytes": self.saved_bytes,
                "by_kind": self.by_kind, "layers": [r.to_dict() for r in self.rows]}

    def format(self, fmt: str = "table") -> str:
        """The summary as ``"table"`` (fixed width), ``"markdown"``, ``"csv"`` or ``"json"``."""
        return format_summary(self, fmt)

    def __str__(self) -> str:
        return format_summary(self, "table")


def _shape(outputs: Sequence[Tensor]) -> list:
    shapes = [list(t.shape) for t in outputs]
    return shapes[0] if len(shapes) == 1 else shapes


def _check_input_size(input_size) -> tuple[int, ...]:
    if isinstance(input_size, torch.Size):
        input_size = tuple(input_size)
    if not isinstance(input_size, (tuple, list)) or len(input_size) not in (3, 4) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size
    ):
        raise ValueError(f"input_size must be (C, H, W) or (N, C, H, W) of positive ints, got {input_size!r}")
    return tuple(input_size) if len(input_size) == 4 else (1, *input_size)


def summarize(model: nn.Module, input_size: Sequence[int], *, dtype: torch.dtype = torch.float32,
              depth: int | None = None, device: str | torch.device | None = "meta") -> Summary:
    """Per-layer shapes, parameters, memory, MACs/FLOPs and receptive fields of ``model``.

    The forward pass is traced at the level of torch functions (see :mod:`cnnlab.analysis._trace`), so
    functional ops (``x + y``, ``torch.cat``, ``F.relu``, ``torch.flatten``, ``F.pad``) are layers too and
    receptive fields follow every branch of the real graph. The model is not changed: it keeps its mode,
    parameters, ``requires_grad`` flags and batch-norm statistics, and no hook remains.

    Args:
        model: any ``nn.Module`` taking one image batch.
        input_size: ``(C, H, W)`` (batch 1) or ``(N, C, H, W)``.
        dtype: the input's (and, on the meta device, the parameters') dtype; sets bytes per element.
        depth: ``None`` lists the finest layers; ``d`` groups everything below module-nesting depth ``d``
            into its module (``0`` = the model, ``1`` = its children...), like torchinfo's ``depth``.
        device: ``"meta"`` (default) runs the pass on meta copies of the weights: nothing is computed. If the
            model cannot run there (data-dependent ops), the pass runs on the model's own device with
            copies of its buffers. ``None`` uses the model's device directly.

    Returns:
        A :class:`Summary`.

    Example:
        >>> from cnnlab import models
        >>> s = summarize(models.create("vgg16"), (3, 224, 224))
        >>> s.row("features.30").rf.size, s.total_params
        ((212, 212), 138357544)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if depth is not None:
        check_int("depth", depth, 0)
    shape = _check_input_size(input_size)
    tracer, saved, used = trace(model, shape, dtype, device)
    return _build(model, tracer, saved, shape, dtype, depth, used)


def trace(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: str | torch.device | None,
          *, extents: bool = False) -> tuple[Tracer, int, str]:
    """One traced forward pass of a batch of ``shape`` (``device`` as in :func:`summarize`: on meta, falling
    back to the model's device); returns the tracer, the bytes autograd saved for backward and the device
    used."""
    own = next(iter(model.parameters()), None)
    own_device = own.device if own is not None else torch.device("cpu")
    if device is not None and str(device) == "meta" and own_device.type != "meta":
        try:
            return (*_run(model, shape, dtype, torch.device("meta"), extents), "meta")
        except Exception as exc:  # noqa: BLE001 - any failure on meta means: try the real device
            log.info("meta pass failed (%s: %s); tracing on %s", type(exc).__name__, exc, own_device)
            return (*_run(model, shape, dtype, own_device, extents), str(own_device))
    dev = own_device if device is None else torch.device(device)
    return (*_run(model, shape, dtype, dev, extents), str(dev))


def _run(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, extents: bool = False):
    """One traced forward pass; returns the tracer and the bytes autograd saved for backward."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    meta = device.type == "meta"

    def sub(t: Tensor, is_param: bool) -> Tensor:
        if meta:
            c = torch.empty_like(t, device="meta", dtype=dtype if t.is_floating_point() else t.dtype)
            return c.requires_grad_(t.requires_grad) if is_param else c
        if is_param:
            return t
        return t.detach().clone()  # batch-norm statistics of the user's model must not move

    subs = {n: sub(p, True) for n, p in params.items()}
    consts: dict[int, Any] = {id(subs[n]): p for n, p in params.items()}
    for n, b in buffers.items():
        subs[n] = sub(b, False)
        consts[id(subs[n])] = b
    x = torch.zeros(shape, dtype=dtype, device=device)
    tracer = Tracer(x, consts, extents=extents)
    handles = []
    saved: dict[int, int] = {}
    param_storages = {_storage_key(t) for t in subs.values()}

    def pack(t: Tensor) -> Tensor:
        base = t if t._base is None else t._base
        key = _storage_key(base)
        if key not in param_storages and key not in saved:
            saved[key] = base.untyped_storage().nbytes() if not meta else _nbytes(base)
        return t

    modes, flags = [(m, m.training) for m in model.modules()], {n: p.requires_grad for n, p in params.items()}
    try:
        for name, m in model.named_modules():
            handles.append(m.register_forward_pre_hook(tracer.pre_hook(name)))
            handles.append(m.register_forward_hook(tracer.post_hook(name)))
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), tracer:
            torch.func.functional_call(model, subs, (x,), strict=False)
    finally:
        for h in handles:
            h.remove()
        handles.clear()
        for m, mode in modes:  # per module: model.train(flag) would flatten a mix of train and eval modes
            m.training = mode
        for n, p in params.items():
            p.requires_grad_(flags[n])
        tracer.keep.clear()
    return tracer, sum(saved.values())


def _params_of(module: nn.Module) -> list[nn.Parameter]:
    return list(module.parameters())


def _build(model, tracer: Tracer, saved: int, shape, dtype, depth, device) -> Summary:
    attributed: set[int] = set()

    def take(params: list) -> tuple[int, int]:
        tr = fr = 0
        for p in params:
            if id(p) in attributed:
                continue
            attributed.add(id(p))
            if p.requires_grad:
                tr += p.numel()
            else:
                fr += p.numel()
        return tr, fr

    fine: list[tuple[LayerRow, list[ModuleCall]]] = []
    leaf_rows: dict[int, LayerRow] = {}
    counters: dict[str, int] = {}
    for ev in tracer.events:
        if isinstance(ev, ModuleCall):
            tr, fr = take(_params_of(ev.module)) if ev.first else (0, 0)
            in_keys = {_storage_key(t) for t in ev.inputs}
            new = sum(_nbytes(t) for t in ev.outputs if _storage_key(t) not in in_keys)
            row = LayerRow(ev.label, type(ev.module).__name__, "other", len(ev.path) - 1, _shape(ev.outputs), tr, fr,
                           sum(_nbytes(t) for t in ev.outputs), new, rf=ev.rf)
            leaf_rows[id(ev)] = row
            fine.append((row, ev.path))
            continue
        ev: OpEvent
        inner = ev.path[-1] if ev.path else None
        if inner is not None and inner.leaf:  # part of a leaf module's row
            row = leaf_rows[id(inner)]
            row.macs += ev.macs
            row.flops += ev.flops
            if ev.kind != "other" and row.kind == "other":
                row.kind = ev.kind
            tr, fr = take(ev.params)
            row.params_trainable, row.params_frozen = row.params_trainable + tr, row.params_frozen + fr
            continue
        fresh = [p for p in ev.params if id(p) not in attributed]
        if ev.name in SILENT and not fresh:
            continue
        parent = inner.label if inner is not None and inner.name else ""
        base = f"{parent}.{ev.name}" if parent else ev.name
        counters[base] = counters.get(base, 0) + 1
        name = base if counters[base] == 1 else f"{base}_{counters[base]}"
        tr, fr = take(fresh)
        row = LayerRow(name, ev.name, ev.kind, len(ev.path), _shape(ev.outputs), tr, fr,
                       sum(_nbytes(t) for t in ev.outputs), ev.new_bytes, ev.macs, ev.flops, ev.rf)
        fine.append((row, list(ev.path)))

    rows = [r for r, _ in fine] if depth is None else _group(fine, depth)
    modules = {r.name: r for r in _group(fine, None)}
    all_params = list(model.parameters())
    total = sum(p.numel() for p in all_params)
    trainable = sum(p.numel() for p in all_params if p.requires_grad)
    by_kind = {k: {"params": 0, "memory_bytes": 0, "macs": 0, "flops": 0, "layers": 0} for k in KINDS}
    for r, _ in fine:
        k = by_kind[r.kind]
        k["params"] += r.params
        k["memory_bytes"] += r.memory_bytes
        k["macs"] += r.macs
        k["flops"] += r.flops
        k["layers"] += 1
    itemsize = torch.empty((), dtype=dtype).element_size()
    param_bytes = sum(p.numel() * (itemsize if p.is_floating_point() else p.element_size()) for p in all_params)
    layers = [r for r, _ in fine]
    name = getattr(getattr(model, "cnnlab", None), "name", None) or type(model).__name__
    return Summary(
        model=name, input_size=tuple(shape), dtype=str(dtype).replace("torch.", ""), rows=rows, layers=layers,
        total_params=total, trainable_params=trainable, frozen_params=total - trainable,
        unused_params=total - sum(r.params for r in layers), param_bytes=param_bytes,
        activation_bytes=sum(r.new_bytes for r in layers), saved_bytes=saved,
        total_macs=sum(r.macs for r in layers), total_flops=sum(r.flops for r in layers), by_kind=by_kind,
        device=device, modules=modules,
    )


def _group(fine: list[tuple[LayerRow, list[ModuleCall]]], depth: int | None) -> list[LayerRow]:
    """Rows at most ``depth`` deep: deeper rows are summed into their enclosing module call. With ``None``:
    one row per module call that has sub-layers, each summing everything inside it."""
    out: list[LayerRow] = []
    groups: dict[int, LayerRow] = {}
    for row, path in fine:
        if depth is None:
            for call in path[: len(path) - 1 if path and path[-1].leaf else len(path)]:
                _add(groups, out, call, row)
            continue
        if row.depth <= depth or len(path) <= depth:
            out.append(row)
            continue
        _add(groups, out, path[depth], row)
    return out


def _add(groups: dict[int, LayerRow], out: list[LayerRow], call: ModuleCall, row: LayerRow) -> None:
    """Sum ``row`` into the grouped row of ``call`` (created on first use, appended to ``out``)."""
    g = groups.get(id(call))
    if g is None:
        g = LayerRow(call.label, type(call.module).__name__, "other", len(call.path) - 1, _shape(call.outputs),
                     memory_bytes=sum(_nbytes(t) for t in call.outputs), rf=call.rf)
        groups[id(call)] = g
        out.append(g)
    g.params_trainable += row.params_trainable
    g.params_frozen += row.params_frozen
    g.macs += row.macs
    g.flops += row.flops
    g.new_bytes += row.new_bytes
    if g.kind == "other" and row.kind != "other":
        g.kind = row.kind


# formatting ----------------------------------------------------------------------------------------------------
_HEADERS = ["layer", "type", "output shape", "params", "memory KB", "MACs", "FLOPs", "RF size", "RF stride",
            "RF start"]


def _rf_cells(rf: ReceptiveField | None) -> list[str]:
    if rf is None:
        return ["", "", ""]
    if not rf.is_local:
        return [rf.kind, "", ""]
    d = rf.to_dict()
    flag = ("" if rf.aligned else "*") + ("" if rf.exact else "+")
    return [fmt_value(d["size"]) + flag, fmt_value(d["stride"]), fmt_value(d["start"])]


def _row_cells(r: LayerRow, indent: bool) -> list[str]:
    name = ("  " * max(r.depth - 1, 0) + r.name) if indent else r.name
    shape = "x".join(map(str, r.output_shape)) if r.output_shape and isinstance(r.output_shape[0], int) else \
        " ".join("x".join(map(str, s)) for s in r.output_shape)
    return [name, r.type, shape, f"{r.params:,}", f"{r.memory_kb:,.1f}", f"{r.macs:,}", f"{r.flops:,}",
            *_rf_cells(r.rf)]


def format_summary(summary: Summary, fmt: str = "table") -> str:
    """Render a :class:`Summary` as ``"table"``, ``"markdown"``, ``"csv"`` or ``"json"``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(summary.to_dict(), indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["name", "type", "kind", "depth", "output_shape", "params", "params_trainable", "params_frozen",
                    "memory_bytes", "macs", "flops", "rf_size", "rf_stride", "rf_start", "rf_note"])
        for r in summary.rows:
            rf = r.rf.to_dict() if r.rf is not None else {}
            w.writerow([r.name, r.type, r.kind, r.depth, "x".join(map(str, r.output_shape))
                        if r.output_shape and isinstance(r.output_shape[0], int) else str(r.output_shape),
                        r.params, r.params_trainable, r.params_frozen, r.memory_bytes, r.macs, r.flops,
                        rf.get("size") if rf.get("kind") == "local" else rf.get("kind", ""),
                        rf.get("stride"), rf.get("start"), rf.get("note", "")])
        return buf.getvalue()
    from cnnlab._format import markdown_table, table

    rows = [_row_cells(r, fmt == "table") for r in summary.rows]
    kinds = [[k, f"{v['layers']}", f"{v['params']:,}", f"{v['memory_bytes'] / 1024:,.1f}", f"{v['flops']:,}"]
             for k, v in summary.by_kind.items()]
    totals = [
        ["parameters", f"{summary.total_params:,} ({summary.trainable_params:,} trainable, "
                       f"{summary.frozen_params:,} frozen, {summary.unused_params:,} unused)"],
        ["parameter memory", _mb(summary.param_bytes)],
        ["forward activations", _mb(summary.activation_bytes)],
        ["kept for backward", _mb(summary.saved_bytes)],
        ["MACs / FLOPs", f"{summary.total_macs:,} / {summary.total_flops:,} (1 MAC = 2 FLOPs)"],
    ]
    head = f"{summary.model}, input {'x'.join(map(str, summary.input_size))} {summary.dtype}"
    note = "RF: size / effective stride / first centre in input pixels; * misaligned branches, + largest field"
    if fmt == "markdown":
        return "\n\n".join([f"**{head}**", markdown_table(_HEADERS, rows),
                            markdown_table(["kind", "layers", "params", "memory KB", "FLOPs"], kinds),
                            markdown_table(["total", "value"], totals), note])
    return "\n\n".join([head, table(_HEADERS, rows, align="lllrrrrrrr"),
                        table(["kind", "layers", "params", "memory KB", "FLOPs"], kinds, align="lrrrr"),
                        table(["total", "value"], totals, align="ll"), note])


def _mb(b: int) -> str:
    return f"{b / 2**20:,.2f} MB ({b:,} bytes)"

