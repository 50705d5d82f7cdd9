"""The studio's guards: loopback by default, Host and Origin checks, security headers, the panel registry's
checks, and the job manager's cancellation."""

import inspect
import socket
import threading
import warnings

import pytest

from cnnlab import studio


def test_binds_loopback_by_default_and_warns_otherwise(monkeypatch):
    assert inspect.signature(studio.serve).parameters["host"].default == "127.0.0.1"
    assert studio.is_loopback("127.0.0.1") and studio.is_loopback("localhost") and studio.is_loopback("::1")
    assert not studio.is_loopback("0.0.0.0") and not studio.is_loopback("192.168.1.5")
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        studio.serve("127.0.0.1", _free_port())
    assert seen["host"] == "127.0.0.1" and not [w for w in caught if "listening" in str(w.message)]
    with pytest.warns(UserWarning, match="anyone who can reach"):
        studio.serve("0.0.0.0", _free_port())
    assert seen["host"] == "0.0.0.0" and seen["app"].state.studio.config.allowed_hosts == ("*",)


def test_a_port_in_use_fails_before_anything_loads(monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("should not start"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1"):
            studio.serve("127.0.0.1", s.getsockname()[1])
    with pytest.raises(ValueError, match="port"):
        studio.serve("127.0.0.1", 70000)


def test_host_and_origin_guards_and_headers(client):
    body = {"model": "lenet5", "sample": "camera"}
    assert client.post("/api/predict", json=body).status_code == 200
    assert client.post("/api/predict", json=body, headers={"origin": "http://127.0.0.1"}).status_code == 200
    evil = client.post("/api/predict", json=body, headers={"origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-origin" in evil.json()["error"]
    assert client.post("/api/predict", json=body, headers={"origin": "null"}).status_code == 403
    assert client.post("/api/predict", json=body, headers={"origin": "http://127.0.0.1:9"}).status_code == 403
    assert client.get("/api/models", headers={"host": "rebound.example"}).status_code == 400  # DNS rebinding
    r = client.get("/")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN: not served


def test_panel_registry_finds_every_module_and_checks_its_files():
    from importlib import resources

    names = {p.name for p in studio.import_panels()}
    files = {f.name[len("_panel_"):-3] for f in resources.files("cnnlab.studio").iterdir()
             if f.name.startswith("_panel_") and f.name.endswith(".py")}
    assert names == files and {"predict", "architecture", "explain", "attack"} <= names
    with pytest.raises(ValueError, match="static/panels/nothing-here.html"):
        studio.register_panel("nothing-here", title="X", order=99, router=studio.studio_router())
    with pytest.raises(ValueError, match="already registered"):
        studio.register_panel("predict", title="X", order=99, router=studio.studio_router())


def test_job_manager_cancels_and_reports_errors_in_one_line():
    jobs = studio.JobManager(workers=1)
    started, release = threading.Event(), threading.Event()

    def blocker(job):
        started.set()
        while not release.wait(0.01):
            job.update(0.5, "waiting")
        return {"ok": True}

    try:
        first = jobs.submit("block", blocker)
        queued = jobs.submit("never", lambda job: {"ran": True})
        assert started.wait(10)
        jobs.cancel(queued.id)  # a queued job never starts
        jobs.cancel(first.id)  # a running one stops at its next update
        assert jobs.wait(first.id).status == "cancelled" and jobs.wait(queued.id).status == "cancelled"
        assert queued.result is None

        def bad(job):
            raise ValueError("eps must be in [0, 1], got 5\nmore")

        def bug(job):
            raise KeyError("oops")

        assert jobs.wait(jobs.submit("bad", bad).id).error == "eps must be in [0, 1], got 5"
        assert jobs.wait(jobs.submit("bug", bug).id).error == "internal error: KeyError: oops"
        done = jobs.wait(jobs.submit("ok", lambda job: {"answer": 42}).id)
        assert done.status == "done" and done.result == {"answer": 42} and done.progress == 1.0
    finally:
        release.set()
        jobs.shutdown()


def test_count_forwards_reports_and_removes_its_hook():
    import torch

    from cnnlab import models

    net = models.create("lenet5").eval()
    job = studio.Job("test")
    with studio.count_forwards(net, job, total=4):
        for _ in range(2):
            net(torch.rand(1, 1, 28, 28))
    assert job.progress == 0.5 and "2 of about 4" in job.message
    assert not net._forward_pre_hooks
    job.cancel()
    with pytest.raises(studio.JobCancelled), studio.count_forwards(net, job, total=4):
        net(torch.rand(1, 1, 28, 28))
    assert not net._forward_pre_hooks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_static_file_is_package_data():
    """An installed wheel carries what the page needs: every file under studio/static matches a package-data glob."""
    import re
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    line = re.search(r'^"cnnlab\.studio" = \[(.*)\]$', (root / "pyproject.toml").read_text(), re.M)
    assert line, "pyproject.toml has no package-data for cnnlab.studio"
    globs = [g.split("/") for g in re.findall(r'"([^"]+)"', line.group(1))]
    pkg = root / "src" / "cnnlab" / "studio"
    files = [f.relative_to(pkg).parts for f in (pkg / "static").rglob("*") if f.is_file()]
    assert len(files) >= 11
    for parts in files:
        assert any(len(g) == len(parts) and all(fnmatch(p, q) for p, q in zip(parts, g)) for g in globs), parts
