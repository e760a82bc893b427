"""Managers' periods: whole calendar months, months too thin to publish, and periods as sums.

Pure functions, no I/O (the rule in full: ``docs/suppression.md``).

**Whole months, over.** A manager's period runs from the first day of a month to the last day
of a month, at most ``MAX_MONTHS`` months, and ends before the current month; anything else is
BAD_USER_INPUT. Two periods then differ by whole months, never by a day, every period is a run
of months, and a month's figures are asked only once it is over (asked on two days, the
current month would tell the day in between).

**Dark months.** A month is dark when its totals cannot be published safely, for every grouping
alike: a region's (or the nation's) total covers fewer than ``k`` patients, the regions without
an EHR hold fewer than ``k`` between them, or a region's total exceeds the number of keys it lists
in some grouping by less than ``k`` (then the listed cells, each at least one, pin each other).
Nothing of a dark month is published: its totals, and every cell of it, are suppressed.

**Periods from months.** A figure over several months is published only when it is published
in each of its months (a month where the row does not occur adds nothing); otherwise it is
suppressed. Every published figure of a period is then a sum of published monthly figures, so
no choice of periods, overlapping or not, tells more than the months do, and each month is
protected on its own (``suppression.py``). Patients, which do not add up, are the exception: a
national row over several months shows them only when every region's row of it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.errors import BadUserInput
from gateway.resolvers.suppression import Cell, is_small

MAX_MONTHS = 36  # three years


def managers_months(from_date: date, to_date: date, today: date) -> tuple[date, ...]:
    """The months (their first days) of a manager's period; BAD_USER_INPUT unless the period is
    whole calendar months, ``from`` not after ``to``, at most ``MAX_MONTHS`` of them, and over
    by ``today`` (the current month's figures still change by the day)."""
    if from_date > to_date:
        raise BadUserInput("from must not be after to")
    if from_date.day != 1 or (to_date + timedelta(days=1)).day != 1:
        raise BadUserInput(
            "a manager's period is whole calendar months: from must be the first day of a month "
            "and to the last day of a month (e.g. from 2026-06-01 to 2026-08-31)"
        )
    if to_date >= date(today.year, today.month, 1):
        raise BadUserInput(
            "a manager's period must end by the last day of the previous month: the current "
            "month's figures still change by the day"
        )
    months = []
    month = from_date
    while month <= to_date:
        months.append(month)
        month = next_month(month)
    if len(months) > MAX_MONTHS:
        raise BadUserInput("the period may span at most {months} months", months=MAX_MONTHS)
    return tuple(months)


def next_month(month: date) -> date:
    """The first day of the following month."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def last_day(month: date) -> date:
    """The last day of ``month``."""
    return next_month(month) - timedelta(days=1)


def month_key(month: date) -> str:
    """The key sources give a month (``2026-06``)."""
    return f"{month.year:04d}-{month.month:02d}"


def thin_totals(totals: Mapping[str, Cell], national: str, k: int) -> bool:
    """True when a row total of the month is small: a region's or the nation's under ``k``
    patients, or the regions without an EHR (national minus the regions) under ``k``."""
    if any(cell.count > 0 and is_small(cell, k) for cell in totals.values()):
        return True
    nation = totals.get(national, Cell(0, 0))
    other = nation.count - sum(cell.count for row, cell in totals.items() if row != national)
    return 0 < other < k or other < 0  # below zero: the views disagree, publish nothing


def short_of_slack(totals: Mapping[str, Cell], listed: Mapping[str, int], k: int) -> bool:
    """True when some region's total exceeds the number of keys it lists (``listed``, one
    grouping) by less than ``k``: its listed cells, each at least one, would pin each other."""
    return any(
        cell.count > 0 and cell.count - listed.get(row, 0) < k
        for row, cell in totals.items()
        if row in listed
    )


@dataclass(frozen=True, slots=True)
class MonthCell:
    """One row of one view in one month: shown or suppressed there."""

    count: int
    amount_tiyn: int | None
    suppressed: bool


def period_shown(parts: Iterable[MonthCell | None]) -> bool:
    """A figure over a period is shown only when every month that holds it shows it."""
    return all(part is None or not part.suppressed for part in parts)


def national_patients_shown(regions: Iterable[Sequence[MonthCell | None]]) -> bool:
    """Whether a national row over several months may show its patients: only when every
    region's row of it over those months is shown (``regions``: each region's months).

    Patients do not add up, so they are the one figure of such a row its months do not give.
    A national figure bounds each region's from above, a region's shown month from below: with
    a region's row hidden, the two could pin its patients (five in June, seven nationally over
    June and July). Withheld, they leave it what its months allow, from the most of any month
    to the sum of all, which is as wide as a hidden month's own interval."""
    return all(period_shown(parts) for parts in regions)


def period_sum(parts: Sequence[MonthCell | None]) -> tuple[int, int | None]:
    """The count and amount (tiyn) a period's figure must equal: its months' sum."""
    present = [part for part in parts if part is not None]
    count = sum(part.count for part in present)
    amounts = [part.amount_tiyn for part in present]
    if any(amount is None for amount in amounts):
        return count, None
    return count, sum(amount for amount in amounts if amount is not None)
