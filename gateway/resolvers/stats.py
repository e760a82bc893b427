"""Managers' aggregates: pushed down to the source systems, merged, suppressed, scoped.

Every figure is computed by the system that owns the data (DPS and ambulance stats endpoints,
each regional EHR's ``_summary=count``); the gateway never pulls a person's records to count
them. Each call goes through the fetcher (cached for the source's ``ttl_s``, keyed by a hash
of the query parameters, stale-if-error, deadline, retries, breaker).

To suppress consistently (``suppression.py``), a dispensation or call aggregate is always
computed on its whole table: the national view and every configured region's view of the same
period and grouping, asked in parallel; the caller then sees the national row or one region's
row of it. So a region's row looks the same to its regional manager and to a national manager
filtering by that region, and the national row cannot be played against the regions.

Failures: DPS and the ambulance dispatch are one system each; if a view of the table cannot be
had (no stale copy either), the field is SOURCE_UNAVAILABLE. Prevalence asks one EHR per
region: a region that fails yields its row with null figures and a SOURCE_UNAVAILABLE error at
that row's ``count`` and ``patients``; the other regions still come, suppressed as if the
failed region's figure were public (it will be, once the region answers). Only when no region
asked for could answer is the whole field SOURCE_UNAVAILABLE.

``prevalence`` counts Conditions (the contract's ``_summary=count``): clinical status active,
recurrence or relapse (the passport's ACTIVE), any category. That equals the number of
patients when each patient has at most one such Condition per ICD-10 category in a region:
true of problem lists (one entry per problem) and of the demo population's chronic categories
(one problem-list Condition per person and category, in one region). The count is shown as
both ``count`` and ``patients``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from gateway.auth.policy import stats_region
from gateway.errors import BadUserInput, SourceUnavailable
from gateway.records import StatRow as SourceRow
from gateway.resolvers.context import RequestContext
from gateway.resolvers.suppression import Cell, Coord, suppress_partition, suppress_table
from gateway.schema.types import StatRow
from gateway.sources.fetcher import RECORD_CODEC, Fetched

MAX_SPAN_DAYS = 1096  # three years, one of them leap: from and to both counted
NATIONAL = "*national"  # row of the unfiltered view (not a region name: those are lowercase words)
OTHER = "*other"  # latent row: national minus the configured regions, never published
ACTIVE_STATUSES = ("active", "recurrence", "relapse")  # FHIR's "active" and its two children
_ICD10_CATEGORY = re.compile(r"[A-Z][0-9]{2}")

ViewLoader = Callable[[str | None], Awaitable[list[SourceRow]]]


# --- input ------------------------------------------------------------------------------------


def check_period(from_date: date, to_date: date) -> None:
    """BAD_USER_INPUT unless ``from <= to`` and the period spans at most ``MAX_SPAN_DAYS``."""
    if from_date > to_date:
        raise BadUserInput("from must not be after to")
    if (to_date - from_date).days + 1 > MAX_SPAN_DAYS:
        raise BadUserInput(f"the period may span at most {MAX_SPAN_DAYS} days")


def check_icd10_category(value: str) -> str:
    """The ICD-10 category (letter and two digits, e.g. E11), upper-cased; else BAD_USER_INPUT.

    Subcodes (E11.9) are refused: E11 minus E11.9 would count the other E11 subcodes, a group
    that is never itself published, so could not be suppressed.
    """
    category = value.strip().upper()
    if not _ICD10_CATEGORY.fullmatch(category):
        raise BadUserInput("icd10 must be an ICD-10 category: a letter and two digits, e.g. E11")
    return category


def scope(context: RequestContext, region: str | None) -> str | None:
    """The region the answer is limited to (None: national), after policy and input checks.

    FORBIDDEN for anyone but a manager, and for a regional manager asking for another region;
    BAD_USER_INPUT for a region no configured EHR serves.
    """
    effective = stats_region(context.principal, region)
    if effective is not None and effective not in known_regions(context):
        raise BadUserInput(f"unknown region {effective!r}")
    return effective


def known_regions(context: RequestContext) -> tuple[str, ...]:
    """The configured regions: one per regional EHR, in configuration order."""
    return tuple(ehr.region for ehr in context.services.sources.ehrs if ehr.region)


# --- the three aggregates ---------------------------------------------------------------------


async def dispensation_stats(
    context: RequestContext, from_date: date, to_date: date, region: str | None, group_by: str
) -> list[StatRow]:
    """Dispensations by ``group_by`` (atc, region, month, program, pharmacy), suppressed."""
    effective = scope(context, region)
    check_period(from_date, to_date)
    dps = context.services.sources.dps
    if dps is None:
        raise SourceUnavailable("dps", "not configured")
    group = group_by.lower()

    def load(view_region: str | None) -> Awaitable[list[SourceRow]]:
        return dps.dispensation_stats(from_date, to_date, view_region, group)

    # Grouped by region, each region's view is its own row of the national view.
    derive = _region_rows_of_national if group == "region" else None
    params = ("dispensations", from_date.isoformat(), to_date.isoformat(), group)
    return await _table_stats(context, dps.source, params, load, effective, derive)


async def call_stats(
    context: RequestContext, from_date: date, to_date: date, region: str | None, group_by: str
) -> list[StatRow]:
    """Ambulance calls by ``group_by`` (diagnosis, outcome, station, month), suppressed."""
    effective = scope(context, region)
    check_period(from_date, to_date)
    ambulance = context.services.sources.ambulance
    if ambulance is None:
        raise SourceUnavailable("ambulance", "not configured")
    group = group_by.lower()

    def load(view_region: str | None) -> Awaitable[list[SourceRow]]:
        return ambulance.call_stats(from_date, to_date, view_region, group)

    params = ("calls", from_date.isoformat(), to_date.isoformat(), group)
    return await _table_stats(context, ambulance.source, params, load, effective, None)


async def prevalence(context: RequestContext, icd10: str, region: str | None) -> list[StatRow]:
    """Active Conditions in an ICD-10 category, one row per region, suppressed."""
    effective = scope(context, region)
    category = check_icd10_category(icd10)
    ehrs = [ehr for ehr in context.services.sources.ehrs if ehr.region]
    # Every region is asked even for one region's row: complementary suppression needs them all.
    fetched = await asyncio.gather(
        *(
            _fetch(
                context,
                ehr.source,
                ("prevalence", category, *ACTIVE_STATUSES),
                _bind(ehr.count_active_conditions, category, ACTIVE_STATUSES),
            )
            for ehr in ehrs
        )
    )
    answered = {
        ehr.region: int(result.value)
        for ehr, result in zip(ehrs, fetched, strict=True)
        if result.ok and result.value is not None
    }
    suppressed = suppress_partition(answered, context.services.settings.policy.suppression_k)
    rows = []
    failures = []
    for ehr, result in zip(ehrs, fetched, strict=True):
        if effective is not None and ehr.region != effective:
            continue
        label = region_label(ehr.region)
        if ehr.region in answered:
            count = answered[ehr.region]
            rows.append(_row(ehr.region, label, Cell(count, count), ehr.region in suppressed))
        else:
            failures.append(_unavailable(ehr.source, result))
            rows.append(_failed_row(ehr.region, label, failures[-1]))
    if failures and len(failures) == len(rows):
        raise failures[0]  # nothing asked for could be computed
    return rows


def region_label(region: str) -> str:
    """A readable name for a region code (``north-kazakhstan`` -> ``North Kazakhstan``)."""
    return region.replace("-", " ").replace("_", " ").title()


# --- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _View:
    """One source answer: the rows of the national view or of one region's view."""

    row: str
    rows: tuple[SourceRow, ...]


