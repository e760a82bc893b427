"""A medication's daily dose against the published dose reference for the patient's age.

The reference is data (``gateway/data/dose_reference.json``), each band with its public source.
A band covers an age range (and, where children change to the adult dose at some weight, a
weight range) and gives a weight-based daily range (mg/kg/day), an absolute daily maximum, or
both. The absolute maximum applies with or without a weight: no weight is ever needed to say
that 8 g of paracetamol a day is too much. Where the reference has nothing for a medicine or
an age, the answer is NO_REFERENCE with a reason true for that age: the check never guesses.
Everything here is a pure function of its arguments. Notes are ``Phrase``s: the reader's
language is chosen when the answer is shaped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.language import Phrase

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
# A strength per volume: "mg/ml", "mg/5 ml", "g/ml", "ug/ml" (the amount in that many ml).
_PER_VOLUME = re.compile(r"^\s*([a-zµ]+)\s*/\s*([0-9]+(?:\.[0-9]+)?)?\s*ml\s*$", re.IGNORECASE)
_ML = frozenset({"ml", "milliliter", "millilitre"})


NO_WEIGHT = Phrase.of("no body weight recorded")


class Verdict(Enum):
    """How a daily dose compares with the reference (the contract's ``DoseVerdict``)."""

    WITHIN_RANGE = "WITHIN_RANGE"
    ABOVE_RANGE = "ABOVE_RANGE"
    BELOW_RANGE = "BELOW_RANGE"
    NO_REFERENCE = "NO_REFERENCE"
    NO_WEIGHT = "NO_WEIGHT"


@dataclass(frozen=True, slots=True)
class DoseBand:
    """A daily dose range for ages [from, to) months and, if set, a weight range [from, below).

    Weight-based when it has a mg/kg/day maximum (and maybe a minimum); ``max_daily_mg`` is an
    absolute ceiling whatever the weight.
    """

    from_age_months: int
    to_age_months: int
    min_mg_per_kg_per_day: float | None
    max_mg_per_kg_per_day: float | None
    max_daily_mg: float | None
    below_weight_kg: float | None
    from_weight_kg: float | None
    source: str

    @property
    def weight_based(self) -> bool:
        """Whether the band's range is per kilogram of body weight."""
        return self.max_mg_per_kg_per_day is not None

    def covers_age(self, age_months: int) -> bool:
        """Whether the band is for a patient of this age."""
        return self.from_age_months <= age_months < self.to_age_months

    def covers_weight(self, weight_kg: float) -> bool:
        """Whether the band is for a patient of this weight."""
        if self.below_weight_kg is not None and weight_kg >= self.below_weight_kg:
            return False
        return self.from_weight_kg is None or weight_kg >= self.from_weight_kg


@dataclass(frozen=True, slots=True)
class DrugReference:
    """One medicine's bands, and why there is none when it has none at all."""

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
    """What is taken: drug, dose per intake with its unit, intakes per day, product strength."""

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
    reference_max_daily_mg: float | None
    verdict: Verdict
    notes: tuple[Phrase, ...] = ()

    @property
    def note(self) -> str | None:
        """The notes in English, one sentence each, or None when there are none."""
        return "; ".join(note.english() for note in self.notes) or None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict, and what it rests on when that is worth saying (the tolerance, a ceiling)."""

    verdict: Verdict
    why: Phrase | None = None


def mg_per_ml(strength_value: float | None, strength_unit: str | None) -> float | None:
    """Milligrams in one ml of a product whose strength is per volume (24 mg/ml, 120 mg/5 ml)."""
    if strength_value is None or strength_value <= 0 or not strength_unit:
        return None
    found = _PER_VOLUME.match(strength_unit)
    if found is None:
        return None
    factor = _MG_PER_UNIT.get(found.group(1).lower())
    volume = float(found.group(2) or 1)
    if factor is None or volume <= 0:
        return None
    return strength_value * factor / volume


def daily_dose_mg(
    value: float | None,
    unit: str | None,
    times_per_day: int | None,
    strength_value: float | None = None,
    strength_unit: str | None = None,
) -> float | None:
    """Dose per intake times intakes per day, in mg; a dose in ml is converted with the
    product's strength when it is per volume. None when it cannot be known."""
    if value is None or times_per_day is None or value <= 0 or times_per_day <= 0:
        return None
    spelled = (unit or "").strip().lower()
    factor = _MG_PER_UNIT.get(spelled)
    if factor is None and spelled in _ML:
        factor = mg_per_ml(strength_value, strength_unit)
    if factor is None:
        return None
    return round(value * factor * times_per_day, 6)  # micrograms matter for inhalers


def age_in_months(birth_date: date, on: date) -> int:
    """Whole months of age on ``on``."""
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month
    if on.day < birth_date.day:
        months -= 1
    return months


def age_phrase(months: int) -> Phrase:
    """An age as people say it: "under 1 month", "5 months", "12 years"."""
    if months < 1:
        return Phrase.of("under 1 month")
    if months == 1:
        return Phrase.of("{months} month", months=months)
    if months < 24:
        return Phrase.of("{months} months", months=months)
    return Phrase.of("{years} years", years=months // 12)


def describe_age(months: int) -> str:
    """``age_phrase`` in English."""
    return age_phrase(months).english()


def weight_notes(weight: Weight, birth_date: date | None, on: date) -> list[Phrase]:
    """Why a weight may no longer be the patient's: too old, or before a young child's birthday."""
    notes = []
    age_days = (on - weight.measured_on).days
    if age_days > STALE_WEIGHT_DAYS:
        notes.append(
            Phrase.of(
                "weight measured {date}, more than {days} days ago",
                date=weight.measured_on.isoformat(),
                days=STALE_WEIGHT_DAYS,
            )
        )
    if birth_date is not None and age_in_months(birth_date, on) < FAST_GROWTH_YEARS * 12:
        last_birthday = _last_birthday(birth_date, on)
        if last_birthday > birth_date and weight.measured_on < last_birthday:
            notes.append(
                Phrase.of(
                    "weight measured before the child's last birthday ({date})",
                    date=last_birthday.isoformat(),
                )
            )
    return notes


def judge(daily_mg: float, weight_kg: float | None, band: DoseBand, tolerance: float) -> Judgement:
    """The verdict of a daily dose in one band: the absolute maximum first, then the weight-based
    range widened by the rounding tolerance (saying so when only the tolerance keeps it in)."""
    cap = band.max_daily_mg
    if cap is not None and _exceeds(daily_mg, cap):
        return Judgement(
            Verdict.ABOVE_RANGE, Phrase.of("above the maximum of {cap:g} mg a day", cap=cap)
        )
    if not band.weight_based:
        return Judgement(Verdict.WITHIN_RANGE)
    if weight_kg is None:
        return Judgement(Verdict.NO_WEIGHT, NO_WEIGHT)
    per_kg = daily_mg / weight_kg
    top = band.max_mg_per_kg_per_day or 0.0
    upper = top * weight_kg
    if _exceeds(daily_mg, upper * (1 + tolerance)):
        return Judgement(Verdict.ABOVE_RANGE)
    if _exceeds(daily_mg, upper):
        return Judgement(Verdict.WITHIN_RANGE, _tolerated(per_kg, top, tolerance, maximum=True))
    if band.min_mg_per_kg_per_day is None:
        return Judgement(Verdict.WITHIN_RANGE)
    lowest = band.min_mg_per_kg_per_day * weight_kg
    # A heavy child at the daily ceiling is not under-dosed for being below the mg/kg minimum.
    if cap is not None:
        lowest = min(lowest, cap)
    if _exceeds(lowest * (1 - tolerance), daily_mg):
        return Judgement(Verdict.BELOW_RANGE)
    if _exceeds(lowest, daily_mg):
        bottom = band.min_mg_per_kg_per_day
        return Judgement(Verdict.WITHIN_RANGE, _tolerated(per_kg, bottom, tolerance, maximum=False))
    return Judgement(Verdict.WITHIN_RANGE)


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
    daily = daily_dose_mg(
        medication.dose_value,
        medication.dose_unit,
        medication.times_per_day,
        medication.strength_value,
        medication.strength_unit,
    )
    per_kg = round(daily / weight.kg, 2) if daily is not None and weight is not None else None
    notes = weight_notes(weight, birth_date, on) if weight is not None else []
    converted = _conversion_note(medication)

    def result(verdict: Verdict, band: DoseBand | None, why: Phrase | None) -> DoseAssessment:
        return DoseAssessment(
            atc=medication.atc,
            name=medication.name,
            daily_dose_mg=daily,
            weight_kg=weight.kg if weight is not None else None,
            mg_per_kg_per_day=per_kg,
            reference_min_mg_per_kg_per_day=band.min_mg_per_kg_per_day if band else None,
            reference_max_mg_per_kg_per_day=band.max_mg_per_kg_per_day if band else None,
            reference_max_daily_mg=band.max_daily_mg if band else None,
            verdict=verdict,
            notes=tuple(n for n in (why, converted, *notes) if n is not None),
        )

    drug = reference.drugs.get(medication.atc)
    if drug is None:
        return result(Verdict.NO_REFERENCE, None, Phrase.of("no dose reference for this medicine"))
    if not drug.bands:
        return result(Verdict.NO_REFERENCE, None, Phrase.of(drug.otherwise))
    if birth_date is None:
        why = Phrase.of("birth date unknown, so no age band applies")
        return result(Verdict.NO_REFERENCE, None, why)
    age_months = age_in_months(birth_date, on)
    for_age = [band for band in drug.bands if band.covers_age(age_months)]
    if not for_age:
        return result(Verdict.NO_REFERENCE, None, _uncovered_age(drug, age_months))
    if weight is not None:
        band = next((b for b in for_age if b.covers_weight(weight.kg)), None)
        if band is None:
            why = Phrase.of(
                "no dose reference for a weight of {weight:g} kg at this age", weight=weight.kg
            )
            return result(Verdict.NO_REFERENCE, None, why)
        if daily is None:
            return result(Verdict.NO_REFERENCE, band, _unknown_daily(medication))
        judged = judge(daily, weight.kg, band, reference.tolerance)
        return result(judged.verdict, band, judged.why)
    # No weight: the bands of every weight this age may have could apply.
    shown = for_age[0]
    if daily is None:
        return result(Verdict.NO_REFERENCE, shown, _unknown_daily(medication))
    caps = [b.max_daily_mg for b in for_age]
    if all(cap is not None for cap in caps) and _exceeds(daily, max(caps)):  # type: ignore[type-var]
        highest = max(for_age, key=lambda b: b.max_daily_mg or 0.0)
        why = Phrase.of(
            "above the maximum of {cap:g} mg a day for any weight at this age",
            cap=highest.max_daily_mg,
        )
        return result(Verdict.ABOVE_RANGE, highest, why)
    if len(for_age) == 1 and not shown.weight_based:
        judged = judge(daily, None, shown, reference.tolerance)
        return result(judged.verdict, shown, judged.why)
    over = [b for b in for_age if b.max_daily_mg is not None and _exceeds(daily, b.max_daily_mg)]
    why = NO_WEIGHT
    if over:
        ceilings = tuple(_ceiling(b) for b in over)
        why = Phrase.of(
            "no body weight recorded; above the maximum for {ceilings}", ceilings=ceilings
        )
    return result(Verdict.NO_WEIGHT, shown, why)


def parse_dose_reference(data: dict[str, Any]) -> DoseReference:
    """Build the reference from its JSON form; ValueError on anything inconsistent."""
    tolerance = float(data["roundingTolerance"]["fraction"])
    if not 0 <= tolerance < 0.5:
        raise ValueError("rounding tolerance must be a fraction below 0.5")
    drugs = {}
    for atc, entry in data["drugs"].items():
        bands = tuple(_band(atc, raw) for raw in entry.get("bands", ()))
        otherwise = str(entry.get("otherwise", ""))
        if not bands and not otherwise.strip():
            raise ValueError(f"{atc}: a medicine without bands needs the reason it has none")
        drugs[atc] = DrugReference(
            atc=atc, name=str(entry["name"]), bands=bands, otherwise=otherwise
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
        min_mg_per_kg_per_day=_optional_float(raw.get("minMgPerKgPerDay")),
        max_mg_per_kg_per_day=_optional_float(raw.get("maxMgPerKgPerDay")),
        max_daily_mg=_optional_float(raw.get("maxDailyMg")),
        below_weight_kg=_optional_float(raw.get("belowWeightKg")),
        from_weight_kg=_optional_float(raw.get("fromWeightKg")),
        source=str(raw["source"]),
    )
    if not 0 <= band.from_age_months < band.to_age_months:
        raise ValueError(f"{atc}: empty or negative age band")
    if band.max_mg_per_kg_per_day is None and band.max_daily_mg is None:
        raise ValueError(f"{atc}: a band needs a mg/kg/day maximum or a daily maximum")
    if band.min_mg_per_kg_per_day is not None and band.max_mg_per_kg_per_day is None:
        raise ValueError(f"{atc}: a mg/kg/day minimum needs a mg/kg/day maximum")
    low, high = band.min_mg_per_kg_per_day, band.max_mg_per_kg_per_day
    if high is not None and (high <= 0 or (low is not None and not 0 < low <= high)):
        raise ValueError(f"{atc}: reference minimum must be positive and not above the maximum")
    if band.max_daily_mg is not None and band.max_daily_mg <= 0:
        raise ValueError(f"{atc}: the daily maximum must be positive")
    if not band.source.strip():
        raise ValueError(f"{atc}: every band needs its public source")
    return band


def _uncovered_age(drug: DrugReference, age_months: int) -> Phrase:
    """Why no band applies, in words true for this patient's age."""
    youngest = min(b.from_age_months for b in drug.bands)
    oldest = max(b.to_age_months for b in drug.bands)
    patient = age_phrase(age_months)
    if age_months < youngest:
        return Phrase.of(
            "no dose reference under {age} (patient {patient})",
            age=age_phrase(youngest),
            patient=patient,
        )
    if age_months >= oldest:
        return Phrase.of(
            "no dose reference from {age} (patient {patient})",
            age=age_phrase(oldest),
            patient=patient,
        )
    return Phrase.of("no dose reference at this age (patient {patient})", patient=patient)


def _unknown_daily(medication: MedicationDose) -> Phrase:
    if (medication.dose_unit or "").strip().lower() in _ML:
        return Phrase.of("dose in ml and the product's strength per ml is not known")
    return Phrase.of("daily dose in mg unknown (dose, unit or frequency missing, or not a mass)")


def _conversion_note(medication: MedicationDose) -> Phrase | None:
    """Says how a dose in ml became mg."""
    if (medication.dose_unit or "").strip().lower() not in _ML:
        return None
    per_ml = mg_per_ml(medication.strength_value, medication.strength_unit)
    if per_ml is None:
        return None
    return Phrase.of(
        "{dose:g} ml at {strength:g} {unit} = {mg:g} mg a dose",
        dose=medication.dose_value,
        strength=medication.strength_value,
        unit=medication.strength_unit,
        mg=per_ml * (medication.dose_value or 0),
    )


def _tolerated(per_kg: float, limit: float, tolerance: float, *, maximum: bool) -> Phrase:
    if maximum:
        return Phrase.of(
            "within range only by the {tolerance:.0%} rounding tolerance: "
            "{per_kg:.1f} mg/kg/day against a maximum of {limit:g}",
            tolerance=tolerance,
            per_kg=per_kg,
            limit=limit,
        )
    return Phrase.of(
        "within range only by the {tolerance:.0%} rounding tolerance: "
        "{per_kg:.1f} mg/kg/day against a minimum of {limit:g}",
        tolerance=tolerance,
        per_kg=per_kg,
        limit=limit,
    )


def _ceiling(band: DoseBand) -> Phrase:
    if band.below_weight_kg is not None:
        return Phrase.of(
            "patients under {weight:g} kg at this age ({cap:g} mg a day)",
            weight=band.below_weight_kg,
            cap=band.max_daily_mg,
        )
    if band.from_weight_kg is not None:
        return Phrase.of(
            "patients of {weight:g} kg or more at this age ({cap:g} mg a day)",
            weight=band.from_weight_kg,
            cap=band.max_daily_mg,
        )
    return Phrase.of("patients at this age ({cap:g} mg a day)", cap=band.max_daily_mg)


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
