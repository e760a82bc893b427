"""Current medicines: the union of EHR statements, prescriptions and covering dispensations.

Expected values are worked by hand from the rule of docs/ground-truth.md (issue 12): a
dispensation lasts quantity / (dose / strength x times a day) days when dose and strength share
a unit, else the prescription's duration, and covers today while dispensed day <= today <
dispensed day + supply.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gateway import records as rec
from gateway.clinical import current_medicines as cm

TODAY = date(2026, 11, 25)
ALMATY = timezone(timedelta(hours=5))
ATC = "http://www.whocc.no/atc"


def _coding(code: str, name: str) -> rec.Coding:
    return rec.Coding(ATC, code, name)


def _statement(code: str, name: str, status: str = "active", since: date = date(2024, 1, 1)):
    return rec.MedicationStatement(
        status=status,
        medication=_coding(code, name),
        name=name,
        dose=rec.Quantity(500, "mg"),
        frequency=2,
        period=1,
        period_unit="d",
        times_per_day=2,
        route="oral",
        dosage_text=None,
        since=datetime.combine(since, datetime.min.time(), ALMATY),
        provenance=rec.Provenance("ehr-astana", "astana"),
    )


def _prescription(
    rx_id: str,
    code: str = "A10BB09",
    status: str = "dispensed",
    dose: float = 60,
    unit: str = "mg",
    strength: rec.Quantity | None = None,
    times: int = 1,
    days: int = 30,
    issued: date = date(2026, 11, 1),
) -> rec.Prescription:
    return rec.Prescription(
        id=rx_id,
        status=status,
        issued_at=datetime.combine(issued, datetime.min.time(), ALMATY),
        valid_until=issued + timedelta(days=30),
        drug=_coding(code, "gliclazide"),
        inn="gliclazide",
        trade_name=None,
        form="tablet",
        strength=strength or rec.Quantity(60, "mg"),
        dose=rec.Quantity(dose, unit),
        times_per_day=times,
        route="oral",
        duration_days=days,
        dosage_text=None,
        program="GOBMP",
        provenance=rec.Provenance("drugs"),
    )


def _dispensation(
    rx: rec.Prescription, day: date, quantity: float, hour: int = 10
) -> rec.Dispensation:
    return rec.Dispensation(
        id=f"D-{rx.id}-{day}",
        dispensed_at=datetime(day.year, day.month, day.day, hour, tzinfo=ALMATY),
        prescription_id=rx.id,
        drug=rx.drug,
        inn=rx.inn,
        trade_name=None,
        form=rx.form,
        strength=rx.strength,
        quantity=quantity,
        unit_price=None,
        amount=None,
        program="GOBMP",
        pharmacy=rec.OrgRef("120741444488", "Pharmacy 15", "almaty"),
        provenance=rec.Provenance("drugs", "almaty"),
    )


# --- how long a dispensation lasts ------------------------------------------------------------


def test_tablets_last_quantity_over_tablets_a_day() -> None:
    # 60 mg gliclazide tablets, 60 mg once daily: 30 tablets last 30 days.
    rx = _prescription("RX-1")
    assert cm.supply_days(_dispensation(rx, TODAY, 30), rx) == 30.0
    # 500 mg metformin tablets, 1000 mg twice a day: 4 tablets a day, 60 tablets last 15 days.
    metformin = _prescription(
        "RX-2", "A10BA02", dose=1000, times=2, strength=rec.Quantity(500, "mg")
    )
    assert cm.supply_days(_dispensation(metformin, TODAY, 60), metformin) == 15.0


def test_liquids_pens_and_inhalers_last_the_prescribed_duration() -> None:
    # Paracetamol 24 mg/ml: the dose is in mg, the strength per ml; the bottle lasts 3 days.
    rx = _prescription(
        "RX-3", "N02BE01", dose=150, strength=rec.Quantity(24, "mg/ml"), times=4, days=3
    )
    assert cm.supply_days(_dispensation(rx, TODAY, 1), rx) == 3.0


@pytest.mark.parametrize(
    ("dispensed", "covered"),
    [
        (TODAY, True),  # dispensed today
        (TODAY - timedelta(days=29), True),  # the 30th day of a 30-day supply
        (TODAY - timedelta(days=30), False),  # ran out yesterday
        (TODAY + timedelta(days=1), False),  # dated after today: a recording error
    ],
)
def test_a_supply_covers_today_from_its_day_to_its_last_day(dispensed, covered) -> None:
    rx = _prescription("RX-1")
    found = cm.current_medicines([], [rx], [_dispensation(rx, dispensed, 30)], TODAY)
    assert bool(found) is covered
    if covered:
        (medicine,) = found
        (evidence,) = medicine.evidence
        assert evidence.kind == cm.DISPENSATION
        assert evidence.covers_until == dispensed + timedelta(days=29)


def test_a_fractional_supply_covers_the_day_it_runs_out() -> None:
    # 45 tablets at 2 a day last 22.5 days: days 0-22 after the dispensation.
    rx = _prescription("RX-1", times=2)
    dispensed = TODAY - timedelta(days=22)
    (medicine,) = cm.current_medicines([], [rx], [_dispensation(rx, dispensed, 45)], TODAY)
    assert medicine.evidence[0].covers_until == TODAY
    late = TODAY - timedelta(days=23)
    assert cm.current_medicines([], [rx], [_dispensation(rx, late, 45)], TODAY) == []


def test_the_dispensed_day_is_the_almaty_day() -> None:
    rx = _prescription("RX-1")
    # 2026-10-26 20:30 UTC is 2026-10-27 01:30 in Almaty: the 30 days run from 27 October.
    item = _dispensation(rx, TODAY, 30)
    late_evening = datetime(2026, 10, 26, 20, 30, tzinfo=UTC)
    item = rec.Dispensation(
        **{**{f: getattr(item, f) for f in item.__slots__}, "dispensed_at": late_evening}
    )
    (medicine,) = cm.current_medicines([], [rx], [item], TODAY)
    assert medicine.evidence[0].covers_until == date(2026, 11, 25)


# --- the union ----------------------------------------------------------------------------------


def test_a_medicine_only_the_pharmacy_knows_is_current_and_marked_so() -> None:
    rx = _prescription("RX-1", status="dispensed", issued=date(2026, 11, 18))
    (medicine,) = cm.current_medicines(
        [_statement("A10BA02", "metformin", status="stopped")],
        [rx],
        [_dispensation(rx, date(2026, 11, 18), 30)],
        TODAY,
    )
    assert medicine.code.code == "A10BB09" and medicine.pharmacy_only
    # Dose and times a day from the prescription the dispensation names; since = its day.
    assert (medicine.dose, medicine.times_per_day, medicine.since) == (
        rec.Quantity(60, "mg"),
        1,
        date(2026, 11, 18),
    )


def test_one_entry_per_atc_with_every_kind_of_record_and_the_statement_first() -> None:
    rx = _prescription("RX-1", status="active", issued=date(2026, 11, 20))
    older = _statement("A10BB09", "gliclazide", since=date(2020, 5, 1))
    newer = _statement("A10BB09", "gliclazide", since=date(2023, 5, 1))
    (medicine,) = cm.current_medicines(
        [older, newer], [rx], [_dispensation(rx, date(2026, 11, 20), 30)], TODAY
    )
    assert [e.kind for e in medicine.evidence] == [cm.STATEMENT, cm.PRESCRIPTION, cm.DISPENSATION]
    assert not medicine.pharmacy_only
    assert medicine.since == date(2023, 5, 1)  # the latest active statement describes it
    assert medicine.dose == rec.Quantity(500, "mg")


def test_only_active_statements_and_prescriptions_count() -> None:
    found = cm.current_medicines(
        [_statement("C09AA03", "lisinopril", status="on-hold")],
        [
            _prescription("RX-1", status="expired"),
            _prescription("RX-2", "C08CA01", status="cancelled"),
        ],
        [],
        TODAY,
    )
    assert found == []


def test_a_dispensation_without_its_prescription_is_not_guessed() -> None:
    rx = _prescription("RX-1")
    assert cm.current_medicines([], [], [_dispensation(rx, TODAY, 30)], TODAY) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("mg", "mg", True),
        ("ug", "mcg", True),
        ("MG", "mg", True),
        ("mg", "mg/ml", False),
        (None, "mg", False),
    ],
)
def test_units_agree_by_meaning(a, b, same) -> None:
    assert cm.same_unit(a, b) is same