async def _table_stats(
    context: RequestContext,
    source: str,
    params: tuple[str, ...],
    load: ViewLoader,
    effective: str | None,
    derive: Callable[[Sequence[SourceRow], str], list[SourceRow]] | None,
) -> list[StatRow]:
    """Fetch the national and regional views, suppress on the whole table, return one row."""
    regions = known_regions(context)
    asked: list[str | None] = [None] if derive is not None else [None, *regions]
    fetched = await asyncio.gather(
        *(_fetch(context, source, (*params, view or "*"), _bind(load, view)) for view in asked)
    )
    for result in fetched:
        if not result.ok:
            raise _unavailable(source, result)
    answers = dict(zip(asked, (tuple(result.value or ()) for result in fetched), strict=True))
    views = [_View(NATIONAL, answers[None])]
    for region in regions:
        rows = derive(answers[None], region) if derive is not None else answers[region]
        views.append(_View(region, tuple(rows)))
    cells, latent, labels = _table(views)
    suppressed = suppress_table(cells, context.services.settings.policy.suppression_k, latent)
    shown = NATIONAL if effective is None else effective
    view = next(v for v in views if v.row == shown)
    out = []
    for source_row in view.rows:
        coord = (shown, source_row.key)
        cell = cells.get(coord) or _cell(source_row)
        label = source_row.label or labels.get(source_row.key)
        out.append(_row(source_row.key, label, cell, coord in suppressed or cell.count <= 0))
    return out


