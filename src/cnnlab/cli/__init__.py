"""The ``cnnlab`` command: a thin layer over the Python API.

Each sub-command lives in a module ``cli/_cmd_<name>.py`` that defines ``add_parser(subparsers)`` and sets
``func`` on its parser; the function calls one public API function and formats its result. Modules are found
by name, so adding a command touches no other file. Heavy imports (torch) happen inside ``func`` so that
``cnnlab --help`` stays fast. ``--help`` shows every option's default.

Errors have one format for every command: one line on stderr, ``cnnlab COMMAND: error: MESSAGE``.
Bad input (``ValueError``, ``TypeError``, ``OSError`` and friends, argparse errors) exits with code 2. Any other
exception is a bug: it is printed the same way, with a hint to rerun with ``--debug`` (which shows the
traceback), and exits with code 1. A traceback never reaches a user by default.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser", "UsageError"]

BAD_INPUT = (ValueError, TypeError, LookupError, OSError)


class UsageError(Exception):
    """Raised by a command for a bad argument; printed as one line, exit code 2."""


def _shows_default(action: argparse.Action) -> bool:
    d = action.default
    return bool(action.option_strings) and d is not argparse.SUPPRESS and d is not None and d is not False \
        and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))


class _Formatter(argparse.HelpFormatter):
    """Help that shows each option's default (``(default: 5)``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _shows_default(action) and "%(default)" not in text and "(default" not in text:
            d = action.default
            shown = " ".join(map(str, d)) if isinstance(d, (list, tuple)) else "%(default)s"
            text = f"{text} (default: {shown})".strip()
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if not action.help and _shows_default(action):  # an option without help text still lists its default
            action.help = "(default: %(default)s)"
        return action

    def error(self, message: str) -> None:  # one line, not usage + error
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    from cnnlab import __version__

    parser = _Parser(prog="cnnlab", description="Build, measure, train, explain and attack CNNs.")
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").add_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cnnlab`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    prog = "cnnlab"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        prog = f"cnnlab {args.command}" if getattr(args, "command", None) else prog
        result = args.func(args)
        return int(result or 0)
    except UsageError as exc:
        if debug:
            raise
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BAD_INPUT as exc:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, with the way to see more
        if debug:
            raise
        print(f"{prog}: error: {type(exc).__name__}: {_one_line(exc)} (rerun with --debug to see the traceback)",
              file=sys.stderr)
        return 1
