"""The one-pixel attack (Su et al. 2019): differential evolution over k-pixel perturbations, vectorised over
the batch and the population, so that one generation is one forward pass for every image at once.

A candidate is ``k`` rows of ``(row, col, v_1 .. v_C)``: a position and the new channel values. Each
generation builds, for every live image, ``popsize`` children ``x_r1 + F * (x_r2 - x_r3)`` (DE/rand/1, no
crossover, as in the paper), writes them into copies of the image with one ``scatter_`` and keeps each
child that lowers the fitness: the probability of the true class (untargeted) or one minus the probability
of the target (targeted). An image stops as soon as one of its candidates fools the model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cnnlab._checks import check_int, check_number
from cnnlab._progress import track
from cnnlab.robust._attacks import attack_mode, check_inputs, register_attack, resolve_target

#: Su et al.'s settings: population 400, 100 generations, F = 0.5.
SU_SETTINGS = {"popsize": 400, "steps": 100, "f": 0.5}


def _rand(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, device=like.device, dtype=torch.float32, generator=generator)


def _apply(base: Tensor, cand: Tensor, buf: Tensor) -> Tensor:
    """Write candidates into copies of their images.

    Args:
        base: ``Tensor[B, C, H, W]`` the live images.
        cand: ``Tensor[B, P, k, 2 + C]`` candidates (row, col, values).
        buf: ``Tensor[>= B * P, C, H * W]`` reused storage.

    Returns:
        ``Tensor[B * P, C, H, W]`` (a view of ``buf``).
    """
    b, c, h, w = base.shape
    p, k = cand.shape[1], cand.shape[2]
    out = buf[: b * p]
    out.view(b, p, c, h * w).copy_(base.view(b, 1, c, h * w))  # broadcast over the population
    pos = cand[..., 0].long() * w + cand[..., 1].long()  # (B, P, k) flat pixel index
    idx = pos.view(b * p, 1, k).expand(b * p, c, k)
    vals = cand[..., 2:].reshape(b * p, k, c).transpose(1, 2).to(out.dtype)  # (B*P, C, k)
    out.scatter_(2, idx, vals)
    return out.view(b * p, c, h, w)


@torch.no_grad()
def _evaluate(model: nn.Module, base: Tensor, cand: Tensor, cls: Tensor, targeted: bool, buf: Tensor,
              max_batch: int) -> tuple[Tensor, Tensor]:
    # (B, P) fitness to minimise and success of every candidate, in chunks of at most max_batch images
    b, p = cand.shape[:2]
    imgs = _apply(base, cand, buf)
    cls_rep = cls.repeat_interleave(p)
    fit, ok = [], []
    for s in range(0, b * p, max_batch):
        logits = model(imgs[s: s + max_batch]).float()
        c = cls_rep[s: s + max_batch]
        prob = logits.softmax(1).gather(1, c[:, None]).squeeze(1)
        pred = logits.argmax(1)
        fit.append(1 - prob if targeted else prob)
        ok.append(pred == c if targeted else pred != c)
    return torch.cat(fit).view(b, p), torch.cat(ok).view(b, p)


@register_attack("onepixel", norm="l0", paper="Su et al. 2019")
def onepixel(model: nn.Module, images: Tensor, labels: Tensor, *, pixels: int = 1, popsize: int = 100,
             steps: int = 30, f: float = 0.5, strategy: str = "rand1", dither: float | None = None,
             target: int | Tensor | None = None,
             generator: torch.Generator | None = None, max_batch: int = 8192, eval_mode: bool = True,
             eps: float | None = None) -> Tensor:
    """One-pixel attack (Su et al. 2019) by batched differential evolution.

    Args:
        pixels: ``k``, how many pixels may change (default 1).
        popsize: candidates per image (default 100; the paper: 400, see ``SU_SETTINGS``).
        steps: generations (default 30; the paper: 100). At most ``popsize * (steps + 1)`` model
            evaluations per image; an image stops at its first success.
        f: the DE scale factor F (default 0.5).
        strategy: ``"rand1"`` (the paper's DE/rand/1) or ``"best1"`` (DE/best/1, scipy's default).
        dither: when given, F is drawn per image and generation from U(f, dither) (scipy's "dithering").
        generator: a ``torch.Generator`` on the images' device, for reproducible runs.
        max_batch: largest forward pass; a generation for B live images is ``ceil(B * popsize /
            max_batch)`` forwards (one when it fits).
        eps: ignored (the attack is bounded by ``pixels``, not a norm); accepted so every attack takes it.
        Others: see :mod:`cnnlab.robust._attacks`.

    Returns:
        ``Tensor[N, C, H, W]``: each image with at most ``pixels`` pixels changed, the successful candidate
        when one was found, else the one with the best fitness.

    Example:
        >>> from cnnlab import models
        >>> x = torch.rand(2, 1, 28, 28)
        >>> adv = onepixel(models.create("lenet5"), x, torch.tensor([0, 1]), popsize=20, steps=5)
        >>> int(((adv - x).abs() > 0).flatten(1).sum(1).max()) <= 1
        True
    """
    check_inputs(images, labels, model=model)
    for name, v, lo in (("pixels", pixels, 1), ("popsize", popsize, 4), ("steps", steps, 0),
                        ("max_batch", max_batch, 1)):
        check_int(name, v, lo)
    check_number("f", f, minimum=0, maximum=2, open_min=True)
    if dither is not None:
        check_number("dither", dither, minimum=f, maximum=2)
    if strategy not in ("rand1", "best1"):
        raise ValueError(f"strategy must be 'rand1' or 'best1', got {strategy!r}")
    tgt = resolve_target(target, labels, model)
    targeted = tgt is not None
    cls = tgt if targeted else labels
    n, c, h, w = images.shape
    if pixels > h * w:
        raise ValueError(f"pixels must be at most H * W = {h * w}, got {pixels}")
    x0 = images.detach()
    d = 2 + c
    hi = torch.tensor([h, w] + [1] * c, device=x0.device, dtype=torch.float32)
    top = hi - torch.tensor([1e-3, 1e-3] + [0] * c, device=x0.device)  # positions stay < H, < W
    if n == 0:
        return x0.clone()
    buf = torch.empty(n * popsize, c, h * w, device=x0.device, dtype=x0.dtype)

    with attack_mode(model, eval_mode=eval_mode):
        # positions uniform; values N(0.5, 0.5) clipped to [0, 1] (Su et al.: N(128, 127) on 0..255)
        pop = _rand((n, popsize, pixels, d), x0, generator) * top
        noise = torch.randn((n, popsize, pixels, c), device=x0.device, generator=generator)
        pop[..., 2:] = (0.5 + 0.5 * noise).clamp_(0, 1)
        fit, ok = _evaluate(model, x0, pop, cls, targeted, buf, max_batch)
        live = torch.arange(n, device=x0.device)
        for _ in track(range(steps), desc="one-pixel generations", unit="gen"):
            done = ok.any(1)
            if bool(done[live].all()):  # one sync per generation
                break
            live = live[~done[live]]
            lp = pop[live]  # (B, P, k, D) the live images' populations
            b = lp.shape[0]
            # r1, r2, r3 distinct: consecutive entries of one random permutation per image
            perm = _rand((b, popsize), x0, generator).argsort(1)
            r = torch.stack([perm, perm.roll(1, 1), perm.roll(2, 1)])  # (3, B, P)
            pick = [lp.gather(1, ri.view(b, popsize, 1, 1).expand_as(lp)) for ri in r]
            if strategy == "best1":  # DE/best/1: x_best + F (x_r1 - x_r2)
                key = fit[live] - 2.0 * ok[live].float()
                pick[0] = lp.gather(1, key.argmin(1).view(b, 1, 1, 1).expand(b, 1, pixels, d)).expand_as(lp)
            scale = f if dither is None else f + (dither - f) * _rand((b, 1, 1, 1), x0, generator)
            child = torch.minimum((pick[0] + scale * (pick[1] - pick[2])).clamp_(min=0), top)
            cfit, cok = _evaluate(model, x0[live], child, cls[live], targeted, buf, max_batch)
            # a successful child always wins; otherwise the lower fitness does
            better = (cfit <= fit[live]) | (cok & ~ok[live])
            pop[live] = torch.where(better[..., None, None], child, lp)
            fit[live] = torch.where(better, cfit, fit[live])
            ok[live] = torch.where(better, cok, ok[live])
        # per image: a successful candidate, else the fittest
        key = fit - 2.0 * ok.float()
        best = pop.gather(1, key.argmin(1).view(n, 1, 1, 1).expand(n, 1, pixels, d))
        out = _apply(x0, best, torch.empty(n, c, h * w, device=x0.device, dtype=x0.dtype))
    return out.clone()
