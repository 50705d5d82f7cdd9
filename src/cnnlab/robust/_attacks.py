"""Gradient attacks (FGSM, PGD with L-inf and L2 balls), the attack registry and the shared plumbing.

Every attack has one signature::

    attack(model, images, labels, *, eps=..., target=None, ...) -> Tensor[N, C, H, W]

``images`` are pixels in [0, 1] (normalisation is the model's first layer, never attack state) and the
adversarial images come back in [0, 1] on the input's device. ``target`` (an int or ``Tensor[N]``) makes the
attack targeted: it then pushes every image towards that class instead of away from ``labels``.

Shared arguments:
    model: an ``nn.Module`` mapping ``Tensor[N, C, H, W]`` in [0, 1] to logits ``Tensor[N, K]``.
    images: ``Tensor[N, C, H, W]`` float in [0, 1].
    labels: ``Tensor[N]`` int64, the true classes.
    eps: radius of the perturbation ball (L-inf: per pixel, in [0, 1]; L2: over the whole image).
    target: ``None`` (untargeted), an int or ``Tensor[N]`` of target classes.
    eval_mode: run the model in eval mode (default). ``False`` keeps the model's current mode, which is what
        adversarial training does (Wong et al. 2020 attack the network in train mode).

While an attack runs, the parameters' ``requires_grad`` is switched off (only the input gradient is computed,
so an attack step costs one forward and one input-backward) and, with ``eval_mode``, every module is put in
eval mode. Both are restored on return, also when the call raises.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._checks import check_images, check_int, check_number
from cnnlab._registry import Registry

ATTACKS: Registry[Callable[..., Tensor]] = Registry("attack")


def register_attack(name: str, **info) -> Callable:
    """Decorator adding an attack ``fn(model, images, labels, *, eps, target=None, ...) -> Tensor``."""
    return ATTACKS.register(name, **info)


def names() -> list[str]:
    """Registered attack names."""
    return ATTACKS.names()


def get(name: str) -> Callable[..., Tensor]:
    """The attack function registered as ``name``."""
    return ATTACKS.lookup(name)


def attack_mode(model: nn.Module, *, eval_mode: bool = True) -> AbstractContextManager[nn.Module]:
    """Inside the block parameters need no gradient and (with ``eval_mode``) every module is in eval mode;
    everything is restored on exit, also when the block raises (see :func:`cnnlab.models.frozen`)."""
    from cnnlab.models import frozen

    return frozen(model, eval_mode=eval_mode)


def check_inputs(images: Tensor, labels: Tensor, *, model: nn.Module | None = None, eps: float | None = None,
                 norm: str = "linf") -> None:
    """Boundary checks shared by the attacks; raises ``TypeError`` / ``ValueError`` naming the bad value.

    ``images`` go through :func:`cnnlab.models.check_batch` (finite pixels in [0, 1], the channels and a size the
    model's card allows); ``labels`` must be one integer class per image, and classes of the model.
    """
    from cnnlab.models import check_batch, num_classes

    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise TypeError(f"images and labels must be tensors, got {type(images).__name__} and "
                        f"{type(labels).__name__}")
    if model is not None:
        check_batch(model, images)
    else:
        check_images(images)
    if labels.shape != (images.shape[0],) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer Tensor[{images.shape[0]}], got {labels.dtype} "
                         f"{tuple(labels.shape)}")
    k = num_classes(model) if model is not None else None
    if labels.numel():
        lo, hi = (int(v) for v in torch.stack(torch.aminmax(labels)).tolist())
        if lo < 0 or k is not None and hi >= k:
            raise ValueError(f"labels must be classes of the model (0..{k - 1 if k else 'K-1'}), got values from "
                             f"{lo} to {hi}")
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)):
            raise TypeError(f"eps must be a number, got {type(eps).__name__}")
        check_number("eps", eps, minimum=0, maximum=1 if norm == "linf" else None)


def resolve_target(target: int | Tensor | None, labels: Tensor, model: nn.Module | None = None) -> Tensor | None:
    """``None`` or ``Tensor[N]`` of target classes on the labels' device, each a class of ``model`` (checked
    against its card's class count; for a module without a card only the sign is checked here)."""
    from cnnlab.models import num_classes

    if target is None:
        return None
    if isinstance(target, bool):
        raise TypeError("target must be an int or a Tensor[N], got bool")
    if isinstance(target, int):
        t = torch.full_like(labels, target)
    elif isinstance(target, Tensor):
        if target.shape != labels.shape or target.is_floating_point():
            raise ValueError(f"target must be an integer Tensor{tuple(labels.shape)}, got {target.dtype} "
                             f"{tuple(target.shape)}")
        t = target.to(labels.device)
    else:
        raise TypeError(f"target must be None, an int or a Tensor[N], got {type(target).__name__}")
    if t.numel():
        lo, hi = (int(v) for v in torch.stack(torch.aminmax(t)).tolist())
        k = num_classes(model) if model is not None else None
        if lo < 0 or k is not None and hi >= k:
            shown = lo if lo < 0 else hi
            what = f"the model has {k} classes (0..{k - 1})" if k is not None else "classes are >= 0"
            raise ValueError(f"target class {shown} is not a class of the model: {what}")
    return t


def _objective(logits: Tensor, labels: Tensor, target: Tensor | None) -> Tensor:
    # the attacks ascend this: cross-entropy on the label, or minus cross-entropy on the target
    if target is None:
        return F.cross_entropy(logits, labels)
    return -F.cross_entropy(logits, target)


def _input_grad(model: nn.Module, x: Tensor, labels: Tensor, target: Tensor | None) -> Tensor:
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(_objective(model(x), labels, target), x)
    return grad


@register_attack("fgsm", norm="linf", paper="Goodfellow et al. 2015")
def fgsm(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float = 8 / 255,
         target: int | Tensor | None = None, eval_mode: bool = True) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``clip(x + eps * sign(grad_x loss), 0, 1)``.

    Args: see the module docstring. ``eps`` defaults to 8/255.

    Returns:
        ``Tensor[N, C, H, W]`` in [0, 1], at most ``eps`` from ``images`` in every pixel.

    Example:
        >>> from cnnlab import models
        >>> net = models.create("lenet5")
        >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
        >>> float((fgsm(net, x, y, eps=0.1) - x).abs().max()) <= 0.1 + 1e-6
        True
    """
    check_inputs(images, labels, model=model, eps=eps)
    tgt = resolve_target(target, labels, model)
    x = images.detach().clone()
    with attack_mode(model, eval_mode=eval_mode):
        grad = _input_grad(model, x, labels, tgt)
    return (x.detach() + eps * grad.sign()).clamp_(0, 1)


def _rand_like(x: Tensor, generator: torch.Generator | None, kind: str, a: float = 0.0, b: float = 1.0) -> Tensor:
    out = torch.empty_like(x)
    return out.uniform_(a, b, generator=generator) if kind == "uniform" else out.normal_(generator=generator)


def _l2_project(delta: Tensor, eps: float) -> Tensor:
    # (N, C, H, W): scale each sample's delta into the L2 ball of radius eps
    norms = delta.flatten(1).norm(p=2, dim=1)
    factor = torch.clamp(eps / norms, max=1.0)  # eps / 0 = inf -> 1
    return delta * factor.view(-1, 1, 1, 1)


def _pgd_once(model: nn.Module, x0: Tensor, labels: Tensor, tgt: Tensor | None, *, eps: float, alpha: float,
              steps: int, norm: str, random_start: bool, generator: torch.Generator | None) -> Tensor:
    if norm == "linf":
        lo, hi = (x0 - eps).clamp_(min=0), (x0 + eps).clamp_(max=1)  # the ball intersected with [0, 1]
        adv = x0.clone()
        if random_start:
            adv = (adv + _rand_like(adv, generator, "uniform", -eps, eps)).clamp_(0, 1)
        for _ in range(steps):
            grad = _input_grad(model, adv, labels, tgt)
            adv = adv.detach().add_(grad.sign_(), alpha=alpha)
            adv = torch.maximum(adv, lo, out=adv)
            adv = torch.minimum(adv, hi, out=adv)
        return adv.detach()
    # L2 ball (Madry et al. 2018; the step is the normalised gradient)
    adv = x0.clone()
    if random_start:
        delta = _rand_like(adv, generator, "normal")
        n = delta.flatten(1).norm(p=2, dim=1).view(-1, 1, 1, 1)
        r = torch.empty_like(n).uniform_(0, 1, generator=generator)
        adv = (adv + delta * (r / n * eps)).clamp_(0, 1)
    for _ in range(steps):
        grad = _input_grad(model, adv, labels, tgt)
        gnorm = grad.flatten(1).norm(p=2, dim=1).add_(1e-10).view(-1, 1, 1, 1)
        adv = adv.detach() + alpha * grad / gnorm
        adv = (x0 + _l2_project(adv - x0, eps)).clamp_(0, 1)
    return adv.detach()


@register_attack("pgd", norm="linf|l2", paper="Madry et al. 2018")
def pgd(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float = 8 / 255, alpha: float | None = None,
        steps: int = 10, norm: str = "linf", random_start: bool = True, restarts: int = 1,
        target: int | Tensor | None = None, generator: torch.Generator | None = None,
        eval_mode: bool = True) -> Tensor:
    """Projected gradient descent (Madry et al. 2018) in an L-inf or L2 ball, with random start and restarts.

    Args:
        eps: ball radius (default 8/255).
        alpha: step size (default ``2.5 * eps / steps``, Madry's choice, so the walk can cross the ball).
        steps: gradient steps per restart (default 10).
        norm: ``"linf"`` (signed-gradient steps, clip to the box) or ``"l2"`` (normalised gradient steps,
            rescale into the ball).
        random_start: start uniformly in the L-inf ball, or at a random radius in the L2 ball.
        restarts: independent runs; per image the one that fools the model, else the highest loss, is kept.
        generator: a ``torch.Generator`` for the random start (default: the global one; seeded the same,
            the draws equal torchattacks' ``PGD`` / ``PGDL2``).
        Others: see the module docstring.

    Returns:
        ``Tensor[N, C, H, W]`` in [0, 1] inside the ball around ``images``.
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    check_inputs(images, labels, model=model, eps=eps, norm=norm)
    for name, v in (("steps", steps), ("restarts", restarts)):
        check_int(name, v, 0 if name == "steps" else 1)
    alpha = 2.5 * eps / max(steps, 1) if alpha is None else alpha
    check_number("alpha", alpha, minimum=0)
    tgt = resolve_target(target, labels, model)
    x0 = images.detach()
    with attack_mode(model, eval_mode=eval_mode):
        best = _pgd_once(model, x0, labels, tgt, eps=eps, alpha=alpha, steps=steps, norm=norm,
                         random_start=random_start, generator=generator)
        if restarts == 1:
            return best
        best_ok, best_loss = _score(model, best, labels, tgt)
        for _ in range(restarts - 1):
            adv = _pgd_once(model, x0, labels, tgt, eps=eps, alpha=alpha, steps=steps, norm=norm,
                            random_start=random_start, generator=generator)
            ok, loss = _score(model, adv, labels, tgt)
            better = (ok & ~best_ok) | ((ok == best_ok) & (loss > best_loss))
            best = torch.where(better.view(-1, 1, 1, 1), adv, best)
            best_ok, best_loss = best_ok | ok, torch.where(better, loss, best_loss)
    return best


@torch.no_grad()
def _score(model: nn.Module, adv: Tensor, labels: Tensor, tgt: Tensor | None) -> tuple[Tensor, Tensor]:
    # per-sample (success, objective) of one restart
    logits = model(adv)
    pred = logits.argmax(1)
    if tgt is None:
        return pred != labels, F.cross_entropy(logits, labels, reduction="none")
    return pred == tgt, -F.cross_entropy(logits, tgt, reduction="none")


@dataclass
class AttackResult:
    """What :func:`run_attack` measured on one batch.

    Attributes:
        adversarial: ``Tensor[N, C, H, W]`` in [0, 1].
        clean_pred, adv_pred: ``Tensor[N]`` predicted classes before and after.
        adv_prob: ``Tensor[N]`` softmax probability of ``adv_pred``.
        success: ``Tensor[N]`` bool; untargeted: the prediction differs from the label; targeted: it is the
            target.
        linf, l2, l0: ``Tensor[N]`` perturbation norms (``l0`` counts changed pixel positions).
    """

    adversarial: Tensor
    clean_pred: Tensor
    adv_pred: Tensor
    adv_prob: Tensor
    success: Tensor
    linf: Tensor
    l2: Tensor
    l0: Tensor


def perturbation_norms(images: Tensor, adversarial: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample ``(linf, l2, l0)`` of ``adversarial - images``; ``l0`` counts changed pixel positions."""
    d = (adversarial - images).flatten(2)  # (N, C, H*W)
    return (d.abs().flatten(1).amax(1), d.flatten(1).norm(p=2, dim=1),
            (d.abs().amax(1) > 1e-6).sum(1))


def run_attack(method: str | Callable[..., Tensor], model: nn.Module, images: Tensor, labels: Tensor, *,
               target: int | Tensor | None = None, clean_pred: Tensor | None = None, **options) -> AttackResult:
    """Attack one batch and measure it: adversarial images, predictions, per-sample success and norms.

    Args:
        method: a registered attack name (:func:`names`) or an attack function.
        target: as for the attacks; success then means "classified as the target".
        clean_pred: the model's predictions on ``images`` when already known (saves a forward pass).
        **options: the attack's settings (``eps``, ``steps``, ...).

    Example:
        >>> from cnnlab import models
        >>> r = run_attack("fgsm", models.create("lenet5"), torch.rand(2, 1, 28, 28), torch.tensor([0, 1]),
        ...                eps=0.1)
        >>> r.success.shape
        torch.Size([2])
    """
    fn = ATTACKS.lookup(method) if isinstance(method, str) else method
    check_inputs(images, labels, model=model)
    tgt = resolve_target(target, labels, model)
    adv = fn(model, images, labels, target=target, **options)
    with attack_mode(model), torch.no_grad():
        if clean_pred is None:
            clean_pred = model(images).argmax(1)
        probs = model(adv).float().softmax(1)
    adv_prob, adv_pred = probs.max(1)
    success = adv_pred != labels if tgt is None else adv_pred == tgt
    linf, l2, l0 = perturbation_norms(images, adv)
    return AttackResult(adv, clean_pred, adv_pred, adv_prob, success, linf, l2, l0)
