"""Neural style transfer and texture synthesis by optimising the pixels of an image (Gatys, Ecker & Bethge 2015,
2016) with any cnnlab model as the feature extractor, offline: EfficientNet-Lite0 by default, not VGG-19.

The image is optimised so that the feature maps of the content layers match the content photo's (content loss)
and the Gram matrices of the style layers match the style image's (style loss); ``alpha`` and ``beta`` weight
them, ``tv_weight`` a total-variation prior. Options: several style images blended by weights (neural-style's
``-style_blend_weights``), luminance-only transfer that keeps the photo's colours (Gatys et al. 2016; neural-style's
``-original_colors``), coarse-to-fine over image sizes, activation smoothing (Wang et al. 2021), L-BFGS or Adam.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab import models
from cnnlab._checks import check_choice, check_int, check_number
from cnnlab._device import model_device
from cnnlab.style._color import combine_luminance, luminance, match_colors, match_luminance
from cnnlab.style._features import check_layers, feature_taps
from cnnlab.style._fuse import fast_copy
from cnnlab.style._losses import content_loss, gram_matrix, smooth, style_loss, tv_loss

# per model family, the stem layers added to the default style layers (low-level statistics: colour, edges)
STEM_LAYERS = {"efficientnet": ("_bn0",)}
# an L-BFGS step whose loss is more than this many times the best so far has diverged: the optimisation restarts
# from the best image with a fresh optimiser (StyleResult.restarts counts it; Adam's steps are bounded by its lr)
DIVERGED = 2.0


INITS = ("content", "noise", "style", "recolored")  # the starting images of TransferConfig.init


@dataclass
class TransferConfig:
    """Settings of :func:`transfer`, :func:`stylize` and :func:`texture`.

    Attributes:
        content_layers, style_layers: dotted module names of the model (``None``: the model's defaults, see
            :func:`default_layers`). A module called several times per forward pass gives one map per call.
        alpha, beta: weights of the content and the style loss (see :mod:`cnnlab.style._losses` for their
            normalisation).
        tv_weight: weight of the total-variation loss.
        optimizer: ``"lbfgs"`` (one function evaluation per step) or ``"adam"``.
        steps: optimisation steps per size; a sequence gives one count per size of ``size``.
        lr: step size (default 1.0 for L-BFGS, 0.02 pixel units for Adam).
        size: the output's longer side in pixels; a sequence (e.g. ``(128, 256)``) runs coarse-to-fine, each
            size starting from the previous result upsampled. For :func:`texture` also ``(h, w)`` via
            ``texture(size=...)``.
        style_scale: the style image is resized to ``style_scale * size`` (its longer side), as neural-style.
        init: ``"content"``, ``"noise"`` (mid-grey plus Gaussian noise), ``"style"`` or ``"recolored"`` (the
            content photo with its colours' mean and covariance moved to the (first) style's,
            :func:`match_colors`; as ``"content"`` under ``preserve_color``).
        preserve_color: luminance-only transfer: content and style are turned into luminance (the style's matched
            to the content's mean and spread), the luminance is optimised, and the photo's chroma (YIQ's I, Q) is
            put back.
        smoothing: ``None`` or ``"softmax"``: activation smoothing before every loss (:func:`smooth`).
        temperature: the softmax temperature of the smoothing.
        layer_norm: ``"gatys"`` (every style layer's loss as Gatys et al.: deep, wide layers weigh more) or
            ``"relative"`` (each layer's loss divided by its target's, so every layer weighs the same).
        margin: the image is optimised with this many reflected pixels on every side, cropped at the end: with
            TensorFlow's SAME padding the first rows and columns feed fewer outputs and otherwise turn to noise.
        fast: optimise with a private copy of the model whose batch norms are folded into the convolutions and
            whose weights are channels-last, when its feature maps equal the model's (checked once); the model
            passed in is never changed.
        snapshot_every: pass the current image to ``progress`` every this many steps (0: never).
        seed: random seed of the noise initialisation (when no ``generator`` is given).
    """

    content_layers: tuple[str, ...] | None = None
    style_layers: tuple[str, ...] | None = None
    alpha: float = 1.0
    beta: float = 1e3
    tv_weight: float = 10.0
    optimizer: str = "lbfgs"
    steps: int | tuple[int, ...] = 300
    lr: float | None = None
    size: int | tuple[int, ...] = 256
    style_scale: float = 1.0
    init: str = "content"
    preserve_color: bool = False
    smoothing: str | None = None
    temperature: float = 1.0
    layer_norm: str = "gatys"
    margin: int = 8
    fast: bool = True
    snapshot_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("content_layers", "style_layers"):
            v = getattr(self, name)
            if isinstance(v, str):
                setattr(self, name, (v,))
            elif v is not None:
                setattr(self, name, tuple(v))
        check_number("alpha", self.alpha, minimum=0)
        check_number("beta", self.beta, minimum=0)
        check_number("tv_weight", self.tv_weight, minimum=0)
        check_choice("optimizer", self.optimizer, ("lbfgs", "adam"))
        check_choice("init", self.init, INITS)
        check_choice("smoothing", self.smoothing, (None, "softmax"))
        check_number("temperature", self.temperature, minimum=0, open_min=True)
        check_choice("layer_norm", self.layer_norm, ("gatys", "relative"))
        check_number("style_scale", self.style_scale, minimum=0.05, maximum=8)
        check_int("snapshot_every", self.snapshot_every, 0)
        check_int("margin", self.margin, 0)
        if self.lr is not None:
            check_number("lr", self.lr, minimum=0, open_min=True)
        sizes = self.sizes()
        steps = self.steps_per_size()
        if len(steps) != len(sizes):
            raise ValueError(f"steps must be one count or one per size ({len(sizes)}), got {self.steps!r}")

    def sizes(self) -> tuple[int, ...]:
        sizes = (self.size,) if isinstance(self.size, (int, float)) else tuple(self.size)
        if not sizes:
            raise ValueError("size must be a positive integer or a sequence of them")
        return tuple(int(check_int("size", s)) for s in sizes)

    def steps_per_size(self) -> tuple[int, ...]:
        if isinstance(self.steps, (int, float)):
            return (int(check_int("steps", self.steps, 0)),) * len(self.sizes())
        return tuple(int(check_int("steps", s, 0)) for s in self.steps)


@dataclass
class StyleProgress:
    """What a progress callback receives after each step: ``step`` of ``total`` (all sizes together), the
    current size's index ``level`` of ``levels`` and its ``(h, w)``, the losses of that step, and every
    ``snapshot_every`` steps (and at the end of each size) the current image ``Tensor[3, H, W]``."""

    step: int
    total: int
    level: int
    levels: int
    size: tuple[int, int]
    losses: dict[str, float]
    image: Tensor | None = None


@dataclass
class StyleResult:
    """The output of :func:`stylize`: the image ``Tensor[3, H, W]`` in [0, 1], the losses of every step,
    whether ``cancel`` stopped it early, the seconds it took, the settings that made it and how often the
    optimiser was restarted from the best image so far after its loss rose above :data:`DIVERGED` times the best
    (an L-BFGS leap uphill)."""

    image: Tensor
    history: list[dict[str, float]]
    cancelled: bool
    seconds: float
    config: TransferConfig
    content_layers: list[str] = field(default_factory=list)
    style_layers: list[str] = field(default_factory=list)
    restarts: int = 0

    def __repr__(self) -> str:
        last = self.history[-1]["total"] if self.history else float("nan")
        return (f"StyleResult(image={tuple(self.image.shape)}, steps={len(self.history)}, final_loss={last:.4g}, "
                f"cancelled={self.cancelled}, seconds={self.seconds:.1f})")


def default_layers(model: nn.Module) -> tuple[list[str], list[str]]:
    """``(content_layers, style_layers)`` from the feature maps the model's card records.

    Style layers: the normalisation layer (every cnnlab model's first layer: its Gram matrix holds the pixels'
    colour moments), the family's stem (:data:`STEM_LAYERS`) and every recorded feature map but the last (the
    deepest is the classifier's input: object identity, little texture). Content layer: the map of stride 8
    (VGG's ``conv4_2`` has stride 8), else the middle one.
    """
    card = getattr(model, "cnnlab", None)
    feats = models.feature_info(model) if isinstance(card, models.ModelCard) else []
    if not feats:
        raise ValueError("this model records no feature maps: name content_layers and style_layers")
    family = models.info(card.name)["family"] if card.name in models.MODELS else None
    shallow = [n for n in ("normalize", *STEM_LAYERS.get(family, ())) if _has_module(model, n)]
    style = shallow + [f.module for f in (feats[:-1] if len(feats) > 2 else feats)]
    by_stride = [f.module for f in feats if f.stride == 8]
    content = by_stride[-1] if by_stride else feats[len(feats) // 2].module
    return [content], style


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def resolve_model(model: nn.Module | str) -> nn.Module:
    """A model from a module (used as it is) or a registry name / checkpoint (its pretrained weights when it has
    some), for the feature extractor."""
    if isinstance(model, nn.Module):
        return model
    if not isinstance(model, str):
        raise TypeError(f"model must be an nn.Module, a registry name or a checkpoint, got {type(model).__name__}")
    return models.load(model)


def as_rgb(img: Any, name: str) -> Tensor:
    """``Tensor[C, H, W]`` (or ``[1, C, H, W]``) in [0, 1] -> RGB ``Tensor[3, H, W]``: grey is repeated, RGBA is
    composited onto white (as cnnlab.data.load_image does for files)."""
    from cnnlab._checks import check_images

    if not isinstance(img, Tensor):
        raise TypeError(f"{name} must be an image Tensor[C, H, W], got {type(img).__name__}")
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() != 3:
        raise ValueError(f"{name} must be an image Tensor[C, H, W], got shape {tuple(img.shape)}")
    check_images(img[None].float(), name)
    img = img.float()
    c = img.shape[0]
    if c == 1:
        return img.expand(3, -1, -1).contiguous()
    if c == 2:  # grey + alpha
        return (img[:1] * img[1:] + (1 - img[1:])).expand(3, -1, -1).contiguous()
    if c == 4:
        return img[:3] * img[3:] + (1 - img[3:])
    if c != 3:
        raise ValueError(f"{name} must have 1, 2, 3 or 4 channels (grey, grey+alpha, RGB, RGBA), got {c}")
    return img


def _fit_size(hw: tuple[int, int], longer: int) -> tuple[int, int]:
    """``(h, w)`` scaled so that the longer side is ``longer`` pixels."""
    s = longer / max(hw)
    return max(1, round(hw[0] * s)), max(1, round(hw[1] * s))


def _fit(img: Tensor, longer: int) -> Tensor:
    """``Tensor[C, H, W]`` resized (antialiased bicubic) so that its longer side is ``longer`` pixels."""
    return _resize(img, _fit_size(tuple(img.shape[-2:]), longer))


def _resize(img: Tensor, hw: tuple[int, int]) -> Tensor:
    if tuple(img.shape[-2:]) == tuple(hw):
        return img
    batch = img[None] if img.dim() == 3 else img
    out = F.interpolate(batch, size=hw, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    return out[0] if img.dim() == 3 else out


def _stopper(cancel: Callable[[], bool] | threading.Event | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return lambda: bool(cancel())
    raise TypeError(f"cancel must be a threading.Event or a callable returning bool, got {type(cancel).__name__}")


def _blend_weights(style_weights: Sequence[float] | None, n: int) -> list[float]:
    if style_weights is None:
        return [1.0 / n] * n
    w = [check_number("style_weights", v, minimum=0) for v in style_weights]
    if len(w) != n:
        raise ValueError(f"style_weights must have one weight per style image ({n}), got {len(w)}")
    if sum(w) <= 0:
        raise ValueError(f"style_weights must not all be zero, got {list(style_weights)}")
    return [v / sum(w) for v in w]


class _Objective:
    """The total loss of an image under fixed content features and style Gram targets (one size)."""

    def __init__(self, run: Callable[[Tensor], dict[str, list[Tensor]]], content_layers: list[str],
                 style_layers: list[str], cfg: TransferConfig) -> None:
        self.run, self.content_layers, self.style_layers, self.cfg = run, content_layers, style_layers, cfg
        self.content_targets: dict[str, list[Tensor]] = {}
        self.style_targets: dict[str, list[Tensor]] = {}

    def transform(self, f: Tensor) -> Tensor:
        return smooth(f, temperature=self.cfg.temperature) if self.cfg.smoothing == "softmax" else f

    def set_targets(self, content: Tensor | None, styles: list[Tensor], weights: list[float]) -> None:
        with torch.no_grad():
            if content is not None and self.cfg.alpha > 0:
                feats = self.run(content[None])
                self.content_targets = {n: [self.transform(f) for f in feats[n]] for n in self.content_layers}
            grams: dict[str, list[Tensor]] = {}
            for s, w in zip(styles, weights):
                feats = self.run(s[None])
                for n in self.style_layers:
                    g = [w * gram_matrix(self.transform(f))[0] for f in feats[n]]
                    grams[n] = g if n not in grams else [a + b for a, b in zip(grams[n], g)]
            self.style_targets = grams
            # "relative": each map's style loss divided by 1/4 ||A||^2, so every layer weighs the same
            self.style_scales = {n: [1.0 / max(float(style_loss(a[None] * 0, a)), 1e-30) if
                                     self.cfg.layer_norm == "relative" else 1.0 for a in g] for n, g in grams.items()}

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        cfg = self.cfg
        feats = self.run(x)
        zero = x.new_zeros(())
        c_terms = [content_loss(self.transform(f), t) for n in self.content_targets
                   for f, t in zip(feats[n], self.content_targets[n])]
        s_terms = [k * style_loss(gram_matrix(self.transform(f)), t) for n in self.style_layers
                   for f, t, k in zip(feats[n], self.style_targets[n], self.style_scales[n])]
        c = torch.stack(c_terms).mean() if c_terms else zero
        s = torch.stack(s_terms).mean() if s_terms else zero
        tv = tv_loss(x) if cfg.tv_weight else zero
        total = cfg.alpha * c + cfg.beta * s + cfg.tv_weight * tv
        return {"total": total, "content": c, "style": s, "tv": tv}


def _check_map_sizes(model: nn.Module, run: Callable, hw: tuple[int, int], layers: list[str], what: str) -> None:
    """A size too small for the network's depth: every tapped layer must give a map of at least 2 x 2."""
    with torch.no_grad():
        dev = model_device(model)
        feats = run(torch.full((1, 3, *hw), 0.5, device=dev))
    strides = {f.module: f.stride for f in (models.feature_info(model) if isinstance(
        getattr(model, "cnnlab", None), models.ModelCard) else [])}
    small = [(strides.get(n, 0), n, f.shape[-2:]) for n in layers for f in feats[n] if min(f.shape[-2:]) < 2]
    if small:
        stride, n, shape = max(small, key=lambda t: t[0])  # the deepest: the size it needs covers the others
        need = f" (at least {2 * stride} px)" if stride else ""
        raise ValueError(f"{what} is too small for layer {n!r}: its feature map would be {shape[0]}x{shape[1]}; "
                         f"use a larger size{need} or shallower layers")


def stylize(content: Tensor | None, style: Tensor | Sequence[Tensor], *, model: nn.Module | str = "efficientnet_lite0",
            config: TransferConfig | None = None, style_weights: Sequence[float] | None = None,
            generator: torch.Generator | None = None, progress: Callable[[StyleProgress], None] | None = None,
            cancel: Callable[[], bool] | threading.Event | None = None, texture_size: tuple[int, int] | None = None,
            **overrides: Any) -> StyleResult:
    """Style transfer with everything a caller may want back (losses per step, cancellation); :func:`transfer`
    returns just the image. Arguments as :func:`transfer`; ``content=None`` with ``texture_size=(h, w)``
    synthesises a texture (:func:`texture`)."""
    t0 = time.perf_counter()
    cfg = dataclasses.replace(config or TransferConfig(), **overrides)
    stop = _stopper(cancel)
    styles = [style] if isinstance(style, Tensor) else list(style)
    if not styles:
        raise ValueError("style must be an image or a non-empty list of images")
    styles = [as_rgb(s, f"style image {i}" if len(styles) > 1 else "style") for i, s in enumerate(styles)]
    weights = _blend_weights(style_weights, len(styles))
    photo = as_rgb(content, "content") if content is not None else None
    if photo is None and texture_size is None:
        raise ValueError("content must be an image (or use texture() to synthesise from the style alone)")
    if photo is None and cfg.init in ("content", "recolored"):
        cfg = dataclasses.replace(cfg, init="noise")
    net = resolve_model(model)
    c_default, s_default = default_layers(net) if cfg.content_layers is None or cfg.style_layers is None else ([], [])
    c_layers = check_layers(net, cfg.content_layers or c_default, "content_layers") if photo is not None else []
    s_layers = check_layers(net, cfg.style_layers or s_default, "style_layers")
    dev = model_device(net)
    out_device = photo.device if photo is not None else styles[0].device
    sizes, steps = cfg.sizes(), cfg.steps_per_size()
    gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
    card = getattr(net, "cnnlab", None)
    if isinstance(card, models.ModelCard) and card.input_size[0] != 3:
        raise ValueError(f"style transfer needs a model that takes RGB images; {card.name!r} takes "
                         f"{card.input_size[0]}-channel images")
    history: list[dict[str, float]] = []
    restarts = 0
    total_steps, done, cancelled = sum(steps), 0, False
    x: Tensor | None = None
    hw = (0, 0)
    taps = c_layers + [n for n in s_layers if n not in c_layers]
    with models.frozen(net), contextlib.ExitStack() as stack:
        work = net
        if cfg.fast:
            first = photo if photo is not None else styles[0]
            probe = _fit(first, min(sizes[0], max(first.shape[-2:])))[None].to(dev)
            try:
                work = fast_copy(net, taps, probe)
            except (RuntimeError, ValueError):  # a size the network cannot take: the checks below say why
                work = net
        run = stack.enter_context(feature_taps(work, taps))
        for level, (size, n_steps) in enumerate(zip(sizes, steps)):
            if photo is not None:
                hw = _fit_size(tuple(photo.shape[-2:]), size)
            else:
                hw = texture_size if level == len(sizes) - 1 else _scaled(texture_size, size / sizes[-1])
            what = f"size {size} ({hw[0]}x{hw[1]})"
            padded = (hw[0] + 2 * cfg.margin, hw[1] + 2 * cfg.margin)
            models.check_input_size(net, (3, *padded), what=what)  # before any resize: a huge size fails here
            style_hws = [_fit_size(tuple(s.shape[-2:]), max(8, round(cfg.style_scale * max(hw)))) for s in styles]
            for s_hw in style_hws:
                models.check_input_size(net, (3, *s_hw), what=f"style size {s_hw[0]}x{s_hw[1]}")
            _check_map_sizes(net, run, hw, c_layers + s_layers, what)
            for s_hw in style_hws:
                _check_map_sizes(net, run, s_hw, s_layers, f"style size {s_hw[0]}x{s_hw[1]}")
            target = _resize(photo, hw).to(dev) if photo is not None else None
            style_imgs = [_resize(s, s_hw).to(dev) for s, s_hw in zip(styles, style_hws)]
            if cfg.preserve_color:
                luma_c = luminance(target) if target is not None else None
                style_imgs = [(match_luminance(luminance(s), luma_c) if luma_c is not None else luminance(s))
                              .expand(3, -1, -1) for s in style_imgs]
                target = luma_c.expand(3, -1, -1) if luma_c is not None else None
            x = _initial(x, cfg, target, style_imgs[0], hw, gen, dev)
            m = min(cfg.margin, hw[0] - 1, hw[1] - 1)
            objective = _Objective(run, c_layers, s_layers, cfg)
            objective.set_targets(_pad(target, m) if target is not None else None, style_imgs, weights)
            x, cancelled, n_restarts = _optimise(objective, _pad(x, m), cfg, n_steps, level, len(sizes), hw, done,
                                                 total_steps, history, progress, stop, photo, out_device, m)
            restarts += n_restarts
            x = _crop(x, m)
            done += n_steps
            if cancelled:
                break
    assert x is not None
    image = _finish(x, cfg, photo)
    return StyleResult(image=image.to(out_device), history=history, cancelled=cancelled,
                       seconds=time.perf_counter() - t0, config=cfg, content_layers=c_layers, style_layers=s_layers,
                       restarts=restarts)


def _pad(img: Tensor, m: int) -> Tensor:
    """Reflect-pad ``Tensor[C, H, W]`` or ``[N, C, H, W]`` by ``m`` pixels on every side."""
    if not m:
        return img
    batch = img[None] if img.dim() == 3 else img
    out = F.pad(batch, (m, m, m, m), mode="reflect")
    return out[0] if img.dim() == 3 else out


def _crop(img: Tensor, m: int) -> Tensor:
    return img[..., m:img.shape[-2] - m, m:img.shape[-1] - m] if m else img


def _scaled(hw: tuple[int, int], s: float) -> tuple[int, int]:
    return max(1, round(hw[0] * s)), max(1, round(hw[1] * s))


def _initial(prev: Tensor | None, cfg: TransferConfig, target: Tensor | None, style: Tensor, hw: tuple[int, int],
             gen: torch.Generator, dev: torch.device) -> Tensor:
    """The starting image ``Tensor[1, C, H, W]`` (C = 1 for luminance-only transfer)."""
    c = 1 if cfg.preserve_color else 3
    if prev is not None:
        return _resize(prev, hw).detach()
    if cfg.init == "recolored" and target is not None and c == 3:
        x = match_colors(target, style[:3])
    elif cfg.init in ("content", "recolored") and target is not None:
        x = target[:c]
    elif cfg.init == "style":
        x = _resize(style, hw)[:c]
    else:
        x = (0.5 + 0.1 * torch.randn((c, *hw), generator=gen)).clamp(0, 1).to(dev)
    return x[None].detach().clone()


def _optimise(objective: _Objective, x: Tensor, cfg: TransferConfig, n_steps: int, level: int, levels: int,
              hw: tuple[int, int], done: int, total: int, history: list[dict[str, float]],
              progress: Callable[[StyleProgress], None] | None, stop: Callable[[], bool], photo: Tensor | None,
              out_device: torch.device, margin: int) -> tuple[Tensor, bool]:
    x = x.detach().clone().requires_grad_(True)
    expand = cfg.preserve_color

    def losses() -> dict[str, Tensor]:
        return objective(x.expand(-1, 3, -1, -1) if expand else x)

    def optimiser() -> torch.optim.Optimizer:
        if cfg.optimizer == "lbfgs":
            # max_iter=1: one function evaluation per step, so that progress, snapshots and cancel work per step;
            # the curvature history lives in the optimiser's state across steps
            return torch.optim.LBFGS([x], lr=cfg.lr or 1.0, max_iter=1, history_size=100, tolerance_grad=0.0,
                                     tolerance_change=0.0)
        return torch.optim.Adam([x], lr=cfg.lr or 0.02)

    opt = optimiser()
    last: dict[str, float] = {}
    guard = cfg.optimizer == "lbfgs"  # Adam's steps are bounded by its lr
    best, best_x, restarts = math.inf, None, 0

    def closure() -> Tensor:
        with torch.no_grad():  # keep the pixels in [0, 1] (the PyTorch tutorial's projection; Adam's too)
            x.clamp_(0, 1)
        opt.zero_grad(set_to_none=True)
        with torch.enable_grad():
            terms = losses()
            terms["total"].backward()
        last.clear()
        last.update({k: float(v.detach()) for k, v in terms.items()})
        return terms["total"]

    for i in range(n_steps):
        if stop():
            return x.detach(), True, restarts
        at = x.detach().clone() if guard else None  # where this step's loss is evaluated (the closure clamps it)
        if cfg.optimizer == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
        if not math.isfinite(last.get("total", 0.0)):
            raise FloatingPointError(f"the loss became {last['total']} at step {i + 1}; lower beta or lr")
        if guard and last["total"] < best:
            best, best_x = last["total"], at
        elif guard and last["total"] > DIVERGED * best:
            # L-BFGS without a line search can leap far uphill and stall there (seen with softmax smoothing at
            # 512 px: 528 -> 20,240, then flat); go back to the best image so far with a fresh optimiser
            with torch.no_grad():
                x.copy_(best_x)
            opt, restarts = optimiser(), restarts + 1
        history.append(dict(last))
        if progress is not None:
            snap = cfg.snapshot_every and ((i + 1) % cfg.snapshot_every == 0) or i + 1 == n_steps
            img = _finish(_crop(x.detach(), margin), cfg, photo).to(out_device) if snap else None
            progress(StyleProgress(step=done + i + 1, total=total, level=level, levels=levels, size=hw,
                                   losses=dict(last), image=img))
    return x.detach(), False, restarts


def _finish(x: Tensor, cfg: TransferConfig, photo: Tensor | None) -> Tensor:
    """The optimised variable -> an RGB ``Tensor[3, H, W]`` in [0, 1] (the photo's chroma put back for
    luminance-only transfer)."""
    img = x.detach()[0].clamp(0, 1)
    if not cfg.preserve_color:
        return img
    if photo is None:
        return img.expand(3, -1, -1).contiguous()
    chroma = _resize(photo.to(img.device), tuple(img.shape[-2:]))
    return combine_luminance(img, chroma)


def transfer(content: Tensor, style: Tensor | Sequence[Tensor], *, model: nn.Module | str = "efficientnet_lite0",
             config: TransferConfig | None = None, style_weights: Sequence[float] | None = None,
             generator: torch.Generator | None = None, progress: Callable[[StyleProgress], None] | None = None,
             cancel: Callable[[], bool] | threading.Event | None = None, **overrides: Any) -> Tensor:
    """Paint the photo ``content`` in the style of ``style`` (Gatys et al. 2016).

    Args:
        content: the photo, ``Tensor[C, H, W]`` in [0, 1] (grey is repeated to RGB, RGBA composited onto white).
        style: one style image or a list of them (blended by ``style_weights``, default equal).
        model: the feature extractor: a registry name or checkpoint (``"efficientnet_lite0"``, its ImageNet
            weights) or a module; it runs in eval mode with frozen parameters and is given back as it was (modes,
            ``requires_grad``; every hook removed).
        config: a :class:`TransferConfig`; keyword ``overrides`` replace its fields (``alpha=``, ``beta=``,
            ``tv_weight=``, ``optimizer=``, ``steps=``, ``size=``, ``init=``, ``preserve_color=``, ``smoothing=``,
            ``content_layers=``, ``style_layers=``, ...).
        style_weights: blending weights of several style images (normalised to sum 1).
        generator: random generator of the noise initialisation.
        progress: called after every step with a :class:`StyleProgress` (losses; the image every
            ``snapshot_every`` steps).
        cancel: a ``threading.Event`` or a callable; when it is set / returns true the optimisation stops and the
            image so far is returned.

    Returns:
        ``Tensor[3, H, W]`` in [0, 1], the longer side ``size`` (the last of a coarse-to-fine sequence), on the
        content's device.

    Raises:
        ValueError: unknown layer names, a size too small for the layers' depth or too large for memory, bad
            settings, images that are not [0, 1] pixels.

    Example:
        >>> from cnnlab import data, style
        >>> out = style.transfer(data.sample_image("chelsea"), data.sample_image("brick"), size=64, steps=5)
        >>> out.shape
        torch.Size([3, 43, 64])
    """
    return stylize(content, style, model=model, config=config, style_weights=style_weights, generator=generator,
                   progress=progress, cancel=cancel, **overrides).image


def texture(style: Tensor | Sequence[Tensor], size: int | tuple[int, int] = 256, *,
            model: nn.Module | str = "efficientnet_lite0", config: TransferConfig | None = None,
            style_weights: Sequence[float] | None = None, generator: torch.Generator | None = None,
            progress: Callable[[StyleProgress], None] | None = None,
            cancel: Callable[[], bool] | threading.Event | None = None, **overrides: Any) -> Tensor:
    """Texture synthesis from the Gram matrices alone (Gatys, Ecker & Bethge, NeurIPS 2015): an image that starts
    as noise and is optimised until its style layers' Gram matrices match the style image's; no content loss, so
    nothing of the spatial layout survives.

    Args:
        style: the texture sample(s), ``Tensor[C, H, W]`` in [0, 1].
        size: the output's side (square) or ``(h, w)``; the style is resized to ``style_scale`` times the longer
            side.
        Other arguments as :func:`transfer` (``init`` defaults to ``"noise"``).

    Returns:
        ``Tensor[3, h, w]`` in [0, 1].
    """
    hw = (size, size) if isinstance(size, (int, float)) else tuple(size)
    if len(hw) != 2:
        raise ValueError(f"size must be an integer or (h, w), got {size!r}")
    hw = tuple(int(check_int("size", v)) for v in hw)
    overrides.setdefault("init", "noise")
    overrides.setdefault("alpha", 0.0)
    overrides["size"] = max(hw)
    return stylize(None, style, model=model, config=config, style_weights=style_weights, generator=generator,
                   progress=progress, cancel=cancel, texture_size=hw, **overrides).image


def cue_conflict(shape: Tensor, texture: Tensor | Sequence[Tensor], *, size: int = 224,
                 model: nn.Module | str = "efficientnet_lite0", config: TransferConfig | None = None,
                 **overrides: Any) -> Tensor:
    """A new cue-conflict image in the manner of Geirhos et al. (ICLR 2019): the shape of one photo painted with the
    texture of another by cnnlab's style transfer, square like their stimuli.

    Args:
        shape: the photo whose object gives the shape, ``Tensor[C, H, W]`` in [0, 1] (centre-cropped to a square).
        texture: the texture image(s).
        size: the side of the square output (their stimuli are 224x224).
        model, config, overrides: as :func:`transfer`; the defaults run coarse-to-fine from half size.

    Returns:
        ``Tensor[3, size, size]`` in [0, 1]; classify it with :func:`cnnlab.style.shape_bias`'s rule
        (:func:`decisions_from_probabilities`) to see which cue a network follows.
    """
    img = as_rgb(shape, "shape")
    check_int("size", size, 16)
    side = min(img.shape[-2:])
    top, left = (img.shape[-2] - side) // 2, (img.shape[-1] - side) // 2
    square = img[:, top:top + side, left:left + side]
    overrides.setdefault("size", (max(16, size // 2), size))
    overrides.setdefault("steps", (150, 150))
    return transfer(square, texture, model=model, config=config, **overrides)
