"""The package layers of STYLE.md, kept by a test: an import never points up a layer and no two packages import
each other (function-level imports count; grimp reads every import statement)."""

import grimp

# bottom to top; the private top-level modules (cnnlab._registry, cnnlab._checks, ...) are layer 0
LAYERS = [
    {"data", "models", "analysis", "reference"},
    {"train", "explain", "robust", "losses", "transfer", "style", "detect", "segment"},
    {"experiments"},
    {"report", "studio", "cli"},
]


def _package_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("cnnlab")
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        parts = module.split(".")
        if len(parts) < 2:
            continue
        src = parts[1]
        for imported in graph.find_modules_directly_imported_by(module):
            q = imported.split(".")
            if len(q) > 1 and q[0] == "cnnlab" and q[1] != src:
                edges.setdefault(src, set()).add(q[1])
    return edges


def _layer(pkg: str) -> int:
    if pkg == "__main__":  # python -m cnnlab: the entry point, above everything
        return len(LAYERS) + 1
    if pkg.startswith("_"):
        return 0
    for i, names in enumerate(LAYERS, start=1):
        if pkg in names:
            return i
    raise AssertionError(f"package cnnlab.{pkg} is in no layer of tests/test_layers.py (add it where it belongs)")


def test_every_import_points_down_or_sideways():
    up = sorted(f"{a} -> {b}" for a, bs in _package_graph().items() for b in bs if _layer(b) > _layer(a))
    assert not up, f"imports pointing up a layer: {up}"


def test_private_modules_import_no_package():
    private = {a: bs for a, bs in _package_graph().items() if a.startswith("_") and a != "__main__"}
    bad = sorted(f"{a} -> {b}" for a, bs in private.items() for b in bs if not b.startswith("_"))
    assert not bad, bad


def test_no_import_cycles_between_packages():
    edges = _package_graph()
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if seen.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in seen and (cycle := visit(nxt)):
                return cycle
        seen[node] = 2
        stack.pop()
        return None

    for start in sorted(edges):
        if start not in seen and (cycle := visit(start)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_check_sees_a_real_edge():
    """The graph is not empty: train imports data (so a broken grimp call cannot pass silently)."""
    assert "data" in _package_graph()["train"]
