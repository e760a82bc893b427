"""The one-way rooms of docs/architecture.md, checked on the code's own imports.

The allowed arrows are read from the table in the document itself, so the page and this test
cannot drift apart: an import of ``gateway/`` that the table does not allow fails here, and so
does any circle of imports between modules, and any import of the product's stand-ins.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "architecture.md"
EDGE = "edge"
BASE = "base"


def allowed_arrows() -> dict[str, set[str]]:
    """Room -> rooms it may import, from the document's table (`| room | holds | may import |`)."""
    arrows: dict[str, set[str]] = {}
    for line in DOCUMENT.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("room", "") or set(cells[0]) <= {"-"}:
            continue
        room, _, may = cells
        if may == "nothing of gateway":
            arrows[room] = set()
        elif may == "every room":
            arrows[room] = {"*"}
        else:
            arrows[room] = {name.strip() for name in may.split(",")}
    return arrows


def base_modules() -> set[str]:
    """The bottom modules the document names in the base row (`config.py`, ...)."""
    for line in DOCUMENT.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {BASE} |"):
            return set(re.findall(r"`([a-z_]+)\.py`", line.split("|")[2]))
    raise AssertionError("the architecture document has no base row")


def room_of(module: str, bases: set[str]) -> str | None:
    """The room of a ``gateway.*`` module name (None for the package itself)."""
    parts = module.split(".")
    if parts[0] != "gateway" or len(parts) == 1:
        return None
    first = parts[1]
    if first in bases:
        return BASE
    if first in ("app", "view", "__main__"):
        return EDGE
    return first


def gateway_modules() -> Iterator[tuple[str, Path]]:
    """Every module of gateway/ with its dotted name."""
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imports_of(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names (function-level ones included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from gateway.contract import types` names the submodule gateway.contract.types
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_gateway_module_is_in_a_room_of_the_document() -> None:
    arrows, bases = allowed_arrows(), base_modules()
    rooms = {room_of(name, bases) for name, _ in gateway_modules()} - {None}
    assert rooms <= set(arrows), f"rooms missing from docs/architecture.md: {rooms - set(arrows)}"


def test_no_import_runs_against_the_documented_direction() -> None:
    arrows, bases = allowed_arrows(), base_modules()
    modules = {name for name, _ in gateway_modules()}
    wrong = []
    for name, path in gateway_modules():
        room = room_of(name, bases)
        if room is None or "*" in arrows[room]:
            continue
        for target in imports_of(path):
            if target not in modules:
                continue  # a third-party module, or an attribute of a gateway module
            target_room = room_of(target, bases)
            if target_room in (None, room) and not (room == BASE and target_room == BASE):
                continue
            if target_room not in arrows[room]:
                wrong.append(f"{name} ({room}) imports {target} ({target_room})")
    assert wrong == []


def test_gateway_never_imports_its_stand_ins() -> None:
    stand_ins = [
        f"{name} imports {target}"
        for name, path in gateway_modules()
        for target in imports_of(path)
        if target.split(".")[0] in ("emulators", "demo", "tests", "bench")
    ]
    assert stand_ins == []


def test_emulators_never_import_the_gateway() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {target}"
        for path in sorted((ROOT / "emulators").rglob("*.py"))
        for target in imports_of(path)
        if target.split(".")[0] in ("gateway", "demo")
    ]
    assert found == []


def test_no_import_circle_between_gateway_modules() -> None:
    modules = dict(gateway_modules())
    graph = {
        name: {target for target in imports_of(path) if target in modules and target != name}
        for name, path in modules.items()
    }
    circles = [sorted(component) for component in strongly_connected(graph) if len(component) > 1]
    assert circles == []


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative, so deep graphs cannot overflow)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


@pytest.mark.parametrize(
    ("graph", "circles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, 0),
        ({"a": {"b"}, "b": {"a"}}, 1),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, 1),
    ],
)
def test_the_circle_finder_finds_circles(graph: dict[str, set[str]], circles: int) -> None:
    assert sum(len(c) > 1 for c in strongly_connected(graph)) == circles


def test_the_direction_check_would_catch_an_arrow_back_up() -> None:
    # The table forbids what the issue found: resolvers importing the schema, sources the
    # resolvers, the contract's types the schema.
    arrows = allowed_arrows()
    assert "schema" not in arrows["resolvers"]
    assert "resolvers" not in arrows["sources"]
    assert "schema" not in arrows["contract"]
    assert arrows[BASE] == set()
