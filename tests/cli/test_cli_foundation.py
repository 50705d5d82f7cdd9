"""The CLI: models, predict, demo; bad input gives one line on stderr and exit code 2."""

import json
import subprocess
import sys

import pytest

from cnnlab.cli import main


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0" in out and "4,652,008" in out and "imagenet" in out


def test_predict_json_puts_a_cat_first(capsys):
    assert main(["predict", "sample:chelsea", "--topk", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc[0]["image"] == "sample:chelsea" and len(doc[0]["topk"]) == 3
    top = doc[0]["topk"][0]
    assert top["class"] in {"tiger cat", "Egyptian cat", "tabby"} and 281 <= top["index"] <= 285
    probs = [t["prob"] for t in doc[0]["topk"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1


def test_predict_a_file(tmp_path, capsys):
    from cnnlab import data
    from cnnlab.report import save_image

    path = save_image(data.sample_image("coffee"), tmp_path / "coffee.png")
    assert main(["predict", str(path), "--topk", "1"]) == 0
    assert "espresso" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "missing.png"], "no such image file"),
        (["predict", "sample:eagle"], "unknown sample image"),
        (["predict", "sample:chelsea", "--model", "resnt50"], "unknown model"),
        (["predict", "sample:chelsea", "--topk", "0"], "argument --topk: must be a positive integer, got '0'"),
        (["predict", "sample:chelsea", "--topk", "x"], "argument --topk: must be an integer, got 'x'"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_input_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_exit_code_and_help():
    r = subprocess.run([sys.executable, "-m", "cnnlab", "predict", "nothing.jpg"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "cnnlab", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "predict" in r.stdout and "demo" in r.stdout


def test_demo_writes_self_contained_report(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--sections", "predictions",
                 "--images", "chelsea", "coffee"]) == 0
    out = capsys.readouterr().out
    html = (tmp_path / "report.html").read_text()
    assert "espresso" in out and f"report: {tmp_path / 'report.html'}" in out
    assert html.count("data:image/png;base64,") >= 2 and "src=\"http" not in html
    assert "Predictions" in html and "espresso" in html


def test_an_unexpected_error_is_one_line_with_a_debug_hint(monkeypatch, capsys):
    from cnnlab import models

    def boom(*a, **k):
        raise RuntimeError("something internal broke\nsecond line")

    monkeypatch.setattr(models, "predict", boom)
    assert main(["predict", "sample:chelsea", "--model", "lenet5"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("cnnlab predict: error: RuntimeError: something internal broke "
                           "(rerun with --debug to see the traceback)")
    with pytest.raises(RuntimeError, match="something internal broke"):  # --debug lets the traceback through
        main(["--debug", "predict", "sample:chelsea", "--model", "lenet5"])


def test_every_option_of_every_command_shows_its_default():
    import argparse

    from cnnlab.cli import build_parser

    def parsers(p):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    yield sub
                    yield from parsers(sub)

    missing = []
    for sub in parsers(build_parser()):
        fmt = sub._get_formatter()
        for a in sub._actions:
            shown = a.default not in (None, False, argparse.SUPPRESS) and a.option_strings
            if shown and not isinstance(a, argparse._HelpAction) and "(default" not in fmt._get_help_string(a):
                missing.append(f"{sub.prog} {a.option_strings[0]}")
    assert not missing, missing


def test_help_text_shows_a_default(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "(default: 5)" in capsys.readouterr().out
