"""Reading a request: its body (JSON or multipart, size-limited, parsed in memory), its parameters through the
shared checks, and the errors the API answers with.

Every endpoint reads its parameters with :class:`Params`, so a bad value gets the message the rest of cnnlab
gives (``"eps must be in [0, 1], got 5.0"``) and the status the error handler maps it to (``ValueError`` and
``TypeError``: 422). Nothing here touches the disk: a multipart upload is collected into memory and bounded by
the studio's upload limit before any of it is parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cnnlab._checks import check_int, check_number


class StudioError(Exception):
    """An error the API answers with ``status`` and the one-line ``message`` (404 unknown model / image / job,
    413 upload too large, 415 unsupported body, 400 malformed body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (a ``KeyError``'s without its quotes), or its type's name."""
    text = str(exc).strip()
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text.splitlines()[0] if text else type(exc).__name__


def not_found(what: str) -> StudioError:
    return StudioError(404, what)


@dataclass
class Upload:
    """An uploaded file, in memory: the client's file name (only ever shown, never used as a path) and bytes."""

    filename: str
    data: bytes

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.data)} bytes)"


class Params:
    """The parameters of one request (a JSON object, or multipart form fields whose values are strings) and its
    upload, if any; each accessor checks the value and raises ``ValueError`` naming it."""

    def __init__(self, values: dict[str, Any], upload: Upload | None = None) -> None:
        self.values = values
        self.upload = upload

    def __repr__(self) -> str:
        return f"Params({sorted(self.values)}, upload={self.upload!r})"

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def raw(self, name: str, default: Any = None) -> Any:
        v = self.values.get(name)
        return default if v is None or v == "" else v

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        v = self.raw(name)
        if v is None:
            if required:
                raise ValueError(f"{name} is required")
            return default
        if not isinstance(v, str):
            raise TypeError(f"{name} must be a string, got {json.dumps(v)[:60]}")
        if len(v) > 500:
            raise ValueError(f"{name} is too long ({len(v)} characters)")
        return v

    def integer(self, name: str, default: int | None = None, *, minimum: int | None = 1,
                maximum: int | None = None) -> int | None:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, str):  # a form field
            try:
                v = int(v.strip())
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {v!r}") from None
        return int(check_int(name, v, minimum, maximum))

    def number(self, name: str, default: float | None = None, *, minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise TypeError(f"{name} must be a number, got {json.dumps(v)[:60]}")
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                raise ValueError(f"{name} must be a number, got {v!r}") from None
        return check_number(name, v, minimum=minimum, maximum=maximum)

    def strings(self, name: str, default: list[str] | None = None, *, max_items: int = 32) -> list[str] | None:
        """A list of strings: a JSON list, or a comma-separated form value."""
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise TypeError(f"{name} must be a list of strings, got {json.dumps(v)[:60]}")
        if not v:
            raise ValueError(f"{name} must not be empty")
        if len(v) > max_items:
            raise ValueError(f"{name} has {len(v)} items, at most {max_items} allowed")
        return v

    def integers(self, name: str, length: int) -> list[int] | None:
        """A fixed-length list of integers (e.g. a unit ``[y, x]``)."""
        v = self.raw(name)
        if v is None:
            return None
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",")]
        if not isinstance(v, list) or len(v) != length:
            raise ValueError(f"{name} must be a list of {length} integers, got {json.dumps(v)[:60]}")
        out = []
        for i, x in enumerate(v):
            if isinstance(x, str):
                try:
                    x = int(x)
                except ValueError:
                    raise ValueError(f"{name}[{i}] must be an integer, got {x!r}") from None
            out.append(int(check_int(f"{name}[{i}]", x, 0)))
        return out

    def boolean(self, name: str, default: bool = False) -> bool:
        v = self.raw(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return v.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"{name} must be true or false, got {json.dumps(v)[:60]}")


async def read_params(request: Any, *, max_bytes: int) -> Params:
    """The request's parameters from a JSON object or a ``multipart/form-data`` body (at most one file).

    The body is read in chunks and refused with 413 as soon as it passes ``max_bytes`` (plus a little for the
    multipart framing), before anything is parsed; an empty body gives no parameters.
    """
    limit = max_bytes + 64 * 1024
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise StudioError(413, f"request body is {int(length):,} bytes; uploads are limited to {max_bytes:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise StudioError(413, f"request body is over the upload limit of {max_bytes:,} bytes")
    ctype = request.headers.get("content-type", "")
    if not body:
        return Params({})
    if ctype.startswith("application/json"):
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StudioError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise StudioError(400, f"the JSON body must be an object, got {type(doc).__name__}")
        return Params(doc)
    if ctype.startswith("multipart/form-data"):
        fields, files = _parse_multipart(bytes(body), ctype)
        if len(files) > 1:
            raise StudioError(400, f"send one file per request, got {len(files)}")
        upload = files[0] if files else None
        if upload is not None and len(upload.data) > max_bytes:
            raise StudioError(413, f"{upload.filename!r} is {len(upload.data):,} bytes; uploads are limited to "
                              f"{max_bytes:,} bytes")
        return Params(fields, upload)
    raise StudioError(415, f"send application/json or multipart/form-data, got {ctype or 'no content type'!r}")


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], list[Upload]]:
    """Fields and files of a multipart body, parsed in memory with python-multipart's streaming parser."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, opts = parse_options_header(content_type)
    boundary = opts.get(b"boundary")
    if not boundary:
        raise StudioError(400, "multipart body without a boundary")
    parts: list[dict[str, Any]] = []
    header = {"field": b"", "value": b""}

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1]["headers"][header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    callbacks = {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end}
    try:
        parser = MultipartParser(boundary, callbacks, max_size=len(body) + 1)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise StudioError(400, f"malformed multipart body: {exc}") from None
    fields: dict[str, str] = {}
    files: list[Upload] = []
    for part in parts:
        disposition = part["headers"].get(b"content-disposition", b"")
        _, popts = parse_options_header(disposition)
        name = popts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in popts:
            filename = popts[b"filename"].decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
            files.append(Upload(filename[:200] or "upload", bytes(part["data"])))
        elif name:
            try:
                fields[name] = part["data"].decode("utf-8")
            except UnicodeDecodeError:
                raise StudioError(400, f"form field {name!r} is not UTF-8 text") from None
    return fields, files
