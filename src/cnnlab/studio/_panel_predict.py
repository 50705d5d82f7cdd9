"""The Predict panel: the top-k classes of the current image, and the image as the network sees it (the
preprocessing its weights prescribe). ``POST /api/predict`` answers ``{"topk": [{"class", "index", "prob"}]}``,
the shape ``cnnlab predict --json`` prints per image."""

from __future__ import annotations

from fastapi import Request

from cnnlab.studio._app import studio_router
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params
from cnnlab.studio._studio import Studio, blocking, model_input, params_of, png_uri, studio_of, topk_json

router = studio_router()


@router.post("/api/predict")
async def predict(request: Request) -> dict:
    """JSON ``{"model", "sample" | "image", "topk": 5, "seen": false}`` or a multipart upload (field ``file``,
    optional fields ``model``, ``topk``); ``seen`` adds the prepared input as a PNG data URI."""
    studio = studio_of(request)
    params = await params_of(request)
    return await blocking(run_predict, studio, params)


def run_predict(studio: Studio, params: Params) -> dict:
    from cnnlab import models

    loaded = studio.models.get(params.string("model") or studio.default_model())
    topk = params.integer("topk", 5, minimum=1, maximum=1000)
    seen = params.boolean("seen")
    image = studio.images.resolve(params)
    x = model_input(loaded, image)
    with loaded.use() as model:
        preds = models.predict(model, x, topk=topk)[0]
    out = {"model": loaded.name, "image": image.ref, "topk": topk_json(preds)}
    if seen:
        out["seen"] = png_uri(x[0])
        out["input_size"] = list(x.shape[1:])
    return out


PANEL = register_panel("predict", title="Predict", order=10, router=router,
                       description="top-k classes and the image the network sees")
