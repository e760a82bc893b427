"""Small-cell suppression of managers' aggregates: which figures may be shown.

Pure functions, no I/O. The rule (also in ``docs/suppression.md``):

**Primary.** A cell covering fewer than ``k`` patients is suppressed (``suppressed: true``,
null figures). A cell whose patient count is unknown counts as fewer than ``k``.

**What an attacker is assumed to know.** For one measure (dispensations or ambulance calls),
one period and one grouping, the gateway publishes a *table*: one row per configured region
(what a regional manager sees, or a national manager filtering by region) and the NATIONAL row
(the unfiltered view). The attacker may see every published cell of every row (colluding
managers), and also every line total: each region's total and the national total (other
groupings of the same period add up to them), and each column's national figure. ``count``
and ``amountKzt`` are additive: each dispensation or call lies in exactly one group and one
region, so the region rows of a column add up to the national cell (plus a latent OTHER row
for regions the gateway has no EHR for, which is never published). ``patients`` is not
additive (one patient can be in several groups and regions): it decides what is small, and a
suppressed cell's patients are at most its count, which is what is protected.

**Complementary.** With every line total known, the unknown (suppressed) cells form a
bipartite graph: rows and columns are nodes, each suppressed cell an edge. A cell's value is
fixed by the published figures exactly when its edge is a *bridge* of that graph (lies on no
cycle); on a cycle, adding 1 and subtracting 1 alternately around it gives another table with
the same published figures and totals (every suppressed cell has a count of at least 1, so no
figure goes negative). So more cells are suppressed until no sensitive cell is a bridge: for
each bridge, the cheapest path of further cells (smallest counts first) that closes a cycle
through it. Within one row or one column this is the familiar "never exactly one suppressed
cell"; across rows it stops "national minus the other regions" recovering a region's cell.

**Whole table.** If a row has no cell of ``k`` patients or more, its total may itself cover
fewer than ``k`` patients; line totals are derivable from other groupings (national total
minus the other regions), so such a total cannot be protected cell by cell. Then every cell
of the table is suppressed. This happens in every grouping of that period alike (a row total
under ``k`` makes every cell of that row under ``k`` in every grouping), so the groupings
cannot be played against each other.

**Partitions** (prevalence: one cell per region, their national sum assumed known, each
region's cell its own total): at least two cells suppressed, and not all of them zero.

Not covered (see the doc): differences between overlapping periods, and changes of the live
data between two requests.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

Coord = tuple[str, str]  # (row, column): (region or NATIONAL or OTHER, group key)


@dataclass(frozen=True, slots=True)
class Cell:
    """One figure set of a table: how many (dispensations, calls), of how many patients, cost."""

    count: int
    patients: int | None
    amount: Decimal | None = None


def is_small(cell: Cell, k: int) -> bool:
    """True when the cell covers fewer than ``k`` patients (unknown patients count as small)."""
    return cell.patients is None or cell.patients < k


def suppress_table(
    cells: Mapping[Coord, Cell], k: int, latent: Iterable[Coord] = ()
) -> frozenset[Coord]:
    """The published cells of a table to suppress (primary, complementary, or whole table).

    ``latent`` cells are never published (the OTHER row): they are unknown to everyone, so
    they may protect others, and are themselves protected when small by their ``count``.
    Cells with a zero count are absent groups: their (zero) value is public.
    """
    hidden = frozenset(latent)
    present = {coord: cell for coord, cell in cells.items() if cell.count > 0}
    published = {coord for coord in present if coord not in hidden}
    sensitive = {
        coord
        for coord, cell in present.items()
        if (cell.count < k if coord in hidden else is_small(cell, k))
    }
    rows: dict[str, list[Coord]] = defaultdict(list)
    for coord in present:
        rows[coord[0]].append(coord)
    if any(all(coord in sensitive for coord in row) for row in rows.values()):
        return frozenset(published)
    suppressed = sensitive | (hidden & present.keys())
    while True:
        bridge = _first_bridge(sorted(sensitive, key=lambda c: (present[c].count, c)), suppressed)
        if bridge is None:
            return frozenset(suppressed & published)
        path = _cheapest_cycle_closer(bridge, present, suppressed)
        if path is None:  # cannot happen after the whole-table rule; stay safe if it does
            return frozenset(published)
        suppressed |= path


def suppress_partition(counts: Mapping[str, int], k: int) -> frozenset[str]:
    """Keys of a partition to suppress: those under ``k``, plus the smallest others until at
    least two are suppressed and their sum is not zero (so none follows from the total)."""
    suppressed = {key for key, count in counts.items() if count < k}
    if not suppressed:
        return frozenset()
    while len(suppressed) < 2 or sum(counts[key] for key in suppressed) == 0:
        need_positive = sum(counts[key] for key in suppressed) == 0
        candidates = sorted(
            (count, key)
            for key, count in counts.items()
            if key not in suppressed and (count > 0 or not need_positive)
        )
        if not candidates:
            break  # every cell suppressed (or all zero: the total says so anyway)
        suppressed.add(candidates[0][1])
    return frozenset(suppressed)


def determined_cells(unknown: Iterable[Coord]) -> frozenset[Coord]:
    """Of the ``unknown`` cells of a table whose line totals are all known, those whose value
    the published figures fix: the bridges of the graph rows-columns-unknown cells."""
    return frozenset(_bridges(set(unknown)))


# --- graph machinery: rows and columns are nodes, cells are edges ------------------------------


def _row(name: str) -> str:
    return "r:" + name


def _col(name: str) -> str:
    return "c:" + name


def _ends(coord: Coord) -> tuple[str, str]:
    return _row(coord[0]), _col(coord[1])


def _adjacency(edges: Iterable[Coord]) -> dict[str, list[tuple[str, Coord]]]:
    graph: dict[str, list[tuple[str, Coord]]] = defaultdict(list)
    for edge in edges:
        u, v = _ends(edge)
        graph[u].append((v, edge))
        graph[v].append((u, edge))
    return graph


def _reachable(start: str, graph: Mapping[str, list[tuple[str, Coord]]], skip: Coord) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other, edge in graph.get(node, ()):
            if edge != skip and other not in seen:
                seen.add(other)
                queue.append(other)
    return seen


def _bridges(edges: Iterable[Coord]) -> set[Coord]:
    """The edges on no cycle (Tarjan's lowlink, iterative; cells are unique, so no multi-edges)."""
    graph = _adjacency(edges)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    found: set[Coord] = set()
    for root in graph:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack: list[tuple[str, Coord | None, int]] = [(root, None, 0)]
        while stack:
            node, via_edge, index = stack[-1]
            neighbours = graph[node]
            if index < len(neighbours):
                stack[-1] = (node, via_edge, index + 1)
                other, edge = neighbours[index]
                if edge == via_edge:
                    continue
                if other in order:
                    low[node] = min(low[node], order[other])
                else:
                    order[other] = low[other] = len(order)
                    stack.append((other, edge, 0))
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent] and via_edge is not None:
                    found.add(via_edge)
    return found


