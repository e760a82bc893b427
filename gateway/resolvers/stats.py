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
from gateway.config import SourceKind
from gateway.contract.types import StatRow
from gateway.errors import BadUserInput, SourceUnavailable
from gateway.language import Words
from gateway.records import StatRow as SourceRow
from gateway.resolvers.context import RequestContext
from gateway.resolvers.suppression import Cell, Coord, suppress_partition, suppress_table
from gateway.sources import Fetched

MAX_SPAN_DAYS = 1096  # three years, one of them leap: from and to both counted
NATIONAL = "*national"  # row of the unfiltered view (not a region name: those are lowercase words)
OTHER = "*other"  # latent row: national minus the configured regions, never published
ACTIVE_STATUSES = ("active", "recurrence", "relapse")  # FHIR's "active" and its two children
_ICD10_CATEGORY = re.compile(r"[A-Z][0-9]{2}")
# The table of gateway/data/i18n that labels each grouping's keys in the reader's language
# (the source's own label is kept for a key the table lacks, and for months, pharmacies and
# stations, whose labels are dates and names).
REGION_LABELS = "label:region"
DISPENSATION_LABELS = {
    "atc": "http://www.whocc.no/atc",
    "region": REGION_LABELS,
    "program": "label:program",
}
CALL_LABELS = {
    "diagnosis": "http://hl7.org/fhir/sid/icd-10",  # keys are ICD-10 categories
    "outcome": "label:call-outcome",
}

ViewLoader = Callable[[str | None], Awaitable[Fetched[list[SourceRow]] | None]]


# --- input ------------------------------------------------------------------------------------


def check_period(from_date: date, to_date: date) -> None:
    """BAD_USER_INPUT unless ``from <= to`` and the period spans at most ``MAX_SPAN_DAYS``."""
    if from_date > to_date:
        raise BadUserInput("from must not be after to")
    if (to_date - from_date).days + 1 > MAX_SPAN_DAYS:
        raise BadUserInput("the period may span at most {days} days", days=MAX_SPAN_DAYS)


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
        raise BadUserInput("unknown region {region!r}", region=effective)
    return effective


def known_regions(context: RequestContext) -> tuple[str, ...]:
    """The configured regions: one per regional EHR, in configuration order."""
    return context.services.sources.regions


# --- the three aggregates ---------------------------------------------------------------------


async def dispensation_stats(
    context: RequestContext, from_date: date, to_date: date, region: str | None, group_by: str
) -> list[StatRow]:
    """Dispensations by ``group_by`` (atc, region, month, program, pharmacy), suppressed."""
    effective = scope(context, region)
    check_period(from_date, to_date)
    sources = context.services.sources
    group = group_by.lower()

    def load(view_region: str | None) -> Awaitable[Fetched[list[SourceRow]] | None]:
        return sources.dispensation_view(from_date, to_date, view_region, group, context.deadline)

    # Grouped by region, each region's view is its own row of the national view.
    derive = _region_rows_of_national if group == "region" else None
    labels = DISPENSATION_LABELS.get(group)
    return await _table_stats(context, SourceKind.DPS, load, effective, derive, labels)


async def call_stats(
    context: RequestContext, from_date: date, to_date: date, region: str | None, group_by: str
) -> list[StatRow]:
    """Ambulance calls by ``group_by`` (diagnosis, outcome, station, month), suppressed."""
    effective = scope(context, region)
    check_period(from_date, to_date)
    sources = context.services.sources
    group = group_by.lower()

    def load(view_region: str | None) -> Awaitable[Fetched[list[SourceRow]] | None]:
        return sources.call_view(from_date, to_date, view_region, group, context.deadline)

    labels = CALL_LABELS.get(group)
    return await _table_stats(context, SourceKind.AMBULANCE, load, effective, None, labels)


async def prevalence(context: RequestContext, icd10: str, region: str | None) -> list[StatRow]:
    """Active Conditions in an ICD-10 category, one row per region, suppressed."""
    effective = scope(context, region)
    category = check_icd10_category(icd10)
    # Every region is asked even for one region's row: complementary suppression needs them all.
    counts = await context.services.sources.condition_counts(
        category, ACTIVE_STATUSES, context.deadline
    )
    answered = {
        count.region: int(count.fetched.value)
        for count in counts
        if count.fetched.ok and count.fetched.value is not None
    }
    suppressed = suppress_partition(answered, context.services.policy.suppression_k)
    rows = []
    failures = []
    for count in counts:
        if effective is not None and count.region != effective:
            continue
        label = region_label(count.region, context.words)
        if count.region in answered:
            value = answered[count.region]
            rows.append(_row(count.region, label, Cell(value, value), count.region in suppressed))
        else:
            failures.append(_unavailable(count.source, count.fetched))
            rows.append(_failed_row(count.region, label, failures[-1]))
    if failures and len(failures) == len(rows):
        raise failures[0]  # nothing asked for could be computed
    return rows


def region_label(region: str, words: Words) -> str:
    """A region's name in the reader's language; else its code made readable
    (``north-kazakhstan`` -> ``North Kazakhstan``)."""
    return words.known(REGION_LABELS, region) or region.replace("-", " ").replace("_", " ").title()


# --- tables -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _View:
    """One source answer: the rows of the national view or of one region's view."""

    row: str
    rows: tuple[SourceRow, ...]


async def _table_stats(
    context: RequestContext,
    kind: SourceKind,
    load: ViewLoader,
    effective: str | None,
    derive: Callable[[Sequence[SourceRow], str], list[SourceRow]] | None,
    labels: str | None,
) -> list[StatRow]:
    """Fetch the national and regional views, suppress on the whole table, return one row;
    keys labelled from the ``labels`` table of the reader's language where it has them."""
    regions = known_regions(context)
    asked: list[str | None] = [None] if derive is not None else [None, *regions]
    fetched = await asyncio.gather(*(load(view) for view in asked))
    source = context.services.sources.source_of(kind) or kind.value
    for result in fetched:
        if result is None:
            raise SourceUnavailable(source, "not configured")
        if not result.ok:
            raise _unavailable(source, result)
    answers = dict(zip(asked, (tuple(result.value or ()) for result in fetched), strict=True))
    views = [_View(NATIONAL, answers[None])]
    for region in regions:
        rows = derive(answers[None], region) if derive is not None else answers[region]
        views.append(_View(region, tuple(rows)))
    cells, latent, source_labels = _table(views)
    suppressed = suppress_table(cells, context.services.policy.suppression_k, latent)
    shown = NATIONAL if effective is None else effective
    view = next(v for v in views if v.row == shown)
    out = []
    for source_row in view.rows:
        coord = (shown, source_row.key)
        cell = cells.get(coord) or _cell(source_row)
        label = source_row.label or source_labels.get(source_row.key)
        if labels is not None:
            label = context.words.known(labels, source_row.key) or label
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


# --- failures -------------------------------------------------------------------------------


def _unavailable(source: str, result: Fetched[Any]) -> SourceUnavailable:
    return SourceUnavailable(source, result.error.kind if result.error else "no answer")
