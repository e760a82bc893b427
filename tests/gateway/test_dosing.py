"""Dose checking: daily dose, weight notes and verdicts against the reference data file.

Expected figures are worked by hand from the reference's published ranges (WHO Model
Formulary for Children, BNF for Children, SmPCs), never taken from the code under test.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators import population_data
from gateway.clinical import dosing
from gateway.clinical.dosing import MedicationDose, Verdict, Weight

DATA = Path(__file__).resolve().parents[2] / "gateway" / "data" / "dose_reference.json"
TODAY = date(2026, 11, 25)
REFERENCE = dosing.load_dose_reference()
ISSUE_DRUGS = {
    "N02BE01": "paracetamol",
    "M01AE01": "ibuprofen",
    "J01CA04": "amoxicillin",
    "J01CR02": "amoxicillin-clavulanate",
    "J01FA10": "azithromycin",
    "J01DC02": "cefuroxime",
    "J01GB03": "gentamicin",
    "B01AB05": "enoxaparin",
    "A10BA02": "metformin",
    "R03AC02": "salbutamol",
    "H02AB06": "prednisolone",
}
RANK = {Verdict.BELOW_RANGE: 0, Verdict.WITHIN_RANGE: 1, Verdict.ABOVE_RANGE: 2}


def _years_old(years: int, months: int = 0) -> date:
    """A birth date making the patient ``years`` and ``months`` old on TODAY."""
    index = TODAY.year * 12 + TODAY.month - 1 - years * 12 - months
    return date(index // 12, index % 12 + 1, 10)


def _dose(atc: str, value: float | None, unit: str | None = "mg", times: int | None = 1):
    return MedicationDose(atc, atc, value, unit, times)


def _fresh(kg: float) -> Weight:
    return Weight(kg, TODAY - timedelta(days=2))


# --- the reference file --------------------------------------------------------------------


def test_reference_covers_every_generated_drug_and_the_issue_list() -> None:
    assert set(population_data.DRUGS) <= set(REFERENCE.drugs)
    assert set(ISSUE_DRUGS) <= set(REFERENCE.drugs)


def test_every_band_names_a_public_source() -> None:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    assert "10%" in raw["roundingTolerance"]["source"]
    for atc, entry in raw["drugs"].items():
        for band in entry["bands"]:
            assert any(s in band["source"] for s in ("WHO", "BNF", "SmPC")), atc
        if not entry["bands"]:
            assert entry["otherwise"], f"{atc} needs the reason it has no weight-based band"


def test_weight_based_children_drugs_have_bands() -> None:
    for atc in ("N02BE01", "M01AE01", "J01CA04", "J01CR02", "J01FA10", "J01DC02", "H02AB06"):
        assert REFERENCE.drugs[atc].bands, atc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(minMgPerKgPerDay=90), "minimum"),
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(source=" "), "source"),
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(toAgeMonths=0), "age band"),
        (lambda d: d["roundingTolerance"].update(fraction=0.7), "tolerance"),
    ],
)
def test_inconsistent_reference_is_refused(change, message, tmp_path: Path) -> None:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        dosing.load_dose_reference(path)


# --- daily dose, age, weight notes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "times", "expected"),
    [
        (500, "mg", 3, 1500.0),
        (1, "g", 2, 2000.0),
        (200, "ug", 2, 0.4),
        (100, "mcg", 1, 0.1),
        (20, "IU", 1, None),  # insulin units are not a mass
        (500, None, 2, None),
        (None, "mg", 2, None),
        (500, "mg", None, None),
        (-5, "mg", 2, None),
        (500, "mg", 0, None),
    ],
)
def test_daily_dose_in_mg(value, unit, times, expected) -> None:
    assert dosing.daily_dose_mg(value, unit, times) == expected


def test_age_in_months() -> None:
    assert dosing.age_in_months(date(2025, 11, 25), TODAY) == 12
    assert dosing.age_in_months(date(2025, 11, 26), TODAY) == 11
    assert dosing.age_in_months(date(2026, 10, 31), TODAY) == 0


def test_weight_older_than_90_days_is_noted() -> None:
    adult = date(1980, 1, 1)
    assert dosing.weight_notes(Weight(70, TODAY - timedelta(days=90)), adult, TODAY) == []
    (note,) = dosing.weight_notes(Weight(70, TODAY - timedelta(days=91)), adult, TODAY)
    assert "more than 90 days" in note


def test_weight_before_last_birthday_is_noted_under_two() -> None:
    born = date(2025, 11, 1)  # first birthday 2026-11-01
    (note,) = dosing.weight_notes(Weight(9, date(2026, 10, 30)), born, TODAY)
    assert "2026-11-01" in note
    assert dosing.weight_notes(Weight(9, date(2026, 11, 2)), born, TODAY) == []
    # Over 2: a fresh weight from before the birthday is fine.
    older = date(2023, 11, 20)
    assert dosing.weight_notes(Weight(14, date(2026, 11, 1)), older, TODAY) == []


# --- verdicts --------------------------------------------------------------------------------


def test_paracetamol_15_mg_per_kg_four_times_daily_is_within_range() -> None:
    # 20 kg child of 5: 300 mg x 4 = 1200 mg/day = 60 mg/kg/day, the top of 40-60.
    result = dosing.assess(
        _dose("N02BE01", 300, times=4), _fresh(20), _years_old(5), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.WITHIN_RANGE
    assert (result.daily_dose_mg, result.mg_per_kg_per_day) == (1200.0, 60.0)
    assert (result.reference_min_mg_per_kg_per_day, result.reference_max_mg_per_kg_per_day) == (
        40.0,
        60.0,
    )
    assert result.note is None


def test_paracetamol_overdose_and_underdose() -> None:
    child, weight = _years_old(5), _fresh(20)
    above = dosing.assess(_dose("N02BE01", 400, times=4), weight, child, TODAY, REFERENCE)
    assert above.verdict is Verdict.ABOVE_RANGE  # 80 mg/kg/day
    below = dosing.assess(_dose("N02BE01", 100, times=4), weight, child, TODAY, REFERENCE)
    assert below.verdict is Verdict.BELOW_RANGE  # 20 mg/kg/day


def test_rounding_to_a_measurable_dose_is_tolerated() -> None:
    # 42.2 kg x 15 mg = 633 mg, given as 635 mg x 4: 60.2 mg/kg/day, within 10% of 60.
    result = dosing.assess(
        _dose("N02BE01", 635, times=4), _fresh(42.2), _years_old(11), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.WITHIN_RANGE


def test_daily_maximum_is_absolute() -> None:
    # Cefuroxime SmPC: 15 mg/kg twice daily but at most 250 mg a dose (500 mg a day).
    result = dosing.assess(
        _dose("J01DC02", 275, times=2), _fresh(18.3), _years_old(4), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.ABOVE_RANGE
    assert "500 mg a day" in (result.note or "")


def test_heavy_child_at_the_ceiling_is_not_underdosed() -> None:
    # Prednisolone 40 mg (the BNFC ceiling) for a 45 kg child: 0.89 mg/kg, yet not too little.
    result = dosing.assess(_dose("H02AB06", 40), _fresh(45), _years_old(10), TODAY, REFERENCE)
    assert result.verdict is Verdict.WITHIN_RANGE
    # Azithromycin 500 mg for a 44 kg child is 11.4 mg/kg: above 10 mg/kg even with rounding.
    heavy = dosing.assess(_dose("J01FA10", 500), _fresh(44), _years_old(13), TODAY, REFERENCE)
    assert heavy.verdict is Verdict.ABOVE_RANGE


def test_no_weight_when_a_reference_exists_but_no_weight() -> None:
    result = dosing.assess(_dose("J01CA04", 250, times=3), None, _years_old(3), TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_WEIGHT
    assert result.weight_kg is None and result.mg_per_kg_per_day is None
    assert result.reference_min_mg_per_kg_per_day == 20.0


@pytest.mark.parametrize(
    ("medication", "born", "weight"),
    [
        (_dose("A10BA02", 1000, times=2), _years_old(55), _fresh(90)),  # metformin: fixed dose
        (_dose("R03AC02", 200, "ug", 2), _years_old(6), _fresh(22)),  # inhaled salbutamol
        (_dose("A10AE04", 20, "IU"), _years_old(40), _fresh(80)),  # insulin units
        (_dose("N02BE01", 500, times=3), _years_old(16), _fresh(60)),  # adolescent: fixed
        (_dose("J01CA04", 500, times=3), _years_old(32), _fresh(54)),  # adult amoxicillin
        (_dose("J01CR02", 1000, times=2), _years_old(12), _fresh(44.5)),  # 40 kg or more
        (_dose("B01AB05", 40), _years_old(60), _fresh(80)),  # adult enoxaparin: indication
        (_dose("N02BE01", 40, times=4), date(2026, 11, 10), _fresh(3.5)),  # neonate
        (_dose("X99ZZ99", 10), _years_old(5), _fresh(20)),  # unknown to the reference
        (_dose("N02BE01", 300, times=4), None, _fresh(20)),  # no birth date: no age band
    ],
)
def test_no_reference_is_never_a_guess(medication, born, weight) -> None:
    result = dosing.assess(medication, weight, born, TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_REFERENCE
    assert result.reference_min_mg_per_kg_per_day is None
    assert result.note


def test_no_reference_even_without_weight() -> None:
    result = dosing.assess(_dose("C07AB07", 5), None, _years_old(60), TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_REFERENCE


def test_gentamicin_adult_once_daily() -> None:
    # BNF: 5-7 mg/kg once daily. 70 kg: 360 mg = 5.14 mg/kg; 600 mg = 8.6 mg/kg.
    adult = _years_old(40)
    ok = dosing.assess(_dose("J01GB03", 360), _fresh(70), adult, TODAY, REFERENCE)
    assert ok.verdict is Verdict.WITHIN_RANGE
    high = dosing.assess(_dose("J01GB03", 600), _fresh(70), adult, TODAY, REFERENCE)
    assert high.verdict is Verdict.ABOVE_RANGE


def test_stale_weight_still_judged_but_noted() -> None:
    stale = Weight(20, TODAY - timedelta(days=200))
    result = dosing.assess(_dose("N02BE01", 250, times=4), stale, _years_old(5), TODAY, REFERENCE)
    assert result.verdict is Verdict.WITHIN_RANGE  # 50 mg/kg/day
    assert "more than 90 days" in (result.note or "")


# --- properties ------------------------------------------------------------------------------

WEIGHTED = [(atc, band) for atc, d in REFERENCE.drugs.items() for band in d.bands]
bands = st.sampled_from(WEIGHTED)
weights = st.floats(min_value=2.0, max_value=150.0, allow_nan=False)
doses = st.floats(min_value=0.1, max_value=20000.0, allow_nan=False)


@given(bands, weights, doses, doses)
def test_verdict_never_improves_as_the_dose_rises(band_of, weight, a, b) -> None:
    _, band = band_of
    low, high = sorted((a, b))
    first = dosing.judge(low, weight, band, REFERENCE.tolerance)
    second = dosing.judge(high, weight, band, REFERENCE.tolerance)
    assert RANK[first] <= RANK[second]


@given(bands, weights, st.floats(min_value=0.0, max_value=1.0))
def test_a_dose_inside_the_range_is_within(band_of, weight, position) -> None:
    _, band = band_of
    per_kg = band.min_mg_per_kg_per_day + position * (
        band.max_mg_per_kg_per_day - band.min_mg_per_kg_per_day
    )
    daily = per_kg * weight
    if band.max_daily_mg is not None and daily > band.max_daily_mg:
        return  # the ceiling decides, tested separately
    assert dosing.judge(daily, weight, band, REFERENCE.tolerance) is Verdict.WITHIN_RANGE


@given(bands, weights, st.floats(min_value=1.2, max_value=10.0))
def test_well_past_the_range_is_above(band_of, weight, factor) -> None:
    _, band = band_of
    daily = band.max_mg_per_kg_per_day * weight * factor
    assert dosing.judge(daily, weight, band, REFERENCE.tolerance) is Verdict.ABOVE_RANGE


@given(
    st.sampled_from(sorted(REFERENCE.drugs)),
    st.dates(min_value=date(1920, 1, 1), max_value=TODAY),
    st.one_of(st.none(), weights),
    doses,
    st.integers(min_value=1, max_value=6),
)
def test_judged_only_where_a_band_exists(atc, born, weight, dose, times) -> None:
    medication = _dose(atc, dose, times=times)
    result = dosing.assess(medication, _fresh(weight) if weight else None, born, TODAY, REFERENCE)
    age = dosing.age_in_months(born, TODAY)
    banded = [b for b in REFERENCE.drugs[atc].bands if b.covers_age(age)]
    if not banded:
        assert result.verdict is Verdict.NO_REFERENCE
    elif weight is None:
        assert result.verdict is Verdict.NO_WEIGHT
    if result.verdict in RANK:
        assert result.mg_per_kg_per_day == pytest.approx(dose * times / weight, abs=0.01)
