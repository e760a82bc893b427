"""Dispensations and ambulance calls by month: the views asked, dark months, suppression.

``stats.py`` checks the input and scope; this module answers one view of a period of whole
months (``periods.py``, ``docs/suppression.md``). For each month the gateway asks the month's
totals (the MONTH grouping of every view, for the whole period at once), the national view of
every grouping (to tell a dark month, the same whatever grouping is asked), and every view of
the grouping asked (the month's table, suppressed as a whole, ``suppression.py``). The period's
own view gives the rows and their patients; a row is shown only when each of its months shows
it, and its count and amount must equal the sum of those months. So a region's row looks the
same to its regional manager and to a national manager filtering by that region, and no period
or grouping can be played against another.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from gateway.config import SourceKind
from gateway.contract.types import StatRow
from gateway.errors import SourceUnavailable
from gateway.records import StatRow as SourceRow
from gateway.resolvers.context import RequestContext
from gateway.resolvers.periods import (
    MonthCell,
    last_day,
    month_key,
    national_patients_shown,
    period_shown,
    period_sum,
    short_of_slack,
    thin_totals,
)
from gateway.resolvers.suppression import Cell, suppress_table
from gateway.resolvers.tables import NATIONAL, Table, cell_of, month_table
from gateway.sources import Fetched

VIEWS_IN_FLIGHT = 4  # views of one request asked at once: a source answers them one by one
_log = logging.getLogger(__name__)

ViewCall = Callable[[date, date, str | None, str], Awaitable[Fetched[list[SourceRow]] | None]]


@dataclass(frozen=True, slots=True)
class Measure:
    """What is counted by month: its source, its table groupings, whether every record is in
    every grouping, and the sources' call for one view."""

    kind: SourceKind
    groupings: tuple[str, ...]  # groupings with a table of keys (not MONTH or REGION)
    complete: bool
    call: Callable[[Any], ViewCall]


DISPENSATIONS = Measure(
    SourceKind.DPS, ("atc", "program", "pharmacy"), True, lambda s: s.dispensation_view
)
CALLS = Measure(
    SourceKind.AMBULANCE, ("diagnosis", "outcome", "station"), False, lambda s: s.call_view
)


