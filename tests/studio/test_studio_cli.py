"""``cnnlab studio``: prints its URL, passes its options to serve, warns off loopback; bad options exit 2 (the real
process is started by benchmarks/bench_studio.py; serving is tested on a real uvicorn server in test_studio_jobs)."""

import socket

from cnnlab.cli import main


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


def test_studio_prints_its_url_and_warns_off_loopback(capsys, monkeypatch, tmp_path):
    import cnnlab.studio as studio

    calls = []
    monkeypatch.setattr(studio, "serve", lambda host, port, config: calls.append((host, port, config)))
    assert main(["studio", "--port", "8123", "--runs", str(tmp_path), "--max-upload-mb", "2"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "cnnlab studio: http://127.0.0.1:8123/ (Ctrl-C stops it)" and out.err == ""
    host, port, config = calls[-1]
    assert (host, port, config.runs_dir, config.max_upload_bytes) == ("127.0.0.1", 8123, str(tmp_path), 2 * 2**20)
    assert main(["studio", "--host", "0.0.0.0"]) == 0
    out = capsys.readouterr()
    assert "warning: listening on 0.0.0.0" in out.err and "http://127.0.0.1:8000/" in out.out
