"""Checked argument types for the commands' options: ``type=positive_int`` and friends.

argparse calls them while parsing, so a bad value is refused before anything runs, and the message names the
flag the user typed (``cnnlab predict: error: argument --topk: must be a positive integer, got '0'``), never an
internal parameter name. The checks are :mod:`cnnlab._checks`' (NaN and infinity are refused everywhere).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cnnlab._checks import check_int, check_number


def _message(exc: ValueError) -> str:
    return str(exc).strip()  # the checks write "<name> must be ..."; the name is argparse's "argument --flag:"


def integer(minimum: int | None = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An ``int`` option in ``[minimum, maximum]``."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        try:
            return int(check_int("", value, minimum, maximum))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(_message(exc).replace(f"got {value!r}", f"got {text!r}")) from None

    convert.__name__ = "integer"
    return convert


def number(*, minimum: float | None = None, maximum: float | None = None, open_min: bool = False,
           open_max: bool = False) -> Callable[[str], float]:
    """A finite ``float`` option in the given range."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        try:
            return check_number("", value, minimum=minimum, maximum=maximum, open_min=open_min, open_max=open_max)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(_message(exc).replace(f"got {value!r}", f"got {text!r}")) from None

    convert.__name__ = "number"
    return convert


positive_int = integer(1)
nonneg_int = integer(0)
any_int = integer(None)
finite = number()
positive = number(minimum=0, open_min=True)
nonneg = number(minimum=0)
unit = number(minimum=0, maximum=1)
