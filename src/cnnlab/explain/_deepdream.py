"""DeepDream (Mordvintsev, Olah & Tyka, "Inceptionism: going deeper into neural networks", 2015): gradient ascent
on a real photo to amplify what a layer already sees in it, over octaves (a pyramid of sizes, coarse to fine,
the detail added at each carried up to the next) with random jitter (shifts) against grid artefacts.

Beside activation maximisation (:func:`cnnlab.explain.maximize`), which starts from grey and maximises one class
or channel, DeepDream starts from a photo and boosts *all* the activations of a layer: the objective is the mean of
their squares (the L2 objective of the original notebook; its gradient is the activations themselves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab._checks import check_images, check_int, check_number
from cnnlab._device import model_device
from cnnlab.explain._core import capture_layer, model_state, resolve_layer


@dataclass
class DeepDreamConfig:
    """Settings of :func:`deepdream`.

    Attributes:
        octaves: number of image sizes (1: the input size only).
        octave_scale: size ratio between neighbouring octaves.
        steps: gradient-ascent steps per octave.
        lr: step size in pixel units: each step moves ``lr * g / mean|g|`` (the gradient normalised per image).
        jitter: random cyclic shift of up to this many pixels before each step (0: off).
        seed: random seed of the jitter.
    """

    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    lr: float = 0.01
    jitter: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("octaves", self.octaves)
        check_number("octave_scale", self.octave_scale, minimum=1, maximum=4, open_min=True)
        check_int("steps", self.steps, 0)
        check_number("lr", self.lr, minimum=0, open_min=True)
        check_int("jitter", self.jitter, 0)


def deepdream_layer(model: nn.Module) -> str:
    """The middle recorded feature map (mid-level layers dream of textures and object parts; the original used
    Inception's mixed4c)."""
    from cnnlab.models import ModelCard, feature_info, last_conv_name

    if not isinstance(getattr(model, "cnnlab", None), ModelCard) or not feature_info(model):
        return last_conv_name(model)
    feats = feature_info(model)
    return feats[len(feats) // 2].module


def deepdream(model: nn.Module, inputs: Tensor, *, layer: nn.Module | str | None = None, channel: int | None = None,
              config: DeepDreamConfig | None = None, progress: Callable[[int, int], None] | None = None,
              **overrides: Any) -> Tensor:
    """Amplify the activations of ``layer`` in real images.

    Args:
        model: the network (eval mode and frozen parameters during the call; restored afterwards, every hook
            removed).
        inputs: ``Tensor[N, C, H, W]`` in [0, 1] (or one image ``Tensor[C, H, W]``).
        layer: a module or dotted name (default: the middle feature map of the model's card).
        channel: boost only this channel of the layer (default: all of them).
        config: a :class:`DeepDreamConfig`; keyword ``overrides`` replace single fields.
        progress: called as ``progress(done, total)`` after every step.

    Returns:
        The dreamed images, the input's shape, in [0, 1], on the input's device.

    Raises:
        ValueError: an unknown layer, a channel the layer does not have, or octaves that shrink the image below
            what the network can take.

    Example:
        >>> net = cnnlab.models.create("efficientnet_lite0", weights="imagenet")
        >>> x = cnnlab.models.preprocess(net, cnnlab.data.sample_image("chelsea"))
        >>> deepdream(net, x, layer="_blocks.4", octaves=2, steps=2).shape
        torch.Size([3, 224, 224])
    """
    from cnnlab.models import ModelCard, check_input_size

    cfg = dataclasses.replace(config or DeepDreamConfig(), **overrides)
    single = isinstance(inputs, Tensor) and inputs.dim() == 3
    x0 = inputs[None] if single else inputs
    check_images(x0, "inputs")
    if channel is not None:
        check_int("channel", channel, 0)
    name = layer if layer is not None else deepdream_layer(model)
    mod = resolve_layer(model, name)
    h, w = x0.shape[-2:]
    sizes = [(max(1, round(h / cfg.octave_scale ** k)), max(1, round(w / cfg.octave_scale ** k)))
             for k in reversed(range(cfg.octaves))]  # smallest first
    what = f"the smallest octave ({cfg.octaves} octaves of scale {cfg.octave_scale:g})"
    if isinstance(getattr(model, "cnnlab", None), ModelCard):
        check_input_size(model, (x0.shape[1], *sizes[0]), what=what)
    dev = model_device(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    base = x0.detach().to(dev).float()
    total, done = cfg.octaves * cfg.steps, 0
    store: dict[str, Tensor] = {}
    detail = torch.zeros_like(_resize(base, sizes[0]))
    with model_state(model) as handles:
        handles.append(capture_layer(mod, store, grad=False))
        with torch.no_grad():  # a pyramid too deep for the layer: its smallest octave gives a map under 2 x 2
            model(_resize(base[:1], sizes[0]))
        act = store.get("act")
        if act is not None and act.dim() == 4 and min(act.shape[-2:]) < 2:
            raise ValueError(f"{what} is {sizes[0][0]}x{sizes[0][1]} px, too small for layer {name!r} (a "
                             f"{act.shape[-2]}x{act.shape[-1]} map); use fewer octaves or a smaller octave_scale")
        for size in sizes:
            octave = _resize(base, size)
            x = (octave + _resize(detail, size)).clamp(0, 1)
            for _ in range(cfg.steps):
                x = _step(model, x, store, cfg, gen, channel, name)
                done += 1
                if progress is not None:
                    progress(done, total)
            detail = x - octave
    out = x.detach().to(inputs.device)
    return out[0] if single else out


def _step(model: nn.Module, x: Tensor, store: dict[str, Tensor], cfg: DeepDreamConfig, gen: torch.Generator,
          channel: int | None, name: Any) -> Tensor:
    dy, dx = (int(v) for v in torch.randint(-cfg.jitter, cfg.jitter + 1, (2,), generator=gen)) if cfg.jitter \
        else (0, 0)
    x = torch.roll(x, (dy, dx), (2, 3)).detach().requires_grad_(True)
    with torch.enable_grad():
        store.clear()
        model(x)
        act = store.get("act")
        if act is None:
            raise ValueError(f"layer {name!r} did not run in the model's forward pass")
        if act.dim() < 2 or act.shape[-1] < 1:
            raise ValueError(f"layer {name!r} gives shape {tuple(act.shape)}")
        if channel is not None:
            if act.dim() < 3 or channel >= act.shape[1]:
                raise ValueError(f"channel must be in [0, {act.shape[1] - 1}] for layer {name!r}, got {channel}")
            act = act[:, channel]
        objective = act.pow(2).flatten(1).mean(1).sum()  # one image's gradient does not depend on the others
        (g,) = torch.autograd.grad(objective, x)
    with torch.no_grad():
        g = g / g.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        x = (x + cfg.lr * g).clamp(0, 1)
        return torch.roll(x, (-dy, -dx), (2, 3))


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)

