"""The Style panel: the current image painted in the style of a sample or an upload (:func:`cnnlab.style.stylize`,
Gatys et al. 2016) as a cancellable job that streams its progress and a snapshot of the image every few steps.
Small by default (the longer side 128 px, 40 L-BFGS steps: seconds on a CPU)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from cnnlab.studio._app import studio_router
from cnnlab.studio._jobs import Job
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params
from cnnlab.studio._studio import Studio, blocking, params_of, png_uri, studio_of

router = studio_router()

DEFAULT_MODEL = "efficientnet_lite0"  # style transfer needs trained features: the pretrained network by default


@router.post("/api/style", status_code=202)
async def style_route(request: Request) -> JSONResponse:
    """``{"image" | "sample" (the content), "style": "sample:brick" | "upload:ID", "model": "efficientnet_lite0",
    "size": 128, "steps": 40, "optimizer": "lbfgs" | "adam", "beta": 1000, "tv_weight": 10,
    "preserve_color": false, "seed": 0}`` -> 202 and the job; while it runs its ``partial`` has the image so far,
    its result the stylised image, the losses per step and the settings."""
    params = await params_of(request)
    job = await blocking(start_style, studio_of(request), params)
    return JSONResponse({"job": job.to_json()}, status_code=202)


def start_style(studio: Studio, params: Params) -> Job:
    import torch

    from cnnlab import style

    name = params.string("model") or DEFAULT_MODEL
    loaded = studio.models.get(name)  # a classifier (its features), 404 / 422 otherwise
    if loaded.model.cnnlab.input_size[0] != 3:
        raise ValueError(f"style transfer needs a model that takes RGB images; {name!r} takes "
                         f"{loaded.model.cnnlab.input_size[0]}-channel images")
    content = studio.images.resolve(params)
    style_ref = params.string("style", "sample:brick")
    if ":" not in style_ref:
        style_ref = "sample:" + style_ref
    style_image = studio.images.get(style_ref)
    size = params.integer("size", 128, minimum=64, maximum=512)  # below 64 px the deepest style layer is 1 x 1
    steps = params.integer("steps", 40, minimum=1, maximum=500)
    snapshot = max(1, steps // 8)
    config = style.TransferConfig(  # its checks refuse bad settings here, before a job starts (422)
        size=size, steps=steps, optimizer=params.string("optimizer", "lbfgs"),
        beta=params.number("beta", 1e3, minimum=0, maximum=1e9), tv_weight=params.number("tv_weight", 10.0,
                                                                                          minimum=0, maximum=1e6),
        preserve_color=params.boolean("preserve_color"), snapshot_every=snapshot)
    seed = params.integer("seed", 0, minimum=0)
    net = studio.models.private_copy(name)  # the job runs on its own copy, holding no lock

    def run(job: Job) -> dict:
        job.update(0.0, f"style transfer: {steps} {config.optimizer} steps at {size} px")

        def progress(p: style.StyleProgress) -> None:
            partial = {"image": png_uri(p.image), "step": p.step} if p.image is not None else None
            job.update(p.step / p.total, f"step {p.step} of {p.total}: loss {p.losses.get('total', float('nan')):.4g}",
                       partial=partial)  # raises JobCancelled once the job is cancelled

        r = style.stylize(content.tensor, style_image.tensor, model=net, config=config, progress=progress,
                          cancel=lambda: job.cancelled, generator=torch.Generator().manual_seed(seed))
        history = [{k: round(v, 6) for k, v in h.items()} for h in r.history]
        return {"image": png_uri(r.image), "content": png_uri(content.tensor, max_side=size),
                "style": png_uri(style_image.tensor, max_side=size), "size": list(r.image.shape[1:]),
                "history": history, "seconds": round(r.seconds, 2), "content_layers": r.content_layers,
                "style_layers": r.style_layers, "settings": {"model": name, "image": content.ref, "style": style_ref,
                                                             "size": size, "steps": steps,
                                                             "optimizer": config.optimizer, "seed": seed}}

    return studio.jobs.submit("style", run, params={"model": name, "image": content.ref, "style": style_ref,
                                                    "size": size, "steps": steps})


PANEL = register_panel("style", title="Style", order=70, router=router,
                       description="the current image in the style of another (a cancellable job)")