class MonthlyStats:
    """One request's months of one measure: their views, dark months and suppression."""

    def __init__(
        self,
        context: RequestContext,
        measure: Measure,
        months: tuple[date, ...],
        regions: tuple[str, ...],
    ) -> None:
        self.context = context
        self.measure = measure
        self.months = months
        self.regions = regions
        self.k = context.services.policy.suppression_k
        sources = context.services.sources
        self.source = sources.source_of(measure.kind) or measure.kind.value
        self.call = measure.call(sources)
        self.in_flight = asyncio.Semaphore(VIEWS_IN_FLIGHT)

    async def rows(self, effective: str | None, group: str) -> list[StatRow]:
        """The rows of one view (``effective``: a region, or None for national) by ``group``."""
        shown = NATIONAL if effective is None else effective
        names = (NATIONAL, *self.regions)
        first, last = self.months[0], last_day(self.months[-1])
        asked = group in self.measure.groupings
        totals_views, national, regional = await asyncio.gather(
            asyncio.gather(*(self._view(first, last, name, "month") for name in names)),
            self._by_month(self.measure.groupings, (NATIONAL,)),
            self._by_month((group,) if asked else (), self.regions),
        )
        totals = self._totals(dict(zip(names, totals_views, strict=True)))
        dark = {month: await self._dark(month, totals[month], national) for month in self.months}
        if group == "month":
            return self._month_rows(totals_views[names.index(shown)], dark)
        if group == "region":
            return await self._region_rows(shown, totals, dark)
        hidden = {
            month: self._suppressed(month, group, totals[month], national, regional, dark)
            for month in self.months
        }
        return await self._table_rows(shown, group, national, regional, hidden)

    # --- loading --------------------------------------------------------------------------

    async def _view(self, start: date, end: date, name: str, group: str) -> list[SourceRow]:
        """One view's rows; SOURCE_UNAVAILABLE if it cannot be had."""
        region = None if name == NATIONAL else name
        async with self.in_flight:
            result = await self.call(start, end, region, group, self.context.deadline)
        if result is None:
            raise SourceUnavailable(self.source, "not configured")
        if not result.ok:
            raise unavailable(self.source, result)
        return list(result.value or ())

    async def _by_month(
        self, groups: tuple[str, ...], names: tuple[str, ...]
    ) -> dict[tuple[date, str, str], list[SourceRow]]:
        """Each month's view of each group and name, by (month, group, name)."""
        wanted = [(m, g, n) for m in self.months for g in groups for n in names]
        views = await asyncio.gather(*(self._view(m, last_day(m), n, g) for m, g, n in wanted))
        return dict(zip(wanted, views, strict=True))

    def _totals(self, views: dict[str, list[SourceRow]]) -> dict[date, dict[str, Cell]]:
        """Each month's total by row, from the MONTH grouping of every view."""
        keys = {month_key(month): month for month in self.months}
        totals: dict[date, dict[str, Cell]] = {month: {} for month in self.months}
        for name, rows in views.items():
            for row in rows:
                if row.key in keys:
                    totals[keys[row.key]][name] = cell_of(row)
        return totals

    # --- months -----------------------------------------------------------------------------

    async def _dark(
        self,
        month: date,
        totals: dict[str, Cell],
        national: dict[tuple[date, str, str], list[SourceRow]],
    ) -> bool:
        """Whether nothing of ``month`` may be published (``periods.py``), for every grouping
        alike: decided on the totals and the national views (each region lists at most the
        national number of keys), asking the regional views only when that bound is too weak."""
        if thin_totals(totals, NATIONAL, self.k):
            return True
        regional = {name: cell for name, cell in totals.items() if name != NATIONAL}
        for group in self.measure.groupings:
            at_most = len(national[(month, group, NATIONAL)])
            if not short_of_slack(regional, dict.fromkeys(self.regions, at_most), self.k):
                continue
            views = await asyncio.gather(
                *(self._view(month, last_day(month), name, group) for name in self.regions)
            )
            listed = {name: len(rows) for name, rows in zip(self.regions, views, strict=True)}
            if short_of_slack(regional, listed, self.k):
                return True
        return False

    def _suppressed(
        self,
        month: date,
        group: str,
        totals: dict[str, Cell],
        national: dict[tuple[date, str, str], list[SourceRow]],
        regional: dict[tuple[date, str, str], list[SourceRow]],
        dark: dict[date, bool],
    ) -> tuple[Table, frozenset[tuple[str, str]]]:
        """One month's table of ``group`` and its suppressed cells (all of a dark month)."""
        views = {NATIONAL: national[(month, group, NATIONAL)]}
        views.update({name: regional[(month, group, name)] for name in self.regions})
        table = month_table(views, totals, self.measure.complete)
        everything = frozenset(table.cells.keys() - table.latent)
        if dark[month] or not table.consistent:
            return table, everything
        hidden = _pattern(tuple(sorted(table.cells.items())), self.k, table.latent)
        if hidden is None:  # docs/suppression.md: cannot happen in a month that is not dark
            _log.warning("stats: no suppression pattern protects %s %s", group, month_key(month))
            return table, everything
        return table, hidden

    # --- the answer -------------------------------------------------------------------------

    def _month_rows(self, rows: list[SourceRow], dark: dict[date, bool]) -> list[StatRow]:
        """MONTH rows are the months' totals: shown unless the month is dark."""
        months = {month_key(month): month for month in self.months}
        out = []
        for row in rows:
            month = months.get(row.key)
            suppressed = month is None or dark[month]
            out.append(stat_row(row.key, row.label, cell_of(row), suppressed))
        return out

    async def _region_rows(
        self, shown: str, totals: dict[date, dict[str, Cell]], dark: dict[date, bool]
    ) -> list[StatRow]:
        """REGION rows: a region's total over the period, shown when each of its months is;
        regions without an EHR are always suppressed (only their sum is protected)."""
        national = await self._view(self.months[0], last_day(self.months[-1]), NATIONAL, "region")
        out = []
        for row in national:
            if shown != NATIONAL and row.key != shown:
                continue  # grouped by region, a region's view is its own row
            parts = [
                _month_cell(totals[m].get(row.key), dark[m]) if row.key in self.regions else None
                for m in self.months
            ]
            suppressed = row.key not in self.regions or not _sums_to(row, parts)
            out.append(stat_row(row.key, row.label, cell_of(row), suppressed))
        return out

    async def _table_rows(
        self,
        shown: str,
        group: str,
        national: dict[tuple[date, str, str], list[SourceRow]],
        regional: dict[tuple[date, str, str], list[SourceRow]],
        hidden: dict[date, tuple[Table, frozenset[tuple[str, str]]]],
    ) -> list[StatRow]:
        """ATC, PROGRAM, PHARMACY, DIAGNOSIS, OUTCOME or STATION rows of one view: the
        period's view, each row shown when each of its months shows it; a national row over
        several months shows its patients only when every region's row of it is shown."""
        if len(self.months) == 1:
            month = self.months[0]
            source = national if shown == NATIONAL else regional
            rows = source[(month, group, shown)]
        else:
            rows = await self._view(self.months[0], last_day(self.months[-1]), shown, group)
        out = []
        for row in rows:
            parts = _months_of(hidden, (shown, row.key))
            cell = cell_of(row)
            if shown == NATIONAL and len(self.months) > 1:
                regions = (_months_of(hidden, (region, row.key)) for region in self.regions)
                if not national_patients_shown(regions):
                    cell = replace(cell, patients=None)
            label = row.label or next(
                (
                    hidden[m][0].labels[row.key]
                    for m in self.months
                    if row.key in hidden[m][0].labels
                ),
                None,
            )
            out.append(stat_row(row.key, label, cell, not _sums_to(row, parts)))
        return out


