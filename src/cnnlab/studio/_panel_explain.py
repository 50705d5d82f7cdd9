"""The Explain panel: explanation methods side by side for a chosen class and layer
(:func:`cnnlab.explain.explain_images`), and the cascading-randomisation sanity check
(:func:`cnnlab.explain.cascading_randomization`) on demand, as a long job."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cnnlab.studio._app import studio_router
from cnnlab.studio._jobs import Job, count_forwards
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params, one_line
from cnnlab.studio._studio import (
    Studio,
    blocking,
    class_label,
    figure_uri,
    model_input,
    params_of,
    png_uri,
    studio_of,
    target_of,
)

router = studio_router()

DEFAULT_METHODS = ("saliency", "guided", "gradcam", "guided-gradcam")
LAYER_METHODS = ("cam", "gradcam", "guided-gradcam")  # the methods computed at a layer
CHOSEN_LAYER = ("gradcam", "guided-gradcam")  # those that take the chosen one (CAM reads what the global pool averages)
SANITY_METHODS = ("saliency", "guided", "gradcam")


@router.post("/api/explain")
async def explain_(request: Request) -> dict:
    """``{"model", "image" | "sample", "methods": [...], "target": null | index | class name, "layer": null |
    name (Grad-CAM and guided Grad-CAM), "alpha": 0.5}`` -> one overlay and heat map per method; a method that
    does not apply to the model
    (CAM without a global-average-pool head) answers its own ``error`` while the others still show."""
    params = await params_of(request)
    return await blocking(run_explain, studio_of(request), params)


@router.post("/api/explain/sanity", status_code=202)
async def sanity(request: Request) -> JSONResponse:
    """``{"model", "image" | "sample", "methods": [...], "steps": 6, "target"}`` -> 202 and the job; its result
    has the correlation table, the plot, and the maps at every randomisation depth."""
    params = await params_of(request)
    job = await blocking(start_sanity, studio_of(request), params)
    return JSONResponse({"job": job.to_json()}, status_code=202)


def _methods(params: Params, default: tuple[str, ...]) -> list[str]:
    from cnnlab import explain

    methods = params.strings("methods", list(default), max_items=len(explain.names()))
    for m in methods:
        explain.METHODS.lookup(m)  # ValueError naming the method and the known ones
    return list(dict.fromkeys(methods))


def _options(method: str, layer: str | None, input_size: tuple[int, ...]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if layer is not None and method in CHOSEN_LAYER:
        opts["layer"] = layer
    if method == "occlusion":  # a 7 x 7 grid of windows: 49 forward passes, fast enough for a page
        window = max(1, input_size[-1] // 7)
        opts.update(window=window, stride=window, batch_size=64)
    return opts


def _layer_label(method: str, layer: str | None, default: str, model: Any) -> str | None:
    """Where a layer method computed its map (CAM without a layer: at the input of the global pool)."""
    if method not in LAYER_METHODS:
        return None
    if method == "cam":
        return f"input of {model.cnnlab.pool}"
    return layer or default


def run_explain(studio: Studio, params: Params) -> dict:
    from cnnlab import explain, models

    loaded = studio.models.get(params.string("model") or studio.default_model())
    methods = _methods(params, DEFAULT_METHODS)
    alpha = params.number("alpha", 0.5, minimum=0, maximum=1)
    layer = params.string("layer")
    image = studio.images.resolve(params)
    x = model_input(loaded, image)
    out: list[dict[str, Any]] = []
    with loaded.use() as model:
        target = target_of(params, model)
        if layer is not None:
            models.feature_layer(model, layer)  # an unknown layer is a 422 for the whole request
        used_layer = layer or models.feature_layer(model)
        for m in methods:
            t0 = time.perf_counter()
            try:
                e = explain.explain_images(model, x, m, target, alpha=alpha, **_options(m, layer, tuple(x.shape)))[0]
            except ValueError as exc:  # this method does not apply to this model
                out.append({"method": m, "error": one_line(exc)})
                continue
            out.append({"method": m, "overlay": png_uri(e.overlay), "heat": png_uri(explain.heatmap(e.heat)),
                        "index": e.index, "class": e.label, "prob": round(e.prob, 6),
                        "layer": _layer_label(m, layer, used_layer, model),
                        "ms": round(1000 * (time.perf_counter() - t0), 1)})
        index = target if target is not None else next((r["index"] for r in out if "index" in r), None)
        if index is None:  # no method applied: still say which class the page asked about
            index = models.predict(model, x, topk=1)[0][0].index
        explained = {"index": index, "class": class_label(model, index)}
    return {"model": loaded.name, "image": image.ref, "target": explained, "layer": used_layer, "methods": out,
            "seen": png_uri(x[0])}


def start_sanity(studio: Studio, params: Params) -> Job:
    from cnnlab import explain

    name = params.string("model") or studio.default_model()
    loaded = studio.models.get(name)
    methods = _methods(params, SANITY_METHODS)
    steps = params.integer("steps", 6, minimum=1, maximum=12)
    image = studio.images.resolve(params)
    x = model_input(loaded, image)
    target = target_of(params, loaded.model)
    net = studio.models.private_copy(name)  # the job runs on its own copy, holding no lock
    layers = len(explain.parameter_layers(net))
    k = min(steps, layers)
    per_map = sum(2 if m == "guided-gradcam" else 1 for m in methods)
    total = 1 + (k + 1) * per_map
    opts = {m: _options(m, None, tuple(x.shape)) for m in methods}

    def run(job: Job) -> dict:
        job.update(0.0, "randomising the layers of a copy of the model, from the top")
        with count_forwards(net, job, total, "sanity check: forward pass"):
            res = explain.cascading_randomization(net, x, target, methods=methods, max_steps=steps, options=opts)
        maps = {m: [png_uri(explain.heatmap(res.maps[m][i, 0]), max_side=112) for i in range(len(res.steps))]
                for m in res.methods}
        return {"methods": res.methods, "steps": res.steps, "rows": res.rows(), "plot": figure_uri(res.plot()),
                "maps": maps}

    return studio.jobs.submit("sanity", run, params={"model": name, "image": image.ref, "methods": methods,
                                                     "steps": steps})


PANEL = register_panel("explain", title="Explain", order=30, router=router,
                       description="explanation methods side by side; the sanity check on demand")
