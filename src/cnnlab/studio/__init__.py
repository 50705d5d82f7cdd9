"""cnnlab studio: a local web app over the public API — predict, look at the architecture and its feature maps and
receptive fields, explain, attack — for any registry model with weights or any checkpoint under ``--runs``, on
the sample photos or the user's own images.

The server calls the same public functions as the CLI (``cnnlab.models``, ``explain``, ``robust``, ``analysis``);
the web layer only reads parameters, holds models and images, and encodes results. Each tab is a panel module
``studio/_panel_<name>.py`` registered in ``PANELS``, found by name (the recipe is in ``docs/studio.md``).

Example:
    >>> from fastapi.testclient import TestClient
    >>> from cnnlab import studio
    >>> client = TestClient(studio.create_app(), base_url="http://127.0.0.1")
    >>> client.post("/api/predict", json={"model": "efficientnet_lite0", "sample": "coffee"}).json()["topk"][0]
    {'class': 'espresso', 'index': 967, 'prob': 0.951745}
"""

from cnnlab.studio._app import create_app, is_loopback, serve, studio_router, studio_url
from cnnlab.studio._images import ImageStore, StoredImage
from cnnlab.studio._jobs import Job, JobCancelled, JobManager, count_forwards
from cnnlab.studio._models import LoadedModel, ModelEntry, ModelStore
from cnnlab.studio._panels import PANELS, Panel, import_panels, panel_names, register_panel
from cnnlab.studio._params import Params, StudioError, Upload
from cnnlab.studio._studio import (
    Studio,
    StudioConfig,
    blocking,
    figure_uri,
    model_input,
    params_of,
    png_bytes,
    png_uri,
    studio_of,
    target_of,
    topk_json,
)

__all__ = [
    "PANELS",
    "ImageStore",
    "Job",
    "JobCancelled",
    "JobManager",
    "LoadedModel",
    "ModelEntry",
    "ModelStore",
    "Panel",
    "Params",
    "StoredImage",
    "Studio",
    "StudioConfig",
    "StudioError",
    "Upload",
    "blocking",
    "count_forwards",
    "create_app",
    "figure_uri",
    "import_panels",
    "is_loopback",
    "model_input",
    "panel_names",
    "params_of",
    "png_bytes",
    "png_uri",
    "register_panel",
    "serve",
    "studio_of",
    "studio_router",
    "studio_url",
    "target_of",
    "topk_json",
]
