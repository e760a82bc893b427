"""Kazakhstan's one clock: the national time zone (tzdata), today's date, local dates.

Every local date the gateway derives (ages, care windows, period filters, due months) and
every source time written without an offset is read on this clock, so that no two modules can
disagree about which day an instant falls on. Almaty moved from UTC+6 to UTC+5 on 2024-03-01
(the single national zone); tzdata knows both, a fixed offset would not.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

# Also the zone of source times written without an offset (SOURCES.md): Asia/Almaty
# wall-clock time, +06:00 before 2024-03-01, +05:00 since.
KAZAKHSTAN = ZoneInfo("Asia/Almaty")


def now() -> datetime:
    """The current moment, in Kazakhstan's time zone."""
    return datetime.now(KAZAKHSTAN)


def today() -> date:
    """Today's date in Kazakhstan."""
    return now().date()


def local_date(moment: datetime) -> date:
    """The calendar day ``moment`` falls on in Kazakhstan."""
    return moment.astimezone(KAZAKHSTAN).date()


def local_time(moment: datetime) -> datetime:
    """``moment`` in Kazakhstan's time zone; a naive one is taken as Kazakhstan wall-clock time."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=KAZAKHSTAN)
    return moment.astimezone(KAZAKHSTAN)


def age_on(birth_date: date | None, day: date) -> int | None:
    """Whole years of age on ``day`` (a 29 February birthday comes on 1 March otherwise)."""
    if birth_date is None:
        return None
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)