def _first_bridge(candidates: Iterable[Coord], suppressed: set[Coord]) -> Coord | None:
    bridges = _bridges(suppressed)
    for edge in candidates:
        if edge in bridges:
            return edge
    return None


def _cheapest_cycle_closer(
    bridge: Coord, present: Mapping[Coord, Cell], suppressed: set[Coord]
) -> set[Coord] | None:
    """Fewest-count set of unsuppressed cells joining the two sides of ``bridge`` (Dijkstra;
    already suppressed cells cost nothing, the bridge itself may not be used)."""
    u, v = _ends(bridge)
    known = _adjacency(suppressed)
    side_a = _reachable(u, known, bridge)
    side_b = _reachable(v, known, bridge)
    graph = _adjacency(present)
    best: dict[str, int] = dict.fromkeys(side_a, 0)
    via: dict[str, tuple[str, Coord]] = {}
    queue = [(0, node) for node in sorted(side_a)]
    heapq.heapify(queue)
    while queue:
        cost, node = heapq.heappop(queue)
        if cost > best.get(node, cost):
            continue
        if node in side_b:
            path: set[Coord] = set()
            while node in via:
                node, edge = via[node]
                path.add(edge)
            return {edge for edge in path if edge not in suppressed}
        for other, edge in sorted(graph.get(node, ()), key=lambda item: item[1]):
            if edge == bridge:
                continue
            step = 0 if edge in suppressed else present[edge].count
            if cost + step < best.get(other, cost + step + 1):
                best[other] = cost + step
                via[other] = (node, edge)
                heapq.heappush(queue, (cost + step, other))
    return None
