"""Small-cell suppression of managers' aggregates: which figures of a table may be shown.

Pure functions, no I/O. The whole rule, with what it does not protect against, is in
``docs/suppression.md``; this module holds the part for one table and for prevalence.

**Table.** One month of one grouping (the period rule of ``periods.py`` builds every longer
period from months): a row per configured region, the national row, a latent OTHER row
(never published) for regions without an EHR, and for ambulance calls a latent column of calls
the grouping leaves out (no diagnosis, station or outcome). The month's totals by region are
published, so every row total is known; a listed cell has a count of at least one.

**Primary.** A cell covering fewer than ``k`` patients (or an unknown number) is suppressed;
a latent cell of fewer than ``k`` is protected as if it were.

**Protection.** Every suppressed figure, primary or complementary, must keep an interval of at
least ``k`` for its count (the attacker's largest and smallest value consistent with every
published figure differ by ``k`` or more) and, for money, at least its own unpublished amount
(for a national cell: the amount of its suppressed region cells). ``protection.py`` measures
the interval exactly (a flow through the hidden cells); while a figure falls short, the
cheapest shown cells (smallest counts) that widen it are suppressed too.

**Fallback.** If no cell can widen it, every cell of every row with two or more cells is
suppressed (with the national cells of their columns). When every row's total exceeds its
number of listed cells by ``k`` or more (``periods.dark_month`` makes a month dark otherwise),
this protects every figure: a row's cells can then trade ``k`` among themselves through the
national cells. If even that fails, the caller hides the whole table.

**Partitions** (prevalence: one figure per region, every region listed, the national sum
assumed known): the small regions, plus the smallest others until at least two are hidden and
together hold at least ``k`` (each hidden one could then be anything from 0 to their sum).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from gateway.resolvers.protection import Coord, Network, movement, widening_cells

__all__ = ["Cell", "Coord", "is_small", "suppress_partition", "suppress_table"]


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
    cells: Mapping[Coord, Cell], k: int, national: str, latent: Iterable[Coord] = ()
) -> frozenset[Coord] | None:
    """The published cells of one month's table to suppress, or None when no pattern protects
    every suppressed figure (then the caller suppresses the whole table).

    ``latent`` cells are never published: unknown to everyone, they protect others and are
    themselves protected when their count is under ``k``. Cells with a zero count are absent.
    """
    present = {coord: cell for coord, cell in cells.items() if cell.count > 0}
    hidden_latent = frozenset(latent) & present.keys()
    published = present.keys() - hidden_latent
    sensitive = {
        coord
        for coord, cell in present.items()
        if (cell.count < k if coord in hidden_latent else is_small(cell, k))
    }
    if not sensitive:
        return frozenset()
    plan = _Plan(present, hidden_latent, national, k)
    hidden = plan.protect(sensitive | hidden_latent, sensitive)
    if hidden is None:
        hidden = plan.protect(plan.fallback(sensitive), sensitive, widen=False)
    return None if hidden is None else frozenset(hidden & published)


def suppress_partition(counts: Mapping[str, int], k: int) -> frozenset[str]:
    """Keys of a partition to suppress: those under ``k``, plus the smallest others until at
    least two are suppressed and together hold at least ``k``."""
    suppressed = {key for key, count in counts.items() if count < k}
    if not suppressed:
        return frozenset()
    while len(suppressed) < 2 or sum(counts[key] for key in suppressed) < k:
        others = sorted((count, key) for key, count in counts.items() if key not in suppressed)
        if not others:
            break  # every key suppressed: the national sum is then never published
        suppressed.add(others[0][1])
    return frozenset(suppressed)


# --- the search -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Measure:
    """Counts or amounts of the table, and what interval each hidden figure needs."""

    network: Network
    need: Callable[[Coord, set[Coord]], int]


class _Plan:
    """The complementary search over one table."""

    def __init__(
        self, present: Mapping[Coord, Cell], latent: frozenset[Coord], national: str, k: int
    ) -> None:
        self.present = present
        self.latent = latent
        self.national = national
        self.k = k
        self.costs = {coord: cell.count for coord, cell in present.items() if coord not in latent}
        counts = Network(
            national,
            {coord: cell.count for coord, cell in present.items()},
            {coord: 0 if coord in latent else 1 for coord in present},
        )
        self.measures = [_Measure(counts, lambda coord, hidden: k)]
        if all(cell.amount is not None for cell in present.values()):
            amounts = Network(
                national,
                {coord: _tiyn(cell.amount) for coord, cell in present.items()},
                dict.fromkeys(present, 0),
            )
            self.measures.append(_Measure(amounts, self._amount_need(amounts)))

    def protect(
        self, hidden: set[Coord], sensitive: set[Coord], widen: bool = True
    ) -> set[Coord] | None:
        """``hidden`` grown until every checked figure keeps its interval; None if it cannot."""
        hidden = set(hidden)
        queue = [(self.present[c].count, c) for c in hidden if self._checked(c, sensitive)]
        heapq.heapify(queue)
        while queue:
            _, coord = heapq.heappop(queue)
            for measure in self.measures:
                added = self._widen(measure, hidden, coord, widen)
                if added is None:
                    return None
                for cell in added:
                    hidden.add(cell)
                    heapq.heappush(queue, (self.present[cell].count, cell))
                    # A national cell must now also cover the amount of this new region cell.
                    total = (self.national, cell[1])
                    if total in hidden and total != cell:
                        heapq.heappush(queue, (self.present[total].count, total))
        return hidden

    def fallback(self, sensitive: set[Coord]) -> set[Coord]:
        """Every cell of every row with two or more cells, and the national cells of their
        columns (a row of one cell is its total, which is published)."""
        by_row: dict[str, list[Coord]] = {}
        for coord in self.present:
            if coord[0] != self.national:
                by_row.setdefault(coord[0], []).append(coord)
        hidden = set(sensitive) | set(self.latent)
        for row in by_row.values():
            if len(row) >= 2:
                hidden.update(row)
        columns = {key for row, key in hidden if row != self.national}
        hidden.update(c for c in self.present if c[0] == self.national and c[1] in columns)
        return hidden

    def _checked(self, coord: Coord, sensitive: set[Coord]) -> bool:
        return coord not in self.latent or coord in sensitive

    def _widen(
        self, measure: _Measure, hidden: set[Coord], coord: Coord, widen: bool
    ) -> set[Coord] | None:
        """Cells added so that ``coord`` keeps its interval in ``measure`` (None: impossible)."""
        added: set[Coord] = set()
        network = measure.network
        while True:
            need = measure.need(coord, hidden)
            moved = movement(network, hidden, coord, need)
            if moved.width >= need:
                return added
            if not widen:
                return None
            cells = widening_cells(
                network, hidden, self.costs, coord, upward=True, wanted=need - moved.width
            )
            if cells is None and moved.down < network.slack(coord):
                cells = widening_cells(
                    network, hidden, self.costs, coord, upward=False, wanted=need - moved.width
                )
            if cells is None:
                return None
            hidden |= cells
            added |= cells

    def _amount_need(self, amounts: Network) -> Callable[[Coord, set[Coord]], int]:
        """A cell's own amount; for a national cell, that of its suppressed region cells (the
        rest of it is published in the region rows)."""

        def need(coord: Coord, hidden: set[Coord]) -> int:
            if coord[0] != self.national:
                return amounts.values[coord]
            return sum(
                amounts.values[cell]
                for cell in hidden
                if cell[1] == coord[1] and cell[0] != self.national and cell not in self.latent
            )

        return need


def _tiyn(amount: Decimal | None) -> int:
    """Money in whole tiyn (hundredths of a tenge), the unit the flows count in."""
    return int((amount or Decimal(0)) * 100)
