"""Managers' aggregates: pushed down to the source systems, merged, suppressed, scoped.

Every figure is computed by the system that owns the data (DPS and ambulance stats endpoints,
each regional EHR's ``_summary=count``); the gateway never pulls a person's records to count
them. Each call goes through the fetcher (cached for the source's ``ttl_s``, keyed by a hash
of the query parameters, stale-if-error, deadline, retries, breaker).

Dispensations and calls are asked for periods of whole calendar months that are over
(``periods.py``) and answered month by month (``month_stats.py``); the rule and its limits are
in ``docs/suppression.md``. DPS and the ambulance dispatch are one system each; if a view
cannot be had (no stale copy either), the field is SOURCE_UNAVAILABLE.

Prevalence asks one EHR per region: a region that fails yields its row with null figures and a
SOURCE_UNAVAILABLE error at that row's ``count`` and ``patients``; the other regions still
come, suppressed as if the failed region's figure were public (it will be, once the region
answers). Only when no region asked for could answer is the whole field SOURCE_UNAVAILABLE.
It counts Conditions (the contract's ``_summary=count``): clinical status active, recurrence
or relapse (the passport's ACTIVE), any category. That equals the number of patients when each
patient has at most one such Condition per ICD-10 category in a region: true of problem lists
(one entry per problem) and of the demo population's chronic categories (one problem-list
Condition per person and category, in one region). The count is shown as both ``count`` and
``patients``.
"""

from __future__ import annotations

import re
from datetime import date

from gateway import clock
from gateway.auth.policy import stats_region
from gateway.contract.types import StatRow
from gateway.errors import BadUserInput, SourceUnavailable
from gateway.language import Words
from gateway.resolvers.context import RequestContext
from gateway.resolvers.month_stats import CALLS, DISPENSATIONS, MonthlyStats, stat_row, unavailable
from gateway.resolvers.periods import managers_months
from gateway.resolvers.suppression import Cell, suppress_partition

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


# --- input ------------------------------------------------------------------------------------


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
    months = managers_months(from_date, to_date, clock.today())
    stats = MonthlyStats(context, DISPENSATIONS, months, known_regions(context))
    group = group_by.lower()
    rows = await stats.rows(effective, group)
    return labelled(rows, context.words, DISPENSATION_LABELS.get(group))


async def call_stats(
    context: RequestContext, from_date: date, to_date: date, region: str | None, group_by: str
) -> list[StatRow]:
    """Ambulance calls by ``group_by`` (diagnosis, outcome, station, month), suppressed."""
    effective = scope(context, region)
    months = managers_months(from_date, to_date, clock.today())
    stats = MonthlyStats(context, CALLS, months, known_regions(context))
    group = group_by.lower()
    rows = await stats.rows(effective, group)
    return labelled(rows, context.words, CALL_LABELS.get(group))


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
            rows.append(
                stat_row(count.region, label, Cell(value, value), count.region in suppressed)
            )
        else:
            failures.append(unavailable(count.source, count.fetched))
            rows.append(_failed_row(count.region, label, failures[-1]))
    if failures and len(failures) == len(rows):
        raise failures[0]  # nothing asked for could be computed
    return rows


def region_label(region: str, words: Words) -> str:
    """A region's name in the reader's language; else its code made readable
    (``north-kazakhstan`` -> ``North Kazakhstan``)."""
    return words.known(REGION_LABELS, region) or region.replace("-", " ").replace("_", " ").title()


def labelled(rows: list[StatRow], words: Words, table: str | None) -> list[StatRow]:
    """Rows whose keys the ``table`` of the reader's language names, with that label (the
    source's own label kept for a key the table lacks)."""
    if table is not None:
        for row in rows:
            row.label = words.known(table, row.key) or row.label
    return rows


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
