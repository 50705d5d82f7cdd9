"""One registry per kind of thing (models, explanation methods, attacks, datasets, demo sections).

Registries are the only mutable global state in cnnlab. They are filled by a decorator at import time and
raise on a duplicate name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table with a decorator to fill it.

    Example:
        >>> METHODS = Registry("method")
        >>> @METHODS.register("double")
        ... def double(x):
        ...     return 2 * x
        >>> METHODS.get("double")(3)
        6
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        """Decorator adding ``obj`` under ``name``; ``info`` is free metadata kept beside it."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            self._info[name] = dict(info)
            return obj

        return deco

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def lookup(self, name: str) -> T:
        """The registered object itself; ``ValueError`` naming close matches when unknown."""
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(self._items)}"
            raise ValueError(f"unknown {self.kind} {name!r}{hint}")
        return self._items[name]

    def info(self, name: str) -> dict[str, Any]:
        """The metadata given at registration."""
        self.lookup(name)
        return dict(self._info[name])

    def get(self, name: str, **kwargs: Any) -> Any:
        """Call the registered builder with ``kwargs`` (for registries of callables)."""
        return self.lookup(name)(**kwargs)  # type: ignore[operator]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._items)} entries)"
