"""How far a suppressed figure of a table can move without changing anything published.

Pure functions, no I/O. One table is one month of one grouping: a row per configured region
(and a latent OTHER row for regions without an EHR), the national row, a column per key.
Every row total is published (the month's totals by region), so are the visible cells, and a
listed cell has a count of at least one. The figures that keep all of that true form a network
flow: rows and columns are nodes, and the national row is one more node whose cells carry the
flow from a column to it (a column's national cell is the sum of its region cells). A hidden
cell is an arc that may grow without limit or shrink down to its lower bound; the attacker's
largest value of a hidden cell is its true value plus the largest flow that can go round a
cycle through it, and likewise for the smallest (the augmenting-cycle theorem: any other table
with the same published figures differs from the true one by such cycles). Amounts follow the
same network, in tiyn, with a lower bound of zero.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass

Coord = tuple[str, str]  # (row, key): a region, the national row or OTHER; a group key
Capacities = dict[str, dict[str, int]]

UNLIMITED = 1 << 62  # a hidden figure may grow without bound: only shrinking is limited
NATION_NODE = "n"  # the national row's node


@dataclass(frozen=True, slots=True)
class Network:
    """One measure of a table (counts or amounts): every present cell's value and lower bound."""

    national: str  # the name of the national row
    values: Mapping[Coord, int]
    lower: Mapping[Coord, int]

    def ends(self, coord: Coord) -> tuple[str, str]:
        """The arc of a cell: growing it moves flow from the first node to the second."""
        row, key = coord
        if row == self.national:
            return "c:" + key, NATION_NODE
        return "r:" + row, "c:" + key

    def slack(self, coord: Coord) -> int:
        """How far the cell may shrink."""
        return self.values[coord] - self.lower[coord]

    def residual(self, hidden: Collection[Coord], without: Coord | None = None) -> Capacities:
        """The residual graph of the hidden cells (all but ``without``)."""
        graph: Capacities = {}
        for coord in hidden:
            if coord != without:
                _add_arc(graph, *self.ends(coord), self.slack(coord))
        return graph


@dataclass(frozen=True, slots=True)
class Movement:
    """How far a hidden figure can fall and rise with every published figure unchanged."""

    down: int
    up: int

    @property
    def width(self) -> int:
        """The width of the attacker's interval for the figure."""
        return self.down + self.up


def movement(network: Network, hidden: Collection[Coord], coord: Coord, enough: int) -> Movement:
    """How far ``coord`` (hidden) can move; each direction is explored only up to ``enough``."""
    tail, head = network.ends(coord)
    up = max_flow(network.residual(hidden, coord), head, tail, enough)[0]
    down_limit = min(network.slack(coord), max(0, enough - up))
    down = max_flow(network.residual(hidden, coord), tail, head, down_limit)[0]
    return Movement(down=down, up=up)


def widening_cells(
    network: Network,
    hidden: Collection[Coord],
    present: Mapping[Coord, int],
    coord: Coord,
    upward: bool,
    wanted: int,
) -> set[Coord] | None:
    """The cheapest shown cells whose hiding lets ``coord`` move further in one direction.

    ``present`` gives each shown cell's cost of hiding (its count). The search runs on the
    residual graph left by the largest flow through the hidden cells, with the shown cells'
    arcs added at their cost; a path whose every arc can carry ``wanted`` is preferred, else
    any path (which still widens the interval by at least one). None when there is no path.
    """
    tail, head = network.ends(coord)
    source, sink = (head, tail) if upward else (tail, head)
    graph = network.residual(hidden, coord)
    _, graph = max_flow(graph, source, sink, UNLIMITED)
    candidates: dict[tuple[str, str], tuple[int, int, Coord]] = {}
    for cell, cost in present.items():
        if cell in hidden or cell == coord:
            continue
        u, v = network.ends(cell)
        candidates[(u, v)] = (UNLIMITED, cost, cell)
        candidates[(v, u)] = (network.slack(cell), cost, cell)
    for threshold in sorted({max(1, wanted), 1}, reverse=True):
        path = _cheapest_path(graph, candidates, source, sink, threshold)
        if path is not None:
            return path
    return None


def max_flow(graph: Capacities, source: str, sink: str, limit: int) -> tuple[int, Capacities]:
    """The largest flow from ``source`` to ``sink`` up to ``limit`` (Edmonds-Karp), and the
    residual graph it leaves (``graph`` is changed in place)."""
    total = 0
    while total < limit:
        parents = _shortest_augmenting_path(graph, source, sink)
        if parents is None:
            break
        step = limit - total
        node = sink
        while node != source:
            parent = parents[node]
            step = min(step, graph[parent][node])
            node = parent
        node = sink
        while node != source:
            parent = parents[node]
            graph[parent][node] -= step
            graph[node][parent] += step
            node = parent
        total += step
    return total, graph


# --- helpers ----------------------------------------------------------------------------------


def _add_arc(graph: Capacities, u: str, v: str, shrink: int) -> None:
    """A hidden cell between ``u`` and ``v``: it grows without bound, shrinks by ``shrink``."""
    graph.setdefault(u, {})[v] = UNLIMITED
    graph.setdefault(v, {})[u] = shrink


def _shortest_augmenting_path(graph: Capacities, source: str, sink: str) -> dict[str, str] | None:
    if source not in graph or sink not in graph:
        return None
    parents: dict[str, str] = {}
    seen = {source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other, capacity in graph[node].items():
            if capacity > 0 and other not in seen:
                seen.add(other)
                parents[other] = node
                if other == sink:
                    return parents
                queue.append(other)
    return None


def _cheapest_path(
    graph: Capacities,
    candidates: Mapping[tuple[str, str], tuple[int, int, Coord]],
    source: str,
    sink: str,
    threshold: int,
) -> set[Coord] | None:
    """Dijkstra over residual arcs (free) and shown cells' arcs (their cost), each arc able to
    carry ``threshold``; the shown cells of the cheapest path, or None."""
    neighbours: dict[str, list[tuple[str, int, Coord | None]]] = {}
    for u, arcs in graph.items():
        for v, capacity in arcs.items():
            if capacity >= threshold:
                neighbours.setdefault(u, []).append((v, 0, None))
    for (u, v), (capacity, cost, cell) in candidates.items():
        if capacity >= threshold:
            neighbours.setdefault(u, []).append((v, cost, cell))
    best = {source: 0}
    via: dict[str, tuple[str, Coord | None]] = {}
    queue = [(0, source)]
    while queue:
        cost, node = heapq.heappop(queue)
        if cost > best[node]:
            continue
        if node == sink:
            cells: set[Coord] = set()
            while node in via:
                node, cell = via[node]
                if cell is not None:
                    cells.add(cell)
            return cells
        for other, step, cell in sorted(neighbours.get(node, ()), key=_arc_order):
            if cost + step < best.get(other, cost + step + 1):
                best[other] = cost + step
                via[other] = (node, cell)
                heapq.heappush(queue, (cost + step, other))
    return None


def _arc_order(arc: tuple[str, int, Coord | None]) -> tuple[int, str, Coord]:
    other, step, cell = arc
    return step, other, cell or ("", "")
