"""The ``cnnlab`` command: a thin layer over the Python API.

Each sub-command lives in a module ``cli/_cmd_<name>.py`` that defines ``add_parser(subparsers)`` and sets
``func`` on its parser; the function calls one public API function and formats its result. Modules are found
by name, so adding a command touches no other file. Heavy imports (torch) happen inside ``func`` so that
``cnnlab --help`` stays fast.

Errors raised for bad input (``ValueError``, ``TypeError``, ``FileNotFoundError``, ``OSError``) become one
line on stderr and exit code 2; a traceback reaching a user is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser", "UsageError"]


class UsageError(Exception):
    """Raised by a command for a bad argument; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + error
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from cnnlab import __version__

    parser = _Parser(prog="cnnlab", description="Build, measure, train, explain and attack CNNs.")
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cnnlab`` console script; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        result = args.func(args)
        return int(result or 0)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError, PermissionError, OSError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"cnnlab: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
