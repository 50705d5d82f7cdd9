"""Command-line flags generated from a dataclass config (``TrainConfig``): one flag per field, its help text from
the field's entry in the class docstring and its default from the field itself, so the CLI and the API cannot
drift apart (timm's ``train.py`` and Hydra's structured configs do the same from one schema).

Every generated flag defaults to ``None`` ("not given"): :func:`config_changes` returns only the fields the user
set, which override a recipe (or the dataclass defaults). Booleans get ``--x / --no-x`` (:class:`Toggle`); a
``dict[str, float]`` is written ``KEY=NUMBER,KEY=NUMBER``; a tuple of numbers ``A,B``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import typing
from typing import Any


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its description in the ``Attributes:`` section of ``cls``'s Google-style docstring (markup
    removed, continuation lines joined)."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    current = None
    indent = None
    for line in section.splitlines():
        if not line.strip():
            continue
        lead = len(line) - len(line.lstrip())
        m = re.match(r"\s*([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*):\s*(.*)$", line)
        if m and (indent is None or lead == indent):
            indent = lead
            names = [n.strip() for n in m.group(1).split(",")]
            current = names
            for n in names:
                out[n] = m.group(2).strip()
        elif indent is not None and lead > indent and current:
            for n in current:
                out[n] += " " + line.strip()
        elif indent is not None and lead < indent:
            break
    return {k: _plain(v) for k, v in out.items()}


def _plain(text: str) -> str:
    text = re.sub(r":(?:func|class|data|meth):`~?([^`]+)`", r"\1", text)
    return text.replace("``", "").replace("%", "%%")


class Toggle(argparse.Action):
    """``--x`` / ``--no-x`` for a boolean field (``--no-decay-bias-norm`` / ``--decay-bias-norm`` for a field whose
    own flag starts with ``--no-``: argparse's ``BooleanOptionalAction`` would read that flag as "off")."""

    def __init__(self, option_strings: list[str], dest: str, default: Any = None, help: str | None = None) -> None:
        flag = option_strings[0]
        negation = "--" + flag[5:] if flag.startswith("--no-") else "--no-" + flag[2:]
        super().__init__([flag, negation], dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, option_string == self.option_strings[0])

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def _kind(hint: Any) -> Any:
    """The base type of a field's annotation (``int | None`` -> ``int``; ``dict[str, float]`` -> ``dict``)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (dict, tuple, list):
        return origin
    if args and origin is not None:  # a union
        return _kind(args[0])
    return hint


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def flag_name(field: str, renames: dict[str, str]) -> str:
    return renames.get(field, "--" + field.replace("_", "-"))


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *, renames: dict[str, str] | None = None,
                     defaults_note: str = "") -> None:
    """Add one flag per field of the dataclass ``cls`` to ``parser`` (dest = the field name, default ``None``).

    Args:
        renames: field -> flag for fields whose flag is not ``--field-name`` (``{"out_dir": "--out"}``).
        defaults_note: appended to every help text after the default (e.g. "or the recipe's").
    """
    renames = renames or {}
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    group = parser.add_argument_group(f"{cls.__name__} (every field; flags override --recipe)")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kind = _kind(hints[f.name])
        text = docs.get(f.name, f.name.replace("_", " "))
        help_text = f"{text.rstrip('.')} (default: {_shown(default)}{defaults_note})"
        flag = flag_name(f.name, renames)
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=Toggle, default=None, help=help_text)
        elif kind is dict:
            group.add_argument(flag, dest=f.name, default=None, metavar="KEY=NUMBER,...", help=help_text)
        elif kind in (tuple, list):
            group.add_argument(flag, dest=f.name, default=None, metavar="A,B", help=help_text)
        elif kind in (int, float, str):
            metavar = {int: "N", float: "X"}.get(kind, f.name.upper())
            group.add_argument(flag, dest=f.name, type=kind, default=None, metavar=metavar, help=help_text)
        else:  # a new field of a type this module cannot spell: fail loudly, in the tests
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line form for {hints[f.name]!r}")


def _number(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag} needs numbers, got {text!r}") from None


def parse_value(cls: type, name: str, raw: Any, *, renames: dict[str, str] | None = None) -> Any:
    """The field value of a flag's raw value (dicts and tuples are parsed from their text form)."""
    kind = _kind(typing.get_type_hints(cls)[name])
    flag = flag_name(name, renames or {})
    if kind is dict and isinstance(raw, str):
        out = {}
        for part in filter(None, (p.strip() for p in raw.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"{flag} takes KEY=NUMBER pairs separated by commas, got {part!r}")
            out[key.strip()] = _number(flag, value)
        return out
    if kind in (tuple, list) and isinstance(raw, str):
        return tuple(_number(flag, p) for p in raw.split(","))
    return raw


def config_changes(args: argparse.Namespace, cls: type, *, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """The fields of ``cls`` the user set on the command line (flags left out are not in the dict)."""
    return {f.name: parse_value(cls, f.name, getattr(args, f.name), renames=renames)
            for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def parse_options(pairs: list[str] | None, flag: str = "--model-option") -> dict[str, Any]:
    """``["widths=16,32,64", "activation=relu"]`` -> ``{"widths": (16, 32, 64), "activation": "relu"}``: each
    value is a Python literal when it reads as one (numbers, tuples, True/False/None), else a string (as timm's
    ``--model-kwargs``)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{flag} takes NAME=VALUE, got {pair!r}")
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            parsed = value.strip()
        out[key.strip()] = parsed
    return out


def add_lazily(parser: argparse.ArgumentParser, fill: Any) -> None:
    """Call ``fill(parser)`` just before ``parser`` first parses or prints help, not when the command line is
    built: generating flags from ``cnnlab.train.TrainConfig`` imports torch, and ``cnnlab --help`` must stay fast.
    """
    done: list[bool] = []

    def ensure() -> None:
        if not done:
            done.append(True)
            fill(parser)

    for method in ("parse_known_args", "format_help", "format_usage"):
        original = getattr(parser, method)

        def wrapped(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            ensure()
            return _original(*args, **kwargs)

        setattr(parser, method, wrapped)
    parser.ensure_flags = ensure  # type: ignore[attr-defined]  (tests and DDP's argv rebuild call it)
