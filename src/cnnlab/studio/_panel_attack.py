"""The Attack panel: FGSM / PGD at a chosen epsilon (:func:`cnnlab.robust.attack_images`) with the adversarial
image, the amplified perturbation and the new prediction; the one-pixel attack as a long job, with the pixels it
changed."""

from __future__ import annotations

from typing import Any

import torch
from fastapi import Request
from fastapi.responses import JSONResponse

from cnnlab.studio._app import studio_router
from cnnlab.studio._jobs import Job, count_forwards
from cnnlab.studio._panels import register_panel
from cnnlab.studio._params import Params
from cnnlab.studio._studio import Studio, blocking, params_of, png_uri, studio_of, target_of, topk_json

router = studio_router()

GRADIENT_ATTACKS = ("fgsm", "pgd")


@router.post("/api/attack")
async def attack(request: Request) -> dict:
    """``{"model", "image" | "sample", "method": "fgsm" | "pgd", "eps": 2/255, "steps": 10, "target", "seed"}``
    -> the original, adversarial and amplified-perturbation images, both predictions and the norms."""
    params = await params_of(request)
    return await blocking(run_attack, studio_of(request), params)


@router.post("/api/attack/onepixel", status_code=202)
async def onepixel(request: Request) -> JSONResponse:
    """``{"model", "image" | "sample", "pixels": 1, "popsize": 40, "steps": 10, "target", "seed"}`` -> 202 and
    the job; its result has the adversarial image and the changed pixels (input coordinates, old and new
    values)."""
    params = await params_of(request)
    job = await blocking(start_onepixel, studio_of(request), params)
    return JSONResponse({"job": job.to_json()}, status_code=202)


def run_attack(studio: Studio, params: Params) -> dict:
    from cnnlab import models, robust

    loaded = studio.models.get(params.string("model") or studio.default_model())
    method = params.string("method", "fgsm")
    if method == "onepixel":
        raise ValueError("onepixel is a long job: POST /api/attack/onepixel")
    robust.ATTACKS.lookup(method)
    if method not in GRADIENT_ATTACKS:
        raise ValueError(f"method must be one of {', '.join(GRADIENT_ATTACKS)} here, got {method!r}")
    opts: dict[str, Any] = {"eps": params.number("eps", 2 / 255, minimum=0, maximum=1)}
    if method == "pgd":
        opts["steps"] = params.integer("steps", 10, minimum=1, maximum=200)
        seed = params.integer("seed", 0, minimum=0)
        opts["generator"] = torch.Generator(studio.device).manual_seed(seed)
    elif "steps" in params:
        raise ValueError("steps does not apply to fgsm")
    image = studio.images.resolve(params)
    with loaded.use() as model:
        target = target_of(params, model)
        r = robust.attack_images(model, [image.tensor], method, target=target, **opts)[0]
        dev = next(model.parameters()).device
        clean = models.predict(model, r.original[None].to(dev), topk=3)[0]
        adv = models.predict(model, r.adversarial[None].to(dev), topk=5)[0]
    delta = r.perturbation
    linf = float(delta.abs().max())
    return {"model": loaded.name, "image": image.ref, "method": method, "eps": opts["eps"],
            "steps": opts.get("steps"), "original": png_uri(r.original), "adversarial": png_uri(r.adversarial),
            "perturbation": png_uri(robust.perturbation_image(delta)),
            "amplification": round(0.5 / linf, 2) if linf > 0 else None,
            "linf": round(linf, 6), "l2": round(float(delta.norm()), 6), "success": r.success,
            "clean": topk_json(clean), "adversarial_topk": topk_json(adv)}


def start_onepixel(studio: Studio, params: Params) -> Job:
    from cnnlab import robust

    name = params.string("model") or studio.default_model()
    loaded = studio.models.get(name)
    pixels = params.integer("pixels", 1, minimum=1, maximum=10)
    popsize = params.integer("popsize", 40, minimum=4, maximum=400)
    steps = params.integer("steps", 10, minimum=0, maximum=200)
    seed = params.integer("seed", 0, minimum=0)
    image = studio.images.resolve(params)
    target = target_of(params, loaded.model)
    c, h, w = loaded.model.cnnlab.input_size
    max_batch = max(8, min(1024, 2**22 // (c * h * w)))  # bounded memory per forward pass
    total = (steps + 1) * -(-popsize // max_batch) + 2
    net = studio.models.private_copy(name)  # the job runs on its own copy, holding no lock
    device = studio.device

    def run(job: Job) -> dict:
        job.update(0.0, "differential evolution")
        gen = torch.Generator(device).manual_seed(seed)
        with count_forwards(net, job, total, "forward pass"):
            r = robust.attack_images(net, [image.tensor], "onepixel", target=target, pixels=pixels,
                                     popsize=popsize, steps=steps, max_batch=max_batch, generator=gen)[0]
        delta = r.perturbation
        where = (delta.abs().amax(0) > 0).nonzero().tolist()
        changed = [{"y": y, "x": x, "before": [round(float(v), 4) for v in r.original[:, y, x]],
                    "after": [round(float(v), 4) for v in r.adversarial[:, y, x]]} for y, x in where]
        return {"original": png_uri(r.original), "adversarial": png_uri(r.adversarial), "pixels": changed,
                "input_size": list(r.original.shape), "clean_class": r.clean_class,
                "clean_prob": round(r.clean_prob, 6), "adv_class": r.adv_class, "adv_prob": round(r.adv_prob, 6),
                "success": r.success, "settings": {"pixels": pixels, "popsize": popsize, "steps": steps,
                                                   "seed": seed}}

    return studio.jobs.submit("onepixel", run, params={"model": name, "image": image.ref, "pixels": pixels,
                                                       "popsize": popsize, "steps": steps})


PANEL = register_panel("attack", title="Attack", order=40, router=router,
                       description="FGSM / PGD with an epsilon slider; the one-pixel attack")
