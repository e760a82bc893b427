"""Current medicines: what the clinical records, the prescriptions and the pharmacies say is taken.

A medicine is current when an active EHR ``MedicationStatement`` says so, when the drug
provision system holds an active prescription of it, or when a pharmacy dispensed it and the
supply still covers today (a patient who collects gliclazide every month takes it, whatever the
clinical record says). One entry per ATC code, with every record that holds it. Dose, times a
day, route and since come from the latest active statement, else the latest active
prescription, else the latest covering dispensation and the prescription it names.
Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from gateway import records as rec
from gateway.clock import local_date

STATEMENT = "STATEMENT"
PRESCRIPTION = "PRESCRIPTION"
DISPENSATION = "DISPENSATION"
ACTIVE = "active"
# Spellings of one unit, so that "mcg" doses and "ug" strengths are seen to agree.
_UNIT_SPELLINGS = {"mcg": "ug", "µg": "ug", "microgram": "ug", "[iu]": "iu", "ml": "ml"}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record that says a medicine is current: its kind and where it came from."""

    kind: str  # STATEMENT, PRESCRIPTION or DISPENSATION
    provenance: rec.Provenance
    covers_until: date | None = None  # dispensations: the last day the supply lasts


@dataclass(frozen=True, slots=True)
class CurrentMedicine:
    """A medicine taken today, with the dose of the record that describes it best."""

    code: rec.Coding
    name: str
    dose: rec.Quantity | None
    times_per_day: int | None
    route: str | None
    since: date | None
    strength: rec.Quantity | None  # of the product, when the source gives it (the DPS does)
    provenance: rec.Provenance
    evidence: tuple[Evidence, ...]

    @property
    def pharmacy_only(self) -> bool:
        """True when only a pharmacy's dispensation shows the medicine."""
        return all(item.kind == DISPENSATION for item in self.evidence)


def same_unit(a: str | None, b: str | None) -> bool:
    """Whether two unit spellings name the same unit (mg and mg, ug and mcg)."""
    if not a or not b:
        return False
    return _unit(a) == _unit(b)


def supply_days(dispensation: rec.Dispensation, prescription: rec.Prescription) -> float | None:
    """How many days a dispensation lasts at the prescribed dose.

    The quantity over the units taken a day (dose / strength x times a day) when dose and
    strength share a unit, as tablets, capsules and syringes do; otherwise (bottles, pens,
    inhalers) the prescription's duration. None when neither can be worked out.
    """
    strength = dispensation.strength or prescription.strength
    dose, times = prescription.dose, prescription.times_per_day
    quantity = dispensation.quantity
    if (
        strength is not None
        and dose is not None
        and times
        and quantity is not None
        and strength.value > 0
        and dose.value > 0
        and same_unit(dose.unit, strength.unit)
    ):
        return quantity / (dose.value / strength.value * times)
    if prescription.duration_days is not None and prescription.duration_days > 0:
        return float(prescription.duration_days)
    return None


def last_covered_day(dispensed_on: date, supply: float) -> date | None:
    """The last day a supply of ``supply`` days dispensed on ``dispensed_on`` lasts."""
    if supply <= 0:
        return None
    return dispensed_on + timedelta(days=math.ceil(supply) - 1)


def current_medicines(
    statements: Iterable[rec.MedicationStatement],
    prescriptions: Iterable[rec.Prescription],
    dispensations: Iterable[rec.Dispensation],
    today: date,
) -> list[CurrentMedicine]:
    """The union of active statements, active prescriptions and covering dispensations, by ATC."""
    prescriptions = list(prescriptions)
    by_id = {rx.id: rx for rx in prescriptions}
    entries: dict[str, CurrentMedicine] = {}
    evidence: dict[str, dict[tuple[str, str], Evidence]] = {}

    def add(entry: CurrentMedicine, item: Evidence) -> None:
        atc = entry.code.code
        entries.setdefault(atc, entry)
        # One item per kind and system: the first seen is the latest (inputs are newest first).
        evidence.setdefault(atc, {}).setdefault((item.kind, item.provenance.source), item)

    active = [s for s in statements if s.status == ACTIVE and s.medication is not None]
    for statement in sorted(active, key=lambda s: _moment(s.since), reverse=True):
        add(_from_statement(statement), Evidence(STATEMENT, statement.provenance))
    issued = [rx for rx in prescriptions if rx.status == ACTIVE and rx.drug is not None]
    for rx in sorted(issued, key=lambda r: _moment(r.issued_at), reverse=True):
        since = local_date(rx.issued_at) if rx.issued_at else None
        entry = _from_prescription(rx, rx.drug, rx.strength, since)
        add(entry, Evidence(PRESCRIPTION, rx.provenance))
    dispensed = [d for d in dispensations if d.drug is not None and d.dispensed_at is not None]
    for item in sorted(dispensed, key=lambda d: _moment(d.dispensed_at), reverse=True):
        rx = by_id.get(item.prescription_id or "")
        if rx is None:
            continue  # without the prescription, neither the dose nor the supply is known
        supply = supply_days(item, rx)
        day = local_date(item.dispensed_at)  # type: ignore[arg-type]
        until = last_covered_day(day, supply) if supply is not None else None
        if until is None or not day <= today <= until:
            continue  # ran out, or dated after today (a recording error, not a supply)
        strength = item.strength or rx.strength
        entry = _from_prescription(rx, item.drug, strength, day)  # type: ignore[arg-type]
        add(entry, Evidence(DISPENSATION, item.provenance, until))
    return sorted(
        (
            dataclasses.replace(entry, evidence=tuple(evidence[atc].values()))
            for atc, entry in entries.items()
        ),
        key=lambda m: (m.name.lower(), m.code.code),
    )


def _from_statement(statement: rec.MedicationStatement) -> CurrentMedicine:
    medication = statement.medication
    assert medication is not None
    return CurrentMedicine(
        code=medication,
        name=statement.name or medication.display or medication.code,
        dose=statement.dose,
        times_per_day=statement.times_per_day,
        route=statement.route,
        since=local_date(statement.since) if statement.since else None,
        strength=None,
        provenance=statement.provenance,
        evidence=(),
    )


def _from_prescription(
    rx: rec.Prescription, drug: rec.Coding | None, strength: rec.Quantity | None, since: date | None
) -> CurrentMedicine:
    code = drug or rx.drug
    assert code is not None
    return CurrentMedicine(
        code=code,
        name=rx.inn or code.display or code.code,
        dose=rx.dose,
        times_per_day=rx.times_per_day,
        route=rx.route,
        since=since,
        strength=strength,
        provenance=rx.provenance,
        evidence=(),
    )


def _unit(unit: str) -> str:
    text = unit.strip().lower()
    return _UNIT_SPELLINGS.get(text, text)


def _moment(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")
