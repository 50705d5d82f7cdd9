"""Feature maps of named modules, taken with forward hooks that exist only inside a ``with`` block."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from torch import Tensor, nn

from cnnlab import models


class _Stop(Exception):
    """Raised by the last hook a forward pass needs: the rest of the network is not computed."""


def check_layers(model: nn.Module, names: Sequence[str], what: str) -> list[str]:
    """The dotted module names ``names`` of ``model`` (deduplicated, order kept), or a ``ValueError`` naming the
    first that is not a module of it."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for n in names:
        if not isinstance(n, str) or not n:
            raise ValueError(f"{what} must be dotted module names, got {n!r}")
        models.feature_layer(model, n)  # "model has no layer 'x' (feature layers: ...)"
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError(f"{what} must name at least one layer")
    return out


@contextlib.contextmanager
def feature_taps(model: nn.Module, names: Sequence[str]) -> Iterator[Callable[[Tensor], dict[str, list[Tensor]]]]:
    """Hooks on the modules ``names``; yields ``run(x) -> {name: [output of each call]}``.

    A module called more than once per forward pass (a shared activation) contributes one map per call. The
    first ``run`` computes the whole network and counts the outputs; later runs stop the forward pass right after
    the last of them (style transfer needs nothing deeper). Every hook is removed on exit, also on an exception.
    """
    store: dict[str, list[Tensor]] = {n: [] for n in names}
    state = {"seen": 0, "needed": None}

    def make_hook(name: str) -> Callable:
        def hook(module: nn.Module, args: object, out: object) -> None:
            if not isinstance(out, Tensor) or out.dim() != 4:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"layer {name!r} gives {got}, not feature maps (N, C, H, W)")
            store[name].append(out)
            state["seen"] += 1
            if state["needed"] is not None and state["seen"] >= state["needed"]:
                raise _Stop

        return hook

    handles = []
    try:
        for n in names:
            handles.append(model.get_submodule(n).register_forward_hook(make_hook(n)))

        def run(x: Tensor) -> dict[str, list[Tensor]]:
            for v in store.values():
                v.clear()
            state["seen"] = 0
            try:
                model(x)
            except _Stop:
                pass
            if state["needed"] is None:
                state["needed"] = state["seen"]
            missing = [n for n, v in store.items() if not v]
            if missing:
                raise ValueError(f"layer {missing[0]!r} is never called by the model's forward pass")
            out = {n: list(v) for n, v in store.items()}
            for v in store.values():
                v.clear()
            return out

        yield run
    finally:
        for h in handles:
            h.remove()
        handles.clear()
        for v in store.values():
            v.clear()
