"""Long jobs (one-pixel attacks, sanity checks, style transfer): run off the request thread, report progress,
can be cancelled.

A job is a function ``fn(job) -> dict`` (its JSON result) run by a small pool of worker threads. It reports with
:meth:`Job.update` and stops at the next update after :meth:`Job.cancel` (``update`` raises
:class:`JobCancelled`). A job that runs a cnnlab function without a progress callback counts the model's forward
passes instead: :func:`count_forwards` puts a forward hook on the job's private copy of the model, inside a
``with`` block that removes it, and the hook both reports progress and stops a cancelled job at its next
forward pass. Clients follow a job by polling ``GET /api/jobs/ID`` or on the server-sent event stream
``GET /api/jobs/ID/events``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from torch import nn

from cnnlab.studio._params import not_found, one_line

log = logging.getLogger("cnnlab.studio")

TERMINAL = ("done", "error", "cancelled")


class JobCancelled(Exception):
    """Raised inside a job by :meth:`Job.update` once the job has been cancelled."""


class Job:
    """One long job: its state (``queued``, ``running``, ``done``, ``error``, ``cancelled``), progress in [0, 1],
    a message, and its result or one-line error. ``version`` grows at every change (the event stream's clock)."""

    def __init__(self, kind: str, params: dict[str, Any] | None = None) -> None:
        self.id = secrets.token_hex(6)
        self.kind = kind
        self.params = params or {}
        self.status = "queued"
        self.progress = 0.0
        self.message = "waiting for a worker"
        self.result: dict[str, Any] | None = None
        self.partial: dict[str, Any] | None = None  # what a job shows while it runs (style transfer's snapshot)
        self.error: str | None = None
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.version = 0
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Job({self.id!r}, {self.kind!r}, {self.status}, {self.progress:.0%})"

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the job to stop; a queued job never starts, a running one stops at its next update."""
        self._cancel.set()
        with self._lock:
            if self.status == "queued":
                self._finish("cancelled", "cancelled before it started")

    def update(self, progress: float | None = None, message: str | None = None, *,
               partial: dict[str, Any] | None = None) -> None:
        """Report progress (a fraction in [0, 1]), a message and, optionally, a ``partial`` result shown while the
        job runs (it replaces the previous one); raises :class:`JobCancelled` once cancelled."""
        if self._cancel.is_set():
            raise JobCancelled()
        with self._lock:
            if progress is not None:
                self.progress = min(max(float(progress), 0.0), 1.0)
            if message is not None:
                self.message = message
            if partial is not None:
                self.partial = partial
            self.version += 1

    def _start(self) -> bool:
        with self._lock:
            if self.status != "queued":
                return False
            self.status, self.started, self.message = "running", time.time(), "started"
            self.version += 1
            return True

    def _finish(self, status: str, message: str, result: dict[str, Any] | None = None,
                error: str | None = None) -> None:
        # caller holds _lock
        self.status, self.message, self.result, self.error = status, message, result, error
        self.finished = time.time()
        if status == "done":
            self.progress = 1.0
        self.version += 1
        self._done.set()

    def to_json(self, *, result: bool = True) -> dict[str, Any]:
        with self._lock:
            doc = {"id": self.id, "kind": self.kind, "status": self.status, "progress": round(self.progress, 4),
                   "message": self.message, "error": self.error, "created": self.created, "started": self.started,
                   "finished": self.finished, "version": self.version}
            if result:
                doc["result"] = self.result
                doc["partial"] = self.partial if self.status not in TERMINAL else None
        return doc


class JobManager:
    """A pool of ``workers`` threads running jobs; the last ``keep`` jobs are remembered.

    Example:
        >>> jobs = JobManager(workers=1)
        >>> job = jobs.submit("demo", lambda job: {"answer": 42})
        >>> jobs.wait(job.id).result
        {'answer': 42}
    """

    def __init__(self, *, workers: int = 2, keep: int = 64) -> None:
        self.workers = workers
        self.keep = keep
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnnlab-studio-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JobManager(workers={self.workers}, jobs={len(self._jobs)})"

    def submit(self, kind: str, fn: Callable[[Job], dict[str, Any]], params: dict[str, Any] | None = None) -> Job:
        """Queue ``fn(job)``; its returned dict becomes the job's result."""
        job = Job(kind, params)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest = next((k for k, j in self._jobs.items() if j.status in TERMINAL), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        self._pool.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: Callable[[Job], dict[str, Any]]) -> None:
        if not job._start():
            return
        try:
            result = fn(job)
        except JobCancelled:
            with job._lock:
                job._finish("cancelled", "cancelled")
        except (ValueError, TypeError) as exc:  # bad input found by the capability: the job's answer
            with job._lock:
                job._finish("error", "failed", error=one_line(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: logged with its traceback, one line to the client
            log.exception("job %s (%s) failed", job.id, job.kind)
            with job._lock:
                job._finish("error", "failed", error=f"internal error: {type(exc).__name__}: {one_line(exc)}")
        else:
            with job._lock:
                if job.cancelled:
                    job._finish("cancelled", "cancelled")
                else:
                    job._finish("done", "done", result=result)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"unknown job {job_id[:40]!r}")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel()
        return job

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job ends (for scripts and tests)."""
        job = self.get(job_id)
        if not job._done.wait(timeout):
            raise TimeoutError(f"job {job_id} still {job.status} after {timeout} s")
        return job

    def shutdown(self) -> None:
        """Cancel every job and stop the workers (running jobs stop at their next update)."""
        for job in self.list():
            job.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def count_forwards(model: nn.Module, job: Job, total: int, message: str = "forward pass") -> Iterator[None]:
    """Inside the block every forward pass of ``model`` (the job's private copy) reports
    ``progress = passes / total`` (kept below 1 until the job ends) and stops a cancelled job there.

    The hook is removed on exit, also when the block raises. A model copied inside the block (the sanity check
    randomises a copy) carries the hook with it, so its passes count too.
    """
    count = [0]

    def hook(module: nn.Module, args: Any) -> None:
        count[0] += 1
        job.update(min(count[0] / max(total, 1), 0.99), f"{message} {count[0]} of about {total}")

    handle = model.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
