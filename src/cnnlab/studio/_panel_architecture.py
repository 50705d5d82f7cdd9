"""The Architecture panel: the summary table (shapes, parameters, memory, FLOPs, receptive fields) from
:func:`cnnlab.analysis.summarize`; a layer's feature maps for the current image (:func:`cnnlab.explain.feature_maps`)
and the input box a unit of the layer sees (:func:`cnnlab.analysis.receptive_boxes`), drawn on the image by the
page."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from cnnlab.studio._app import studio_router
from cnnlab.studio._models import LoadedModel
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params, one_line
from cnnlab.studio._studio import Studio, blocking, model_input, params_of, png_uri, studio_of

router = studio_router()

AUTO_ROWS = 60  # the finest table when it has at most this many rows, else blocks (depth 1)


@router.post("/api/architecture")
async def architecture(request: Request) -> dict:
    """``{"model", "depth": null | "all" | N}`` -> totals and one row per layer (``clickable`` rows output a
    feature map the features endpoint can show)."""
    params = await params_of(request)
    return await blocking(run_architecture, studio_of(request), params)


@router.post("/api/features")
async def features(request: Request) -> dict:
    """``{"model", "image" | "sample", "layer", "max_maps": 16, "channel", "unit": [y, x]}`` -> the most active
    channels' maps, the chosen unit and its receptive box in input pixels."""
    params = await params_of(request)
    return await blocking(run_features, studio_of(request), params)


@router.post("/api/receptive-field")
async def receptive_field(request: Request) -> dict:
    """``{"model", "layer", "unit": [y, x]}`` -> ``{"box": [y0, x0, y1, x1]}`` (end exclusive, input pixels)."""
    params = await params_of(request)
    return await blocking(run_receptive_field, studio_of(request), params)


def _summary(loaded: LoadedModel, depth: int | None):
    from cnnlab.analysis import summarize

    key = ("summary", depth)
    if key not in loaded.cache:
        with loaded.use() as model:
            loaded.cache[key] = summarize(model, tuple(model.cnnlab.input_size), depth=depth)
    return loaded.cache[key]


def run_architecture(studio: Studio, params: Params) -> dict:
    loaded = studio.models.get(params.string("model") or studio.default_model())
    raw = params.raw("depth")
    if raw is None or raw == "auto":
        depth = None if len(_summary(loaded, None).rows) <= AUTO_ROWS else 1
    elif raw == "all":
        depth = None
    else:
        depth = params.integer("depth", minimum=0, maximum=12)
    s = _summary(loaded, depth)
    modules = {n for n, _ in loaded.model.named_modules()}
    rows = []
    for r in s.rows:
        shape = r.output_shape
        is_map = isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) for v in shape)
        rows.append({"name": r.name, "type": r.type, "kind": r.kind, "output_shape": shape, "params": r.params,
                     "memory_kb": round(r.memory_kb, 1), "macs": r.macs, "flops": r.flops,
                     "rf": r.rf.to_dict() if r.rf is not None else None, "clickable": is_map and r.name in modules})
    totals = {k: v for k, v in s.to_dict().items() if k != "layers"}
    return {"model": loaded.name, "depth": "all" if depth is None else depth, "totals": totals, "rows": rows}


def _box(loaded: LoadedModel, layer: str, unit: list[int]) -> tuple[list[int] | None, str | None]:
    """The input box of one unit (one traced pass, cached per unit)."""
    from cnnlab.analysis import receptive_boxes

    key = ("boxes", layer)
    with loaded.use() as model:
        cache = loaded.cache.setdefault(key, {})
        hit = cache.get(tuple(unit))
        if hit is None:
            try:
                hit = (receptive_boxes(model, tuple(model.cnnlab.input_size), layer, [unit])[0].tolist(), None)
            except ValueError as exc:  # the trace cannot give an exact box for this layer: say so, draw none
                hit = (None, one_line(exc))
            if len(cache) < 4096:
                cache[tuple(unit)] = hit
    return hit


def _layer(loaded: LoadedModel, params: Params) -> str:
    from cnnlab import models

    layer = params.string("layer", required=True)
    models.feature_layer(loaded.model, layer)  # ValueError naming the layer and the recorded feature layers
    return layer


def run_features(studio: Studio, params: Params) -> dict:
    from cnnlab import explain

    loaded = studio.models.get(params.string("model") or studio.default_model())
    layer = _layer(loaded, params)
    max_maps = params.integer("max_maps", 16, minimum=1, maximum=64)
    image = studio.images.resolve(params)
    x = model_input(loaded, image)
    with loaded.use() as model:
        maps = explain.feature_maps(model, x, layer)[0].float().cpu()
    if maps.dim() != 3:
        raise ValueError(f"layer {layer!r} gives shape {tuple(maps.shape)}, not feature maps (C, h, w)")
    c, h, w = maps.shape
    strength = maps.flatten(1).mean(1)
    order = strength.argsort(descending=True)[:max_maps].tolist()
    channel = params.integer("channel", order[0], minimum=0, maximum=c - 1)
    unit = params.integers("unit", 2)
    if unit is None:
        flat = int(maps[channel].flatten().argmax())
        unit = [flat // w, flat % w]
    if unit[0] >= h or unit[1] >= w:
        raise ValueError(f"unit must lie in the layer's {h}x{w} map, got {unit}")
    box, note = _box(loaded, layer, unit)
    shown = []
    for ch in order if channel in order else [channel, *order[:-1]]:
        m = maps[ch]
        flat = int(m.flatten().argmax())
        shown.append({"channel": ch, "mean": round(float(m.mean()), 4), "max": round(float(m.max()), 4),
                      "argmax": [flat // w, flat % w], "png": png_uri(explain.heatmap(m, cmap="viridis"))})
    return {"model": loaded.name, "image": image.ref, "layer": layer, "shape": [c, h, w], "maps": shown,
            "channel": channel, "unit": unit, "box": box, "rf_note": note, "input_size": list(x.shape[1:]),
            "seen": png_uri(x[0])}


def _map_size(loaded: LoadedModel, layer: str) -> tuple[int, int]:
    """``(h, w)`` of the layer's feature map, from the (cached) summary."""
    try:
        shape = _summary(loaded, None).row(layer).output_shape
    except KeyError:
        raise ValueError(f"layer {layer!r} is not called in the forward pass") from None
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) for v in shape)):
        raise ValueError(f"layer {layer!r} gives shape {shape}, not feature maps (N, C, h, w)")
    return shape[2], shape[3]


def run_receptive_field(studio: Studio, params: Params) -> dict[str, Any]:
    loaded = studio.models.get(params.string("model") or studio.default_model())
    layer = _layer(loaded, params)
    unit = params.integers("unit", 2)
    if unit is None:
        raise ValueError("unit is required: [y, x] in the layer's map")
    h, w = _map_size(loaded, layer)
    if unit[0] >= h or unit[1] >= w:
        raise ValueError(f"unit must lie in the layer's {h}x{w} map, got {unit}")
    box, note = _box(loaded, layer, unit)
    return {"model": loaded.name, "layer": layer, "unit": unit, "box": box, "rf_note": note,
            "input_size": list(loaded.model.cnnlab.input_size)}


PANEL = register_panel("architecture", title="Architecture", order=20, router=router,
                       description="summary table, feature maps and receptive fields")
