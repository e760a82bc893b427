"""Kazakhstan's clock: Asia/Almaty from the tzdata package, and the offset searches compare in.

Local wall-clock times (the generator's moments, the LIS's ``dd.MM.yyyy HH:mm``) are
Asia/Almaty: UTC+06:00 until 2024-03-01, UTC+05:00 since (the single national zone). The
zone is read from the ``tzdata`` package rather than the system's database, so the same
seed gives the same bytes on every machine.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo


def _almaty() -> ZoneInfo:
    with resources.files("tzdata.zoneinfo.Asia").joinpath("Almaty").open("rb") as data:
        return ZoneInfo.from_file(data, key="Asia/Almaty")


ALMATY = _almaty()
# The single national offset since 2024: stored search dates are instants written at it, so
# comparing them as text compares them in time.
NATIONAL = timezone(timedelta(hours=5))


def local_iso(moment: datetime) -> str:
    """An ISO 8601 date-time with its real Almaty offset, from a naive local time."""
    return moment.isoformat() + _offset_of_hour(moment.toordinal() * 24 + moment.hour)


@cache
def _offset_of_hour(hour: int) -> str:
    """The Almaty offset ("+05:00") of a local hour; the generator asks the same few often."""
    day, in_day = divmod(hour, 24)
    local = datetime.fromordinal(day).replace(hour=in_day, tzinfo=ALMATY)
    return local.isoformat()[-6:]


def today_in_almaty() -> date:
    """The current calendar day in Kazakhstan."""
    return datetime.now(ALMATY).date()


def at_national_offset(moment: datetime) -> str:
    """An instant written at +05:00, seconds precision, without the offset (sortable text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ALMATY)
    return moment.astimezone(NATIONAL).replace(tzinfo=None).isoformat(timespec="seconds")


def search_date(value: str) -> str:
    """The stored search value of a FHIR date or dateTime: dates as they are, instants at +05:00."""
    if len(value) <= 10 or value.endswith("+05:00"):
        return value  # a date, or already at the national offset
    return at_national_offset(datetime.fromisoformat(value)) + "+05:00"


def local_midnight(day: date) -> str:
    """The start of an Almaty calendar day, as stored search values compare."""
    return at_national_offset(datetime(day.year, day.month, day.day))