def _table(views: Sequence[_View]) -> tuple[dict[Coord, Cell], set[Coord], dict[str, str]]:
    """Cells by (row, key), the latent OTHER cells, and a label per key."""
    cells: dict[Coord, Cell] = {}
    labels: dict[str, str] = {}
    for view in views:
        for source_row in view.rows:
            cells[(view.row, source_row.key)] = _cell(source_row)
            if source_row.label:
                labels.setdefault(source_row.key, source_row.label)
    latent: set[Coord] = set()
    for (row, key), national in list(cells.items()):
        if row != NATIONAL:
            continue
        parts = [cells[(v.row, key)] for v in views[1:] if (v.row, key) in cells]
        count = national.count - sum(part.count for part in parts)
        if count > 0:  # dispensations or calls in regions no EHR is configured for
            amount = None
            if national.amount is not None:
                amount = national.amount - sum(part.amount or Decimal(0) for part in parts)
            cells[(OTHER, key)] = Cell(count, None, amount)
            latent.add((OTHER, key))
    return cells, latent, labels


def _cell(row: SourceRow) -> Cell:
    return Cell(row.count or 0, row.patients, row.amount)


def _region_rows_of_national(national: Sequence[SourceRow], region: str) -> list[SourceRow]:
    return [row for row in national if row.key == region]


def _row(key: str, label: str | None, cell: Cell, suppressed: bool) -> StatRow:
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


def _failed_row(key: str, label: str, error: SourceUnavailable) -> StatRow:
    """A region that did not answer: null figures, and (graphql-core raises an Exception found
    as a field's value) a SOURCE_UNAVAILABLE error at the row's ``count`` and ``patients``."""
    return StatRow(
        key=key,
        label=label,
        count=error,  # type: ignore[arg-type]
        patients=error,  # type: ignore[arg-type]
        amount_kzt=None,
        suppressed=False,
    )


# --- fetching ---------------------------------------------------------------------------------


async def _fetch(
    context: RequestContext,
    source: str,
    params: tuple[str, ...],
    loader: Callable[[], Awaitable[Any]],
) -> Fetched[Any]:
    """One aggregate through the fetcher: cached for the source's ttl, keyed by its params."""
    services = context.services
    fetcher = services.fetcher
    return await fetcher.fetch(
        fetcher.key(source, "stats." + params[0], *params),
        loader,
        source=source,
        ttl_s=services.sources.ttl_s(source),
        deadline=context.deadline,
        codec=RECORD_CODEC,
        timeout_s=services.sources.timeout_s(source),
    )


def _unavailable(source: str, result: Fetched[Any]) -> SourceUnavailable:
    return SourceUnavailable(source, result.error.kind if result.error else "no answer")


def _bind(method: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    """A zero-argument loader calling ``method(*args)`` (no late binding in loops)."""
    return lambda: method(*args)
