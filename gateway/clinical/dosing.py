"""A medication's daily dose against the patient's weight and a weight-based reference range.

The reference is data (``gateway/data/dose_reference.json``), each figure with its public
source. A drug, or an age, without a weight-based band is NO_REFERENCE: the check never
guesses. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

STALE_WEIGHT_DAYS = 90
# A child's weight changes fast before 2: a weight from before the last birthday is suspect.
FAST_GROWTH_YEARS = 2
_MG_PER_UNIT = {
    "mg": 1.0,
    "g": 1000.0,
    "ug": 0.001,
    "mcg": 0.001,
    "µg": 0.001,
    "microgram": 0.001,
}


class Verdict(Enum):
    """How a daily dose compares with the reference (the contract's ``DoseVerdict``)."""

    WITHIN_RANGE = "WITHIN_RANGE"
    ABOVE_RANGE = "ABOVE_RANGE"
    BELOW_RANGE = "BELOW_RANGE"
    NO_REFERENCE = "NO_REFERENCE"
    NO_WEIGHT = "NO_WEIGHT"


@dataclass(frozen=True, slots=True)
class DoseBand:
    """A weight-based daily range for ages [from, to) months and, if set, weights below a limit."""

    from_age_months: int
    to_age_months: int
    min_mg_per_kg_per_day: float
    max_mg_per_kg_per_day: float
    max_daily_mg: float | None
    below_weight_kg: float | None
    source: str

    def covers_age(self, age_months: int) -> bool:
        """Whether the band is for a patient of this age."""
        return self.from_age_months <= age_months < self.to_age_months

    def covers_weight(self, weight_kg: float) -> bool:
        """Whether the band is for a patient of this weight."""
        return self.below_weight_kg is None or weight_kg < self.below_weight_kg


@dataclass(frozen=True, slots=True)
class DrugReference:
    """One medicine's weight-based bands, and why there is none outside them."""

    atc: str
    name: str
    bands: tuple[DoseBand, ...]
    otherwise: str


@dataclass(frozen=True, slots=True)
class DoseReference:
    """The whole reference: drugs by ATC code and the rounding tolerance."""

    tolerance: float
    drugs: dict[str, DrugReference]


@dataclass(frozen=True, slots=True)
class Weight:
    """A body weight and the day it was measured."""

    kg: float
    measured_on: date


@dataclass(frozen=True, slots=True)
class MedicationDose:
    """What is taken: drug, dose per intake with its unit, intakes per day."""

    atc: str
    name: str
    dose_value: float | None
    dose_unit: str | None
    times_per_day: int | None
    strength_value: float | None = None  # of the product, e.g. 24 for 24 mg/ml
    strength_unit: str | None = None  # e.g. "mg/ml"


@dataclass(frozen=True, slots=True)
class DoseAssessment:
    """One medication's check: daily dose, weight, mg/kg/day, reference range and verdict."""

    atc: str
    name: str
    daily_dose_mg: float | None
    weight_kg: float | None
    mg_per_kg_per_day: float | None
    reference_min_mg_per_kg_per_day: float | None
    reference_max_mg_per_kg_per_day: float | None
    verdict: Verdict
    note: str | None


def daily_dose_mg(value: float | None, unit: str | None, times_per_day: int | None) -> float | None:
    """Dose per intake times intakes per day, in mg; None unless the unit is a mass unit."""
    if value is None or times_per_day is None or value <= 0 or times_per_day <= 0:
        return None
    factor = _MG_PER_UNIT.get((unit or "").strip().lower())
    if factor is None:
        return None
    return round(value * factor * times_per_day, 3)


def age_in_months(birth_date: date, on: date) -> int:
    """Whole months of age on ``on``."""
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month
    if on.day < birth_date.day:
        months -= 1
    return months


def weight_notes(weight: Weight, birth_date: date | None, on: date) -> list[str]:
    """Why a weight may no longer be the patient's: too old, or before a young child's birthday."""
    notes = []
    age_days = (on - weight.measured_on).days
    if age_days > STALE_WEIGHT_DAYS:
        notes.append(
            f"weight measured {weight.measured_on.isoformat()}, "
            f"more than {STALE_WEIGHT_DAYS} days ago"
        )
    if birth_date is not None and age_in_months(birth_date, on) < FAST_GROWTH_YEARS * 12:
        last_birthday = _last_birthday(birth_date, on)
        if last_birthday > birth_date and weight.measured_on < last_birthday:
            notes.append(
                f"weight measured before the child's last birthday ({last_birthday.isoformat()})"
            )
    return notes


def judge(daily_mg: float, weight_kg: float, band: DoseBand, tolerance: float) -> Verdict:
    """The verdict of a daily dose for a weight: the range widened by the rounding tolerance."""
    cap = band.max_daily_mg
    if cap is not None and _exceeds(daily_mg, cap):
        return Verdict.ABOVE_RANGE
    upper = band.max_mg_per_kg_per_day * weight_kg * (1 + tolerance)
    lowest = band.min_mg_per_kg_per_day * weight_kg
    # A heavy child at the daily ceiling is not under-dosed for being below the mg/kg minimum.
    if cap is not None:
        lowest = min(lowest, cap)
    if _exceeds(daily_mg, upper):
        return Verdict.ABOVE_RANGE
    if _exceeds(lowest * (1 - tolerance), daily_mg):
        return Verdict.BELOW_RANGE
    return Verdict.WITHIN_RANGE


def assess(
    medication: MedicationDose,
    weight: Weight | None,
    birth_date: date | None,
    on: date,
    reference: DoseReference,
) -> DoseAssessment:
    """Check one medication's daily dose against the reference for the patient's age and weight."""
    if weight is not None and weight.kg <= 0:
        weight = None
    daily = daily_dose_mg(medication.dose_value, medication.dose_unit, medication.times_per_day)
    per_kg = round(daily / weight.kg, 2) if daily is not None and weight is not None else None
    notes = weight_notes(weight, birth_date, on) if weight is not None else []

    def result(verdict: Verdict, band: DoseBand | None, why: str | None) -> DoseAssessment:
        return DoseAssessment(
            atc=medication.atc,
            name=medication.name,
            daily_dose_mg=daily,
            weight_kg=weight.kg if weight is not None else None,
            mg_per_kg_per_day=per_kg,
            reference_min_mg_per_kg_per_day=band.min_mg_per_kg_per_day if band else None,
            reference_max_mg_per_kg_per_day=band.max_mg_per_kg_per_day if band else None,
            verdict=verdict,
            note="; ".join([*([why] if why else []), *notes]) or None,
        )

    drug = reference.drugs.get(medication.atc)
    if drug is None:
        return result(Verdict.NO_REFERENCE, None, "no dose reference for this medicine")
    if birth_date is None:
        return result(Verdict.NO_REFERENCE, None, "birth date unknown, so no age band applies")
    age_months = age_in_months(birth_date, on)
    for_age = [band for band in drug.bands if band.covers_age(age_months)]
    if not for_age:
        return result(Verdict.NO_REFERENCE, None, drug.otherwise or "no weight-based reference")
    if weight is None:
        return result(Verdict.NO_WEIGHT, for_age[0], "no body weight recorded")
    band = next((b for b in for_age if b.covers_weight(weight.kg)), None)
    if band is None:
        return result(Verdict.NO_REFERENCE, None, drug.otherwise or "no weight-based reference")
    if daily is None:
        return result(
            Verdict.NO_REFERENCE, band, "daily dose in mg unknown (dose, unit or frequency missing)"
        )
    verdict = judge(daily, weight.kg, band, reference.tolerance)
    why = None
    if band.max_daily_mg is not None and _exceeds(daily, band.max_daily_mg):
        why = f"above the maximum of {band.max_daily_mg:g} mg a day"
    return result(verdict, band, why)


def parse_dose_reference(data: dict[str, Any]) -> DoseReference:
    """Build the reference from its JSON form; ValueError on anything inconsistent."""
    tolerance = float(data["roundingTolerance"]["fraction"])
    if not 0 <= tolerance < 0.5:
        raise ValueError("rounding tolerance must be a fraction below 0.5")
    drugs = {}
    for atc, entry in data["drugs"].items():
        bands = tuple(_band(atc, raw) for raw in entry.get("bands", ()))
        drugs[atc] = DrugReference(
            atc=atc, name=str(entry["name"]), bands=bands, otherwise=str(entry.get("otherwise", ""))
        )
    return DoseReference(tolerance=tolerance, drugs=drugs)


def load_dose_reference(path: Path | None = None) -> DoseReference:
    """The dose reference from ``path``, or the packaged one (read once)."""
    if path is None:
        return _packaged_reference()
    return parse_dose_reference(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _packaged_reference() -> DoseReference:
    text = resources.files("gateway").joinpath("data/dose_reference.json").read_text("utf-8")
    return parse_dose_reference(json.loads(text))


def _band(atc: str, raw: dict[str, Any]) -> DoseBand:
    band = DoseBand(
        from_age_months=int(raw["fromAgeMonths"]),
        to_age_months=int(raw["toAgeMonths"]),
        min_mg_per_kg_per_day=float(raw["minMgPerKgPerDay"]),
        max_mg_per_kg_per_day=float(raw["maxMgPerKgPerDay"]),
        max_daily_mg=_optional_float(raw.get("maxDailyMg")),
        below_weight_kg=_optional_float(raw.get("belowWeightKg")),
        source=str(raw["source"]),
    )
    if not 0 <= band.from_age_months < band.to_age_months:
        raise ValueError(f"{atc}: empty or negative age band")
    if not 0 < band.min_mg_per_kg_per_day <= band.max_mg_per_kg_per_day:
        raise ValueError(f"{atc}: reference minimum must be positive and not above the maximum")
    if not band.source.strip():
        raise ValueError(f"{atc}: every band needs its public source")
    return band


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _exceeds(value: float, limit: float) -> bool:
    """``value > limit``, ignoring float noise (550.0 is not above 500 x 1.1)."""
    return round(value - limit, 6) > 0


def _last_birthday(birth_date: date, on: date) -> date:
    """The latest birthday on or before ``on`` (29 February counts on 1 March)."""
    for year in (on.year, on.year - 1):
        try:
            birthday = birth_date.replace(year=year)
        except ValueError:
            birthday = date(year, 3, 1)
        if birthday <= on:
            return max(birthday, birth_date)
    return birth_date
