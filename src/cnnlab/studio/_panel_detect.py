"""The Detect panel: a detector checkpoint found under ``--runs`` (``cnnlab train-detector``) run on the current
image as a job (:func:`cnnlab.detect.detect_image`: :func:`cnnlab.detect.predict`, then
:func:`cnnlab.detect.draw_detections`), the boxes drawn above a score threshold and listed."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from cnnlab.studio._app import studio_router
from cnnlab.studio._jobs import Job, count_forwards
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params
from cnnlab.studio._studio import Studio, blocking, params_of, png_uri, studio_of

router = studio_router()


@router.post("/api/detect", status_code=202)
async def detect_route(request: Request) -> JSONResponse:
    """``{"model": "run:ID" (a detector), "image" | "sample", "score": 0.5}`` -> 202 and the job; its result has
    ``detections`` (``[{"label", "class", "score", "box": [x1, y1, x2, y2]}]``, best first, as
    ``cnnlab detect`` writes them), the ``picture`` with the boxes drawn, ``classes`` and ``arch``."""
    params = await params_of(request)
    job = await blocking(start_detect, studio_of(request), params)
    return JSONResponse({"job": job.to_json()}, status_code=202)


def start_detect(studio: Studio, params: Params) -> Job:
    from cnnlab import detect

    name = params.string("model", required=True)
    loaded = studio.models.get(name, "detector")  # 404 unknown, 422 not a detector
    score = params.number("score", 0.5, minimum=0, maximum=1)
    image = studio.images.resolve(params)
    net = studio.models.private_copy(name, "detector")  # the job runs on its own copy, holding no lock
    arch = loaded.entry.family
    c, h, w = image.tensor.shape

    def run(job: Job) -> dict:
        job.update(0.05, f"running {arch} on the {w}x{h} image")
        with count_forwards(net, job, 2, f"{arch}: forward pass"):  # a cancelled job stops at the forward pass
            rows, picture = detect.detect_image(net, image.tensor, score=score)
        job.update(0.95, "drawing the boxes")
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["class"]] = counts.get(r["class"], 0) + 1
        return {"model": name, "image": image.ref, "arch": arch, "score": score, "classes": list(net.classes),
                "detections": rows, "counts": counts, "size": [h, w],
                "picture": png_uri(picture.float() / 255)}

    return studio.jobs.submit("detect", run, params={"model": name, "image": image.ref, "score": score})


PANEL = register_panel("detect", title="Detect", order=50, router=router,
                       description="a detector from --runs on the current image: boxes above a score threshold")
