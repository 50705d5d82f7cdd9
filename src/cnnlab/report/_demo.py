"""The ``cnnlab demo`` job: the pretrained EfficientNet-Lite0 (or any registry model or checkpoint) on the sample
photos, one HTML report. Every section runs for any model; what does not apply to it is skipped with a visible
note (``report.note``)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from cnnlab._registry import Registry
from cnnlab.report._html import Report, Section

DEMO_SECTIONS: Registry[Callable[[DemoContext], Section]] = Registry("demo section")

DEFAULT_IMAGES = ("chelsea", "coffee", "rocket", "camera", "stereo_motorcycle", "china", "grace_hopper")


@dataclass
class DemoContext:
    """What every demo section gets: the model, the photos (name -> ``Tensor[C, H, W]``), where to write
    files, and a cache shared between sections (e.g. predictions)."""

    model: nn.Module
    model_name: str
    images: dict[str, Tensor]
    out_dir: Path
    cache: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def description(self) -> str:
        """:func:`describe_model` of the demo model (plain text)."""
        if "description" not in self.cache:
            self.cache["description"] = describe_model(self.model, self.model_name)
        return self.cache["description"]


def describe_model(model: nn.Module, spec: str) -> str:
    """What the demo model is, in words, from its card (and the checkpoint's metadata when ``spec`` is a
    directory): e.g. "efficientnet_lite0 with its pretrained imagenet weights (1000 classes)", "lenet5 with random
    weights (untrained: its outputs mean nothing yet)", "checkpoint runs/lenet: lenet5 trained on 10 classes
    ('T-shirt/top', 'Trouser', ...)". Plain text (escape it for HTML)."""
    card = getattr(model, "cnnlab", None)
    if card is None:
        return f"{type(model).__name__} (no model card)"
    classes = card.classes or []
    shown = ", ".join(repr(c) for c in classes[:3]) + (", ..." if len(classes) > 3 else "")
    size = "x".join(map(str, card.input_size))
    if card.weights:
        return f"{card.name} with its pretrained {card.weights} weights ({len(classes)} classes, input {size})"
    if os.path.isdir(str(spec)):
        from cnnlab.models import read_checkpoint_meta

        extra = read_checkpoint_meta(spec).get("extra") or {}
        how = "transferred from " + str(extra["transfer"].get("source")) if "transfer" in extra else "trained"
        what = f"{len(classes)} classes ({shown})" if classes else f"{card.kwargs.get('num_classes')} classes"
        return f"checkpoint {spec}: {card.name} {how} on {what}, input {size}"
    return (f"{card.name} with random weights (untrained: its outputs mean nothing yet; "
            f"{card.kwargs.get('num_classes')} outputs, input {size})")


def is_trained(model: nn.Module) -> bool:
    """Whether the model's weights were learned (pretrained or a checkpoint), as far as its card says."""
    card = getattr(model, "cnnlab", None)
    return card is not None and (card.weights is not None or card.classes is not None)


@dataclass
class DemoResult:
    path: Path
    predictions: dict[str, list]
    timings: dict[str, float]


def register_section(name: str, *, order: int) -> Callable:
    """Decorator adding a demo section; sections are rendered by increasing ``order``."""
    return DEMO_SECTIONS.register(name, order=order)


def _import_sections() -> None:
    pkg = importlib.import_module("cnnlab.report")
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("_section_"):
            importlib.import_module(f"cnnlab.report.{m.name}")


def section_names() -> list[str]:
    """Registered demo sections in report order."""
    _import_sections()
    return sorted(DEMO_SECTIONS.names(), key=lambda n: DEMO_SECTIONS.info(n)["order"])


def run_demo(out_dir: str | os.PathLike = "cnnlab-demo", *, model: str = "efficientnet_lite0",
             images: list[str] | None = None, sections: list[str] | None = None,
             device: str = "cpu") -> DemoResult:
    """Run the main job and write ``out_dir/report.html``.

    Args:
        out_dir: output directory (created).
        model: registry name or checkpoint (default: the pretrained EfficientNet-Lite0).
        images: sample photo names or image paths (default: the seven sample photos).
        sections: demo section names to include (default: all, see :func:`section_names`).
    """
    from cnnlab import data, models

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = section_names()
    if sections is not None:
        for s in sections:
            DEMO_SECTIONS.lookup(s)
        names = [n for n in names if n in sections]
    imgs = {}
    for spec in images or list(DEFAULT_IMAGES):
        key = Path(spec).stem if (os.sep in spec or "." in spec) else spec
        imgs[key] = data.sample_image(spec) if spec in data.sample_names() else data.image_from_spec(spec)
    net = models.load(model, map_location=device)
    ctx = DemoContext(model=net, model_name=model, images=imgs, out_dir=out, device=device)
    report = Report(f"cnnlab demo: {model}", subtitle=f"{ctx.description}; {len(imgs)} images; sections: "
                    f"{', '.join(names)}")
    timings = {}
    for n in names:
        t0 = time.perf_counter()
        report.add(DEMO_SECTIONS.lookup(n)(ctx))
        timings[n] = time.perf_counter() - t0
    path = report.write(out / "report.html")
    return DemoResult(path=path, predictions=ctx.cache.get("predictions", {}), timings=timings)
