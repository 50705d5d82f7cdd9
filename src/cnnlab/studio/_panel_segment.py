"""The Segment panel: a segmenter checkpoint found under ``--runs`` (``cnnlab train-segmenter``) on the current
image (:func:`cnnlab.segment.segment_images`: the overlay, the colour-coded labels and the per-class legend), and
segments from gradients (:func:`cnnlab.segment.from_attribution`: an explanation map of the current classifier
refined by GrabCut or a threshold, and the box around it) as a job."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from cnnlab._checks import check_choice
from cnnlab.studio._app import studio_router
from cnnlab.studio._jobs import Job, count_forwards
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params
from cnnlab.studio._studio import Studio, blocking, params_of, png_uri, studio_of, target_of

router = studio_router()

REFINES = ("grabcut", "threshold")  # segment.from_attribution's


@router.post("/api/segment")
async def segment_route(request: Request) -> dict:
    """``{"model": "run:ID" (a segmenter), "image" | "sample", "alpha": 0.5, "undo_weights": 0}`` -> the
    ``overlay``, the colour-coded ``labels``, the ``legend`` (``[{"class", "index", "color", "fraction"}]`` of the
    classes present, largest first), every class with its colour, and the run's ``class_weights`` (``null`` when it
    trained without). ``undo_weights`` tau in [0, 1] subtracts tau x log(class weight) from the class
    log-probabilities first (:func:`cnnlab.segment.undo_weights`; 1 undoes the weights, as
    ``cnnlab segment --undo-weights``); 422 for a run without class weights."""
    params = await params_of(request)
    return await blocking(run_segment, studio_of(request), params)


@router.post("/api/segment/attribution", status_code=202)
async def attribution_route(request: Request) -> JSONResponse:
    """``{"model" (a classifier), "image" | "sample", "method": "gradcam", "refine": "grabcut" | "threshold",
    "threshold": 0.3, "target", "size"}`` -> 202 and the job; its result has the image with the box, the map,
    the segment over the image, the explained class and whether a segment was found."""
    params = await params_of(request)
    job = await blocking(start_attribution, studio_of(request), params)
    return JSONResponse({"job": job.to_json()}, status_code=202)


def run_segment(studio: Studio, params: Params) -> dict:
    from cnnlab import segment

    name = params.string("model", required=True)
    loaded = studio.models.get(name, "segmenter")  # 404 unknown, 422 not a segmenter
    alpha = params.number("alpha", 0.5, minimum=0, maximum=1)
    tau = params.number("undo_weights", 0.0, minimum=0, maximum=1)
    weights = segment.load_run_options(loaded.entry.path).get("class_weights") or None
    if tau > 0 and weights is None:  # the message names the run, never its path on the server
        raise ValueError(f"{name} was trained without class weights: there are none to undo")
    adjustment = segment.undo_weights(weights, tau) if tau > 0 else None
    image = studio.images.resolve(params)
    with loaded.use() as model:
        out = segment.segment_images(model, [image.tensor], alpha=alpha, adjustment=adjustment)[0]
        size = list(model.cnnlab.input_size)
    classes = [{"class": c, "index": i, "color": "#{:02x}{:02x}{:02x}".format(*out.palette[i])}
               for i, c in enumerate(out.classes)]
    return {"model": name, "image": image.ref, "alpha": alpha, "overlay": png_uri(out.overlay),
            "labels": png_uri(out.colors), "legend": out.legend(), "classes": classes,
            "size": list(out.labels.shape), "input_size": size,
            "mean_confidence": round(float(out.confidence.mean()), 4),
            "class_weights": weights, "undo_weights": tau if tau > 0 else None}


def start_attribution(studio: Studio, params: Params) -> Job:
    from cnnlab import explain, segment

    name = params.string("model") or studio.default_model()
    loaded = studio.models.get(name)  # a classifier
    method = params.string("method", "gradcam")
    explain.METHODS.lookup(method)  # unknown method: 422 naming the known ones
    refine = check_choice("refine", params.string("refine", "grabcut"), REFINES)
    threshold = params.number("threshold", 0.3, minimum=0, maximum=1)
    c, h, w = loaded.model.cnnlab.input_size
    size = params.integer("size", min(h, w), minimum=16, maximum=1024)
    image = studio.images.resolve(params)
    target = target_of(params, loaded.model)
    segment.classifier_input_size(loaded.model, image.tensor.shape, size)  # a shape it cannot take: 422 now
    net = studio.models.private_copy(name)  # the job runs on its own copy, holding no lock

    def run(job: Job) -> dict:
        job.update(0.0, f"{method} map of the classifier")
        with count_forwards(net, job, 3, f"{method}: forward pass"):
            seg = segment.from_attribution(net, [image.tensor], method=method, refine=refine, threshold=threshold,
                                           target=target, size=size)[0]
        job.update(0.95, "drawing")
        mask = segment.overlay(seg.image, seg.mask.long(), [(0, 0, 0), (255, 214, 10)], alpha=0.55)
        return {"model": name, "image": image.ref, "method": method, "refine": refine, "threshold": threshold,
                "index": seg.index, "class": seg.label, "prob": round(seg.prob, 6), "found": seg.found,
                "box": [round(float(v), 1) for v in seg.box], "coverage": round(float(seg.mask.float().mean()), 4),
                "boxed": png_uri(segment.draw_box(seg.image, seg.box)), "heat": png_uri(explain.heatmap(seg.heat)),
                "segment": png_uri(mask)}

    return studio.jobs.submit("segment-attribution", run, params={"model": name, "image": image.ref,
                                                                  "method": method, "refine": refine})


PANEL = register_panel("segment", title="Segment", order=60, router=router,
                       description="a segmenter from --runs on the current image; segments from gradients")
