"""Kazakhstan's one clock: the national time zone (tzdata), today's date, local dates.

Every local date the gateway derives (ages, care windows, period filters, due months) and
every source time written without an offset is read on this clock, so that no two modules can
disagree about which day an instant falls on. Almaty moved from UTC+6 to UTC+5 on 2024-03-01
(the single national zone); tzdata knows both, a fixed offset would not.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

KAZAKHSTAN = ZoneInfo("Asia/Almaty")
# Source times without an offset, as the emulators write them today (+05:00 for every date).
# Goes once the emulators write Asia/Almaty wall-clock time for dates before 2024-03-01 too.
SOURCE_LOCAL = timezone(timedelta(hours=5))


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
