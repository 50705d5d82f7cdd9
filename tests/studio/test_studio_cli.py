"""``cnnlab studio``: prints its URL, serves, warns off loopback, stops on Ctrl-C; bad options exit 2."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from cnnlab.cli import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_bad_options_exit_2_with_one_line(capsys, tmp_path):
    assert main(["studio", "--port", "0"]) == 2
    assert "--port must be an integer in [1, 65535], got 0" in capsys.readouterr().err
    assert main(["studio", "--runs", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert main(["studio", "--port", str(s.getsockname()[1])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot listen on 127.0.0.1" in err[0]


def test_studio_serves_and_stops_on_ctrl_c(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "studio", "--host", "0.0.0.0", "--port", str(port),
                             "--runs", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"cnnlab studio: http://127.0.0.1:{port}/ (Ctrl-C stops it)"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        assert r.json()["status"] == "ok"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "warning: listening on 0.0.0.0" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
