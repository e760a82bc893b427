"""One month of one grouping as a table: the views' rows, and the cells nobody publishes.

A source answers one view at a time (national, or one region); the gateway asks all of them
and puts them side by side. Two kinds of cell are never published but follow from what is
(``latent``), so they count in the suppression: the OTHER row (national minus the configured
regions: regions without an EHR) and, when a grouping leaves records out (an ambulance call
without a diagnosis is in no DIAGNOSIS row), the MISSING column (a row's total minus its rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from gateway.records import StatRow as SourceRow
from gateway.resolvers.suppression import Cell, Coord

NATIONAL = "*national"  # row of the unfiltered view (not a region name: those are lowercase words)
OTHER = "*other"  # latent row: national minus the configured regions, never published
MISSING = "*missing"  # latent column: records the grouping leaves out, never published


@dataclass(frozen=True, slots=True)
class Table:
    """Cells by (row, key), the latent ones among them, and a label per key."""

    cells: dict[Coord, Cell]
    latent: frozenset[Coord]
    labels: dict[str, str]
    consistent: bool = True  # False when the views and totals disagree (data changed between)


def cell_of(row: SourceRow) -> Cell:
    """A source row's figures as a cell (a missing count is zero: nothing to show)."""
    return Cell(row.count or 0, row.patients, row.amount)


def month_table(
    views: Mapping[str, Sequence[SourceRow]], totals: Mapping[str, Cell], complete: bool
) -> Table:
    """The table of one month: ``views`` by row (NATIONAL and each region), the month's
    ``totals`` by row, and whether the grouping holds every record (``complete``)."""
    cells: dict[Coord, Cell] = {}
    labels: dict[str, str] = {}
    for name, rows in views.items():
        for source_row in rows:
            cells[(name, source_row.key)] = cell_of(source_row)
            if source_row.label:
                labels.setdefault(source_row.key, source_row.label)
    regions = [name for name in views if name != NATIONAL]
    latent: set[Coord] = set()
    consistent = True
    for name in views:
        shown = sum(cell.count for (row, _), cell in cells.items() if row == name)
        left_out = totals.get(name, Cell(0, 0)).count - shown
        if left_out < 0 or (complete and left_out != 0):
            consistent = False
        elif left_out > 0:
            cells[(name, MISSING)] = Cell(left_out, None)
            latent.add((name, MISSING))
    for (row, key), national in list(cells.items()):
        if row != NATIONAL:
            continue
        parts = [cells[(region, key)] for region in regions if (region, key) in cells]
        count = national.count - sum(part.count for part in parts)
        if count > 0:  # records in regions no EHR is configured for
            amount = None
            if national.amount is not None:
                amount = national.amount - sum(part.amount or Decimal(0) for part in parts)
            cells[(OTHER, key)] = Cell(count, None, amount)
            latent.add((OTHER, key))
    return Table(cells, frozenset(latent), labels, consistent)