@functools.lru_cache(maxsize=4096)
def _pattern(
    cells: tuple[tuple[tuple[str, str], Cell], ...], k: int, latent: frozenset[tuple[str, str]]
) -> frozenset[tuple[str, str]] | None:
    """``suppress_table``, remembered: a month's table is asked again by every period holding
    it, and its pattern depends on nothing but its figures."""
    return suppress_table(dict(cells), k, NATIONAL, latent)


def _months_of(
    hidden: dict[date, tuple[Table, frozenset[tuple[str, str]]]], coord: tuple[str, str]
) -> list[MonthCell | None]:
    """One cell (row and key) in each month of the period: its figures, shown or hidden."""
    return [
        _month_cell(table.cells.get(coord), coord in suppressed)
        for table, suppressed in hidden.values()
    ]


def _month_cell(cell: Cell | None, suppressed: bool) -> MonthCell | None:
    if cell is None or cell.count <= 0:
        return None
    tiyn = None if cell.amount is None else int(cell.amount * 100)
    return MonthCell(cell.count, tiyn, suppressed)


def _sums_to(row: SourceRow, parts: list[MonthCell | None]) -> bool:
    """True when the period's row may be shown: every month shows it, and it equals their sum
    (otherwise the data changed between the views, and the row would tell that change)."""
    if not period_shown(parts):
        return False
    count, tiyn = period_sum(parts)
    if (row.count or 0) != count or count <= 0:
        return False
    return row.amount is None or tiyn is None or int(row.amount * 100) == tiyn


def stat_row(key: str, label: str | None, cell: Cell, suppressed: bool) -> StatRow:
    """A row of the contract: the cell's figures, or null ones when suppressed."""
    if suppressed:
        return StatRow(
            key=key, label=label, count=None, patients=None, amount_kzt=None, suppressed=True
        )
    return StatRow(
        key=key,
        label=label,
        count=cell.count,
        patients=cell.patients,
        amount_kzt=cell.amount,
        suppressed=False,
    )


def unavailable(source: str, result: Fetched[Any]) -> SourceUnavailable:
    """SOURCE_UNAVAILABLE for a failed fetch, naming the source and how it failed."""
    return SourceUnavailable(source, result.error.kind if result.error else "no answer")
