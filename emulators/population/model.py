"""The model's shapes (people, visits, organisations, staff) and small FHIR value helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from emulators import population_data as D
from emulators.clock import local_iso

HISTORY_DAYS = 3 * 365
OVERDUE_YEARS = 5  # a screening older than this is overdue under any national interval
Json = dict[str, Any]
Token = tuple[str, str, str]


def iso(moment: datetime) -> str:
    """An ISO 8601 date-time with its Asia/Almaty offset (moments are naive local times)."""
    return local_iso(moment)


def coding(system: str, code: str, display: str | None) -> Json:
    """A Coding as both FHIR and the ground truth write it."""
    return {"system": system, "code": code, "display": display}


def icd10(code: str) -> Json:
    """An ICD-10 Coding as the EHRs write it (the Russian edition's title as display)."""
    return {"system": D.ICD10, "code": code, "display": D.ICD10_RU[code]}


def concept(system: str, code: str, display: str, text: str | None = None) -> Json:
    """A CodeableConcept with one coding and a text."""
    return {"coding": [coding(system, code, display)], "text": text or display}


def age_on(birth: date, day: date) -> int:
    """Completed years of age on a day."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def years_before(day: date, years: int) -> date:
    """The same calendar day some years earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@dataclass(slots=True)
class Org:
    """An organisation of the register."""

    fhir_id: str
    bin: str
    name: str
    type: str
    region: str
    code: str | None = None


@dataclass(slots=True)
class Staff:
    """A practitioner of the register and the organisation they work for."""

    fhir_id: str
    pid: str
    name: str
    fio: str
    qualification: str
    org: Org


@dataclass(slots=True)
class Visit:
    """An encounter of the model before it is written."""

    start: datetime
    end: datetime | None
    cls: str
    org: Org
    staff: Staff | None
    reason: Json | None
    reason_text: str | None = None
    acute: bool = False


@dataclass(slots=True)
class Person:
    """One person of the model while their records are generated."""

    index: int
    iin: str
    birth: date
    male: bool
    age: int
    region: str
    polyclinic: Org
    gp: Staff
    truth: Json
    regions: list[str] = field(default_factory=list)
    moved_at: date | None = None
    old_region: str | None = None
    old_polyclinic: Org | None = None
    old_gp: Staff | None = None
    local_ids: dict[str, str] = field(default_factory=dict)
    chronic: list[str] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)
    onsets: dict[str, date] = field(default_factory=dict)  # chronic code -> onset day
    implant: str | None = None
    warfarin_since: date | None = None
    # Since when a screening is excluded (code -> (day, reason)): active disease, removed organ.
    excluded_screenings: dict[str, tuple[date, str]] = field(default_factory=dict)
    # (ATC, dispensed day, prescription id) of dispensations whose supply covers today.
    supplied: list[tuple[str, date, str]] = field(default_factory=list)
    edd: date | None = None
    z_height: float = 0.0
    z_bmi: float = 0.0

    def region_at(self, day: date) -> str:
        """The region whose EHR holds a record of that day (movers: the old one before moving)."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_region  # type: ignore[return-value]
        return self.region

    def polyclinic_at(self, day: date) -> Org:
        """The polyclinic the person was attached to on that day."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_polyclinic  # type: ignore[return-value]
        return self.polyclinic

    def gp_at(self, day: date) -> Staff:
        """The general practitioner the person had on that day."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_gp  # type: ignore[return-value]
        return self.gp
