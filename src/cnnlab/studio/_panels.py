"""The panel registry: each tab of the studio is a module ``studio/_panel_<name>.py``, found by name.

A panel module defines its API routes on a FastAPI ``APIRouter`` and registers itself::

    router = APIRouter()

    @router.post("/api/detect")
    async def detect(request: Request) -> dict: ...

    PANEL = register_panel("detect", title="Detect", order=50, router=router)

Its page fragment and script are the static files ``static/panels/<name>.html`` and ``static/panels/<name>.js``
(the fragment is placed in the page inside ``<section id="panel-<name>">``; the script calls
``Studio.panel("<name>", {...})``). :func:`import_panels` imports every ``_panel_*`` module, so adding a panel
touches no other file. The recipe is in ``docs/studio.md``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cnnlab._registry import Registry

PANELS: Registry[Panel] = Registry("studio panel")


@dataclass(frozen=True)
class Panel:
    """One tab of the studio: its name, the tab's title, its place (``order``), its API routes (an
    ``APIRouter``) and its static files ``panels/<name>.html`` and ``panels/<name>.js``."""

    name: str
    title: str
    order: int
    router: Any
    description: str = ""

    @property
    def fragment_file(self) -> str:
        return f"panels/{self.name}.html"

    @property
    def script_file(self) -> str:
        return f"panels/{self.name}.js"

    def fragment(self) -> str:
        """The panel's HTML fragment."""
        return static_text(self.fragment_file)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "order": self.order, "description": self.description,
                "script": f"/static/{self.script_file}"}

    def __repr__(self) -> str:
        return f"Panel({self.name!r}, order={self.order})"


def register_panel(name: str, *, title: str, order: int, router: Any, description: str = "") -> Panel:
    """Register the panel ``name``; its static files must exist (a missing one fails here, at import)."""
    panel = Panel(name, title, order, router, description)
    for f in (panel.fragment_file, panel.script_file):
        if not static_path(f).is_file():
            raise ValueError(f"panel {name!r} needs the static file cnnlab/studio/static/{f}")
    PANELS.register(name, order=order)(panel)
    return panel


def static_path(name: str) -> Any:
    """A file of the package's ``static`` folder (a ``Traversable``; works from an installed wheel)."""
    return resources.files("cnnlab.studio").joinpath("static", *name.split("/"))


def static_text(name: str) -> str:
    return static_path(name).read_text(encoding="utf-8")


def import_panels() -> list[Panel]:
    """Import every ``cnnlab.studio._panel_*`` module and return the panels by ``order``."""
    pkg = importlib.import_module("cnnlab.studio")
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("_panel_"):
            importlib.import_module(f"cnnlab.studio.{m.name}")
    return sorted((PANELS.lookup(n) for n in PANELS.names()), key=lambda p: (p.order, p.name))


def panel_names() -> list[str]:
    """The registered panels' names, in page order."""
    return [p.name for p in import_panels()]
