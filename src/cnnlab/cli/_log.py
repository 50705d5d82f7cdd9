"""The training commands' progress messages: a library logger shown on stderr while a command runs."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def log_to_stderr(name: str, enabled: bool = True) -> Iterator[None]:
    """Inside the block, the ``name`` logger's INFO messages are printed to stderr, one per line (nothing when
    ``enabled`` is false); the handler is removed and the logger's level restored on exit, also on an error."""
    if not enabled:
        yield
        return
    log = logging.getLogger(name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
