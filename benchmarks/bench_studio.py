"""bench_studio: the studio under load, against a real server on localhost (``python -m cnnlab studio`` in a
subprocess, so the client's threads do not share the server's interpreter).

1. Concurrency: N concurrent ``POST /api/predict`` requests (default 100, EfficientNet-Lite0, one sample photo)
   sent at once: errors, client-side latency p50 / p95 / max, wall time. Floors measured in the same run: one
   request alone (median), the model's forward alone in this process (``cnnlab.models.predict``, median), and an
   HTTP round trip that computes nothing (``GET /api/health``). Requests on one model are serialised by its lock,
   so the last of N answers no sooner than N forwards: the wall time is compared with N x the forward.
2. Memory: M explanation requests (default 1,000; Grad-CAM + saliency on ``resnet_small`` at 28x28, a small model
   so that 1,000 requests take minutes, not hours; 4 clients at once), run first, on the fresh server: its
   resident memory (VmRSS from /proc) after a warm-up of 100 requests, every 100 requests, and at the end.

Prints a fixed-width table and writes ``benchmarks/results/studio.json``. Absolute times mean something only on
a quiet machine; the ratios come from the same run.

    python benchmarks/bench_studio.py [--requests 100] [--explains 1000] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc")


def start_server(port: int, threads: int | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "studio", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "cnnlab studio: http://" not in line:
        proc.kill()
        raise RuntimeError(f"the studio did not start: {line!r}")
    # keep reading its output (the access log): a full pipe would stop the server at its next log line
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the studio did not answer /api/health")
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def concurrent_predicts(url: str, body: dict, n: int) -> dict:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=3600, limits=limits) as client:
        async def one() -> tuple[float, bool]:
            t0 = time.perf_counter()
            try:
                r = await client.post("/api/predict", json=body)
                ok = r.status_code == 200 and r.json()["topk"][0]["class"] == expected
            except httpx.HTTPError:
                ok = False
            return time.perf_counter() - t0, ok

        expected = (await client.post("/api/predict", json=body)).json()["topk"][0]["class"]
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - t0
    lat = [t for t, _ in results]
    return {"n": n, "errors": sum(not ok for _, ok in results), "wall_s": wall, "p50_s": percentile(lat, 50),
            "p95_s": percentile(lat, 95), "max_s": max(lat), "top1": expected}


async def explain_load(url: str, pid: int, body: dict, n: int, clients: int = 4) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=3600) as client:
        async def run(count: int) -> int:
            errors = 0
            queue = list(range(count))

            async def worker() -> None:
                nonlocal errors
                while queue:
                    queue.pop()
                    r = await client.post("/api/explain", json=body)
                    errors += r.status_code != 200
            await asyncio.gather(*(worker() for _ in range(clients)))
            return errors

        await run(100)  # warm-up: the model loads, caches and allocator pools fill, the first PNGs are encoded
        before = rss_mb(pid)
        trace, errors, done = [(0, before)], 0, 0
        t0 = time.perf_counter()
        while done < n:
            step = min(100, n - done)
            errors += await run(step)
            done += step
            trace.append((done, rss_mb(pid)))
            print(f"  {done} explanations, server RSS {trace[-1][1]:.0f} MB", file=sys.stderr, flush=True)
        wall = time.perf_counter() - t0
    after = trace[-1][1]
    return {"n": n, "clients": clients, "errors": errors, "rss_before_mb": before, "rss_after_mb": after,
            "rss_max_mb": max(m for _, m in trace), "growth_mb": after - before, "trace": trace,
            "per_request_s": wall / n}


def forward_floor(model_name: str, sample: str, repeats: int = 10) -> float:
    from cnnlab import data, models

    net = models.load(model_name)
    x = models.preprocess(net, data.sample_image(sample))[None]
    models.predict(net, x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        models.predict(net, x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100, help="concurrent predict requests")
    ap.add_argument("--explains", type=int, default=1000, help="explanation requests for the memory check")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--explain-model", default="resnet_small")
    ap.add_argument("--sample", default="chelsea")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the server (OMP_NUM_THREADS)")
    ap.add_argument("--quick", action="store_true", help="20 requests, 100 explanations")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "studio.json"))
    args = ap.parse_args()
    if args.quick:
        args.requests, args.explains = 20, 100
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(port, args.threads)
    try:
        body = {"model": args.model, "sample": args.sample}
        with httpx.Client(base_url=url, timeout=600) as c:
            c.post("/api/predict", json=body)  # load the model
            single = []
            for _ in range(10):
                t0 = time.perf_counter()
                c.post("/api/predict", json=body).raise_for_status()
                single.append(time.perf_counter() - t0)
            health = []
            for _ in range(20):
                t0 = time.perf_counter()
                c.get("/api/health").raise_for_status()
                health.append(time.perf_counter() - t0)
        forward = forward_floor(args.model, args.sample)
        print(f"floors measured; {args.explains} explanations...", file=sys.stderr, flush=True)
        ebody = {"model": args.explain_model, "sample": args.sample, "methods": ["gradcam", "saliency"]}
        mem = asyncio.run(explain_load(url, proc.pid, ebody, args.explains))
        print(f"{args.requests} concurrent predicts...", file=sys.stderr, flush=True)
        conc = asyncio.run(concurrent_predicts(url, body, args.requests))
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
    single_s, health_s = statistics.median(single), statistics.median(health)
    doc = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg": os.getloadavg()},
           "settings": vars(args), "predict_alone_s": single_s, "forward_in_process_s": forward,
           "http_round_trip_s": health_s, "concurrent": conc, "explain_memory": mem,
           "wall_over_n_forwards": conc["wall_s"] / (args.requests * forward)}
    rows = [
        ("one predict request alone (median)", f"{1000 * single_s:8.1f} ms"),
        ("  forward in process, no HTTP (floor)", f"{1000 * forward:8.1f} ms"),
        ("  HTTP round trip, no model (floor)", f"{1000 * health_s:8.1f} ms"),
        (f"{args.requests} concurrent predicts: errors", f"{conc['errors']:8d}"),
        ("  latency p50", f"{1000 * conc['p50_s']:8.1f} ms"),
        ("  latency p95", f"{1000 * conc['p95_s']:8.1f} ms"),
        ("  latency max", f"{1000 * conc['max_s']:8.1f} ms"),
        ("  wall time", f"{conc['wall_s']:8.2f} s"),
        (f"  wall / ({args.requests} x forward)", f"{doc['wall_over_n_forwards']:8.2f} x"),
        (f"{args.explains} explain requests ({args.explain_model}): errors", f"{mem['errors']:8d}"),
        ("  server RSS after warm-up", f"{mem['rss_before_mb']:8.1f} MB"),
        ("  server RSS at the end", f"{mem['rss_after_mb']:8.1f} MB"),
        ("  growth", f"{mem['growth_mb']:+8.1f} MB"),
        ("  per request (4 clients)", f"{1000 * mem['per_request_s']:8.1f} ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"bench_studio: {args.model} on sample:{args.sample}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("RSS trace (requests, MB): " + ", ".join(f"{n}: {m:.0f}" for n, m in mem["trace"]))
    out = Path(args.out)
    from cnnlab._io import atomic_write_json

    atomic_write_json(out, doc)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
