"""The README's tours run, top to bottom, on a fresh checkout: every `cnnlab ...` line of the command-line tour goes
through `cnnlab.cli.main` in an empty directory (so earlier lines must create what later lines use), and the Python
tour is executed. A line may name smaller settings for this test in its comment as `[test: ARGS]`; they are
appended to its arguments (and nothing else is changed), so the README can never drift from what runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(section: str, lang: str) -> str:
    text = README.read_text()
    start = text.index(section)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(text, start)
    assert m is not None, f"no ```{lang} block after {section!r}"
    return m.group(1)


def tour_commands() -> list[list[str]]:
    """The argv of every command line of the command-line tour, with its `[test: ...]` settings appended."""
    out = []
    for line in _block("## A short tour of the command line", "bash").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        command, _, comment = line.partition("  #")
        argv = shlex.split(command)
        assert argv[0] == "cnnlab", f"the tour runs cnnlab commands only, got {line!r}"
        extra = re.search(r"\[test: ([^\]]+)\]", comment)
        out.append(argv[1:] + (shlex.split(extra.group(1)) if extra else []))
    return out


def test_the_tour_has_commands_and_names_what_it_creates():
    cmds = tour_commands()
    assert len(cmds) >= 8
    # every path a command reads was written by an earlier line: checked for real by running them below
    assert any(c[:1] == ["train"] for c in cmds) and any(c[:1] == ["demo"] for c in cmds)


def test_the_command_line_tour_runs_top_to_bottom(tmp_path, monkeypatch, capsys):
    from cnnlab.cli import main

    monkeypatch.chdir(tmp_path)  # a fresh checkout: nothing but what the tour itself writes
    for argv in tour_commands():
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"`cnnlab {shlex.join(argv)}` exited {code}: {captured.err.strip()}"
        assert "Traceback" not in captured.err
    assert (tmp_path / "runs" / "lenet" / "model.json").is_file()
    assert (tmp_path / "runs" / "attack" / "coffee_adversarial.png").is_file()
    assert "<h2>Predictions</h2>" in (tmp_path / "cnnlab-demo" / "report.html").read_text()


def test_the_python_tour_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _block("## A short tour of the Python API", "python")
    namespace: dict = {}
    exec(compile(code, str(README) + " (Python tour)", "exec"), namespace)  # noqa: S102 - the README's own code
    out = capsys.readouterr().out
    assert "tiger cat" in out or "tabby" in out or "Egyptian cat" in out
    assert re.search(r"\d+\.\d% after \d+ steps", out)
    assert namespace["cfg"].lr == 0.2 and namespace["cfg"].epochs == 1


@pytest.mark.parametrize("line", [c for c in tour_commands() if c[:1] == ["train"]], ids=lambda c: " ".join(c))
def test_tour_training_lines_are_tiny(line):
    """The tour's training lines must stay cheap enough to run on a fresh clone in seconds."""
    assert ("--limit" in line and "--epochs" in line) or "digits" in line
