"""HTML building blocks: sections, embedded images, the page."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

escape = html.escape

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;
text-align:left;font-size:.9rem}th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem;
width:260px}.card img{max-width:100%;display:block}.bar{background:#4a7bd0;height:.7rem;border-radius:2px}
.barrow{display:flex;align-items:center;gap:.4rem;font-size:.8rem;margin:.15rem 0}
.barlabel{width:120px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.muted{color:#777}
nav a{margin-right:1rem}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4rem .7rem;font-size:.9rem}
.gallery td{padding:.2rem}.gallery img{image-rendering:pixelated}
img.px{image-rendering:pixelated}.wide{width:auto;max-width:100%}
"""


@dataclass
class Section:
    """One part of a report: a title and its HTML body."""

    title: str
    body: str
    anchor: str = ""

    def __post_init__(self) -> None:
        if not self.anchor:
            self.anchor = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


@dataclass
class Report:
    """An HTML page of sections; :meth:`write` produces one self-contained file (images inlined)."""

    title: str
    sections: list[Section] = field(default_factory=list)
    subtitle: str = ""

    def add(self, section: Section) -> None:
        self.sections.append(section)

    def render(self) -> str:
        nav = " ".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in self.sections)
        body = "\n".join(
            f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>\n{s.body}\n</section>' for s in self.sections
        )
        sub = f'<p class="muted">{escape(self.subtitle)}</p>' if self.subtitle else ""
        return (
            f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{escape(self.title)}</h1>{sub}<nav>{nav}</nav>\n{body}\n"
            "</body></html>\n"
        )

    def write(self, path: str | os.PathLike) -> Path:
        from cnnlab._io import atomic_write_bytes

        path = Path(path)
        atomic_write_bytes(path, self.render().encode("utf-8"))
        return path


def _to_uint8_hwc(img: Tensor):
    import numpy as np

    if img.dim() == 2:
        img = img[None]
    if img.dim() != 3:
        raise ValueError(f"expected an image (C, H, W) or (H, W), got shape {tuple(img.shape)}")
    arr = (img.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr)


def save_image(img: Tensor, path: str | os.PathLike, *, min_side: int | None = None) -> Path:
    """Save ``Tensor[C, H, W]`` (or ``[H, W]``) in [0, 1] as a PNG (atomically); ``min_side`` upscales a small
    image with nearest-neighbour as :func:`image_to_data_uri` does."""
    from PIL import Image

    from cnnlab._io import atomic_write_bytes

    pil = Image.fromarray(_to_uint8_hwc(img))
    if min_side and max(pil.size) < min_side:
        factor = max(1, min_side // max(pil.size))
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return atomic_write_bytes(Path(path), buf.getvalue())


def image_to_data_uri(img: Tensor, *, max_side: int | None = 320, min_side: int | None = None) -> str:
    """``Tensor[C, H, W]`` in [0, 1] -> ``data:image/png;base64,...``, downscaled to ``max_side``; an image smaller
    than ``min_side`` is upscaled by the largest whole factor that keeps it within ``min_side`` with
    nearest-neighbour, so a 28x28 input shows as crisp 112x112 pixels, not a blurred thumbnail."""
    from PIL import Image

    pil = Image.fromarray(_to_uint8_hwc(img))
    if max_side and max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side))
    if min_side and max(pil.size) < min_side:
        factor = max(1, min_side // max(pil.size))
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def note(text: str) -> str:
    """A visible note (what a section skipped and why); ``text`` is HTML."""
    return f'<p class="note">{text}</p>'


def figure_to_data_uri(fig) -> str:
    """A matplotlib figure -> PNG data URI (the figure is closed)."""
    from cnnlab._plot import figure_bytes

    return "data:image/png;base64," + base64.b64encode(figure_bytes(fig)).decode()
