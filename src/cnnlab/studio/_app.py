"""``create_app`` and ``serve``: the FastAPI app (page, static files, the core JSON API, the panels' routes),
its error handling and its guards.

Errors: every error is a JSON object ``{"error": "one line"}``. ``ValueError`` / ``TypeError`` from cnnlab (bad
input, named by the capability's own checks) -> 422; the studio's own errors carry their status (404 unknown
model / image / job, 413 too large, 415 wrong body type, 400 malformed body); anything else is a bug -> 500 with
a one-line message, the traceback in the server log, never in the response.

Guards: the server binds 127.0.0.1 unless told otherwise; requests whose ``Host`` is not the server's own are
refused (DNS rebinding), so are state-changing requests from another ``Origin`` (a web page posting to the
studio); responses carry a strict Content-Security-Policy (the page loads only its own scripts, no CDN).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import warnings
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cnnlab.studio._jobs import TERMINAL
from cnnlab.studio._panels import Panel, import_panels, static_text
from cnnlab.studio._params import StudioError, one_line
from cnnlab.studio._studio import (
    LOOPBACK_HOSTS,
    Studio,
    StudioConfig,
    blocking,
    params_of,
    png_bytes,
    png_uri,
)

log = logging.getLogger("cnnlab.studio")

CSP = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def _route_class():
    """An ``APIRoute`` whose handler turns an unexpected exception into the one-line 500 (logged with its
    traceback) instead of letting it reach the server's error middleware."""
    passthrough = (StudioError, ValueError, TypeError, HTTPException, StarletteHTTPException, RequestValidationError)

    class StudioRoute(APIRoute):
        def get_route_handler(self):
            handler = super().get_route_handler()

            async def guarded(request):
                try:
                    return await handler(request)
                except passthrough:
                    raise
                except Exception as exc:  # noqa: BLE001 - a bug: one line out, the traceback in the log
                    log.exception("internal error on %s %s", request.method, request.url.path)
                    return JSONResponse({"error": f"internal error: {type(exc).__name__}: {one_line(exc)} (the "
                                                  "traceback is in the server log)"}, status_code=500)

            return guarded

    return StudioRoute


def studio_router():
    """An ``APIRouter`` for a panel's routes, with the studio's error handling (see :func:`_route_class`)."""
    return APIRouter(route_class=_route_class())


