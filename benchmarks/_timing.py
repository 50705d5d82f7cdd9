"""Timing shared by the benchmark scripts: median wall time of a call, synchronising the GPU around it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work on ``device`` (nothing to do on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: str | torch.device = "cpu", repeats: int = 5,
                   warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _native_bf16() -> bool:
    from cnnlab._device import cpu_has_native

    return cpu_has_native(torch.bfloat16)


def machine(device: str | torch.device = "cpu") -> dict:
    """Where a figure was measured, for the JSON beside it (``benchmarks/make_results.py`` prints it with every
    table): CPU model, cores, the 1/5/15-minute load average when it is called (the development machine is
    shared: a load above the core count means the times are inflated; ratios from one run still hold), GPU,
    torch, date."""
    import datetime
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    dev = torch.device(device)
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": [round(x, 1) for x in os.getloadavg()],
            "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None, "torch": torch.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bfloat16": _native_bf16(),
            "date": datetime.date.today().isoformat()}
