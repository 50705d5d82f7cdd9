"""Activation maximisation: the image a network finds most typical of a class or a channel (Simonyan et al.
2014; Yosinski et al. 2015)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab._checks import check_choice, check_int, check_number, check_positive
from cnnlab._device import model_device
from cnnlab._progress import track
from cnnlab.explain._core import Target, capture_layer, check_inputs, model_state, resolve_layer, target_scores


@dataclass
class MaximizeConfig:
    """Settings of :func:`maximize`.

    Attributes:
        steps: gradient-ascent steps (default 200).
        lr: step size in pixel units: each step moves ``lr * g / mean|g|`` (the gradient normalised per
            image, so one ``lr`` suits every network).
        l2: L2 decay per step, pulling the image towards mid-grey 0.5 (the "zero" image of a network with
            normalisation inside): ``x <- 0.5 + (1 - l2) (x - 0.5)`` (Simonyan's L2 regulariser).
        jitter: random shift of up to this many pixels before each step (0: off; Yosinski et al.).
        blur_every, blur_sigma: Gaussian blur every ``blur_every`` steps (0: off).
        init: ``"zero"`` (mid-grey) or ``"noise"`` (mid-grey plus Gaussian noise of ``noise_std``).
        seed: random seed of the noise and the jitter.
    """

    steps: int = 200
    lr: float = 0.02
    l2: float = 1e-3
    jitter: int = 2
    blur_every: int = 4
    blur_sigma: float = 0.5
    init: str = "zero"
    noise_std: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "jitter", "blur_every"):
            v = getattr(self, name)
            check_int(name, v, 0)
        check_positive("lr", self.lr)
        check_number("l2", self.l2, minimum=0, maximum=1, open_max=True)
        check_choice("init", self.init, ("zero", "noise"))
        check_positive("blur_sigma", self.blur_sigma)
        check_number("noise_std", self.noise_std, minimum=0)


def maximize(model: nn.Module, inputs: Tensor | None = None, target: Target = None, *,
             layer: nn.Module | str | None = None, channel: int | None = None,
             neuron: tuple[int, int] | None = None, size: tuple[int, int, int] | None = None,
             n: int | None = None, config: MaximizeConfig | None = None, **overrides: Any) -> Tensor:
    """Gradient ascent on images to maximise a class score (the pre-softmax logit, not the probability) or
    the activation of one channel (or one neuron) of a layer.

    Args:
        model: the network (eval mode and frozen parameters during the call; restored afterwards).
        inputs: starting images ``Tensor[N, C, H, W]`` in [0, 1]; ``None`` starts from ``config.init`` at
            ``size`` (default: the model card's input size), one image per target.
        target: the class(es) to maximise, as for the attribution methods (required without ``layer``).
        layer, channel: maximise the mean activation of ``channel`` of ``layer`` instead; with ``neuron``
            ``(y, x)`` only that unit.
        n: number of images when ``inputs`` is ``None`` and ``target`` is an int (default 1).
        config: a :class:`MaximizeConfig`; keyword ``overrides`` replace single fields.

    Returns:
        ``Tensor[N, C, H, W]`` in [0, 1].

    Example:
        >>> net = cnnlab.models.create("lenet5")
        >>> maximize(net, target=[0, 1], steps=5).shape
        torch.Size([2, 1, 28, 28])
    """
    cfg = dataclasses.replace(config or MaximizeConfig(), **overrides)
    if layer is None and channel is not None:
        raise ValueError("channel needs a layer")
    if layer is not None and channel is None:
        raise ValueError("maximising a layer needs a channel")
    if layer is None and target is None:
        raise ValueError("maximize needs a target class (or a layer and a channel)")
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = model_device(model)
    if inputs is None:
        shape = size or getattr(getattr(model, "cnnlab", None), "input_size", None)
        if shape is None:
            raise ValueError("maximize needs inputs or size=(C, H, W) for a model without a cnnlab card")
        count = n or (len(target) if isinstance(target, (list, tuple, Tensor)) and not callable(target) else 1)
        x = torch.full((count, *shape), 0.5)
        if cfg.init == "noise":
            x = (x + cfg.noise_std * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        x = x.to(dev)
    else:
        check_inputs(model, inputs)
        x = inputs.detach().clone().to(dev).float()
    mod = resolve_layer(model, layer) if layer is not None else None
    store: dict[str, Tensor] = {}
    with model_state(model) as handles:
        if mod is not None:
            handles.append(capture_layer(mod, store, grad=False))
        for step in track(range(cfg.steps), desc="activation maximisation", unit="step"):
            x.requires_grad_(True)
            with torch.enable_grad():
                xin = x
                if cfg.jitter:
                    dy, dx = (int(v) for v in torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=gen))
                    xin = torch.roll(x, (dy, dx), (2, 3))
                out = model(xin)
                score = _objective(out, store.get("act"), target, channel, neuron)
                (g,) = torch.autograd.grad(score.sum(), x)
            with torch.no_grad():
                g = g / g.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                x = x.detach() + cfg.lr * g
                x = 0.5 + (1 - cfg.l2) * (x - 0.5)
                if cfg.blur_every and (step + 1) % cfg.blur_every == 0:
                    x = _blur(x, cfg.blur_sigma)
                x = x.clamp(0, 1)
    return x.detach()


def _objective(out: Tensor, act: Tensor | None, target: Target, channel: int | None,
               neuron: tuple[int, int] | None) -> Tensor:
    if act is None:
        return target_scores(out, target)
    if not 0 <= channel < act.shape[1]:
        raise ValueError(f"channel must be in [0, {act.shape[1] - 1}], got {channel}")
    a = act[:, channel]
    if neuron is None:
        return a.flatten(1).mean(1)
    y, x = neuron
    if not (0 <= y < a.shape[-2] and 0 <= x < a.shape[-1]):
        raise ValueError(f"neuron must lie in the layer's {a.shape[-2]}x{a.shape[-1]} map, got {neuron}")
    return a[:, y, x]


def _blur(x: Tensor, sigma: float) -> Tensor:
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma])