class _Guard:
    """Pure ASGI middleware: refuses cross-origin state-changing requests and adds the security headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
            from urllib.parse import urlsplit

            if urlsplit(origin).netloc != headers.get("host", ""):
                await _send_json(send, 403, {"error": f"cross-origin request from {origin[:80]!r} refused"})
                return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and origin == "null":
            await _send_json(send, 403, {"error": "cross-origin request from an opaque origin refused"})
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_json(send: Any, status: int, doc: dict) -> None:
    body = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _page(panels: list[Panel]) -> str:
    from html import escape

    tabs = "\n".join(f'<button class="tab" role="tab" data-panel="{p.name}" aria-controls="panel-{p.name}">'
                     f'{escape(p.title)}</button>' for p in panels)
    sections = "\n".join(f'<section class="panel" id="panel-{p.name}" role="tabpanel" hidden>\n{p.fragment()}\n'
                         "</section>" for p in panels)
    scripts = "\n".join(f'<script src="/static/{p.script_file}"></script>' for p in panels)
    return (static_text("index.html").replace("<!--TABS-->", tabs).replace("<!--PANELS-->", sections)
            .replace("<!--SCRIPTS-->", scripts))


def create_app(runs_dir: str | None = None, *, config: StudioConfig | None = None, **settings: Any) -> FastAPI:
    """The studio as a FastAPI app.

    Args:
        runs_dir: folder scanned for checkpoints, offered as ``run:ID`` (see :class:`StudioConfig`).
        config: all settings; ``settings`` override single ones (``max_upload_bytes=...``).

    Returns:
        A ``fastapi.FastAPI``; ``app.state.studio`` is its :class:`Studio`. Its temporary upload folder and job
        threads are released when the app shuts down (or when the studio object is closed).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app(), base_url="http://127.0.0.1")
        >>> client.post("/api/predict", json={"model": "efficientnet_lite0", "sample": "coffee"}).json()["topk"][0]
        {'class': 'espresso', 'index': 967, 'prob': 0.951745}
    """
    config = (config or StudioConfig()).replace(**settings) if settings else (config or StudioConfig())
    if runs_dir is not None:
        config = config.replace(runs_dir=str(runs_dir))
    studio = Studio(config)
    panels = import_panels()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            studio.close()

    app = FastAPI(title="cnnlab studio", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.studio = studio
    app.state.panels = panels

    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, exc: StudioError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": one_line(exc)}, status_code=422)

    app.add_exception_handler(ValueError, _bad_input)
    app.add_exception_handler(TypeError, _bad_input)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:  # outside a route: still one line
        log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {one_line(exc)}"}, status_code=500)

    page = _page(panels)
    router = studio_router()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @router.get("/api/health")
    async def health() -> dict:
        from cnnlab import __version__

        return {"status": "ok", "version": __version__, "device": studio.device,
                "panels": [p.name for p in panels], "loaded_models": studio.models.loaded_names()}

    @router.get("/api/panels")
    async def list_panels() -> dict:
        return {"panels": [p.to_json() for p in panels]}

    @router.get("/api/models")
    async def list_models() -> dict:
        entries = await blocking(studio.models.catalog)
        return {"models": [e.to_json() for e in entries], "default": studio.default_model()}

    @router.get("/api/models/{name:path}")
    async def model_details(name: str) -> dict:
        return await blocking(_model_details, studio, name)

    @router.get("/api/samples")
    async def samples() -> dict:
        from cnnlab import data

        return {"samples": data.sample_names()}

    @router.post("/api/images")
    async def upload(request: Request) -> dict:
        params = await params_of(request)
        if params.upload is None:
            raise ValueError("no file: send multipart/form-data with a file field")
        stored = await blocking(studio.images.add, params.upload)
        return {**stored.to_json(), "preview": png_uri(stored.tensor, max_side=512)}

    @router.get("/api/images/{ref}/preview")
    async def preview(ref: str, max_side: int = 512) -> Response:
        from cnnlab._checks import check_int

        check_int("max_side", max_side, 16, 2048)
        stored = await blocking(studio.images.get, ref)
        data = await blocking(png_bytes, stored.tensor, max_side=max_side)
        return Response(data, media_type="image/png", headers={"cache-control": "max-age=3600"})

    @router.get("/api/jobs")
    async def list_jobs() -> dict:
        return {"jobs": [j.to_json(result=False) for j in studio.jobs.list()]}

    @router.get("/api/jobs/{job_id}")
    async def get_job(job_id: str) -> dict:
        return studio.jobs.get(job_id).to_json()

    @router.delete("/api/jobs/{job_id}")
    async def cancel_job(job_id: str) -> dict:
        return studio.jobs.cancel(job_id).to_json(result=False)

    @router.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = studio.jobs.get(job_id)

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while True:
                if job.version != seen:
                    doc = job.to_json(result=True)
                    seen = doc["version"]
                    yield f"data: {json.dumps(doc)}\n\n"
                    if doc["status"] in TERMINAL:
                        return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    app.include_router(router)
    for p in panels:
        app.include_router(p.router)
    app.mount("/static", StaticFiles(packages=[("cnnlab.studio", "static")]), name="static")
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))
    app.add_middleware(_Guard)
    return app


def _model_details(studio: Studio, name: str) -> dict[str, Any]:
    from cnnlab import explain, models
    from cnnlab.studio._studio import num_classes

    loaded = studio.models.get(name)
    with loaded.use() as model:
        card = models.card_of(model)
        norm = getattr(model, "normalize", None)
        mean = getattr(norm, "mean", None)
        std = getattr(norm, "std", None)
        c, h, w = card.input_size
        resize = card.resize_size if card.resize_size is not None else [h, w]
        pre = {"resize": resize, "crop": [h, w], "interpolation": card.interpolation, "channels": c,
               "mean": mean.flatten().tolist() if mean is not None else None,
               "std": std.flatten().tolist() if std is not None else None}
        if isinstance(resize, int):
            text = f"resize the shorter side to {resize} ({card.interpolation}), centre-crop {h}x{w}"
        else:
            text = f"resize to {h}x{w} ({card.interpolation})"
        text += ", grey" if c == 1 else ", RGB"
        if pre["mean"] is not None:
            text += (f", then inside the network (x - {_short(pre['mean'])}) / {_short(pre['std'])} on [0, 1] "
                     "pixels")
        pre["text"] = text
        methods = []
        for m in explain.names():
            applies = not (m == "cam" and card.pool is None)
            methods.append({"name": m, "kind": explain.METHODS.info(m)["kind"], "applies": applies})
        return {**loaded.entry.to_json(), "weights": card.weights, "classes": card.classes,
                "num_classes": num_classes(model), "input_size": list(card.input_size), "preprocessing": pre,
                "feature_layers": [{"module": f.module, "channels": f.channels, "stride": f.stride}
                                   for f in card.features],
                "classifier": card.classifier, "pool": card.pool, "methods": methods}


def _short(values: list[float]) -> str:
    vals = [round(v, 3) for v in values]
    return str(vals[0]) if len(set(vals)) == 1 else str(vals)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def studio_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 8000, runs_dir: str | None = None, *,
          config: StudioConfig | None = None, log_level: str = "info") -> None:
    """Start the studio server and block until it is stopped (Ctrl-C).

    Binds ``host`` (default 127.0.0.1: this machine only); another host gets a ``UserWarning`` (anyone who can
    reach it can use the studio, which has no login). A port already in use raises ``OSError`` before anything
    loads.
    """
    import uvicorn

    from cnnlab._checks import check_int

    check_int("port", port, 1, 65535)
    config = config or StudioConfig()
    if not is_loopback(host):
        warnings.warn(f"the studio is listening on {host}, not on this machine only: anyone who can reach "
                      f"{studio_url(host, port)} can use it (it has no login)", UserWarning, stacklevel=2)
        wildcard = host in ("0.0.0.0", "::", "[::]", "")
        config = config.replace(allowed_hosts=("*",) if wildcard else (*LOOPBACK_HOSTS, host))
    _check_port_free(host, port)
    app = create_app(runs_dir, config=config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=3)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (pick another with --port)") from None
