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
            assert any(s in band["source"] for s in ("WHO", "BNF", "SmPC", "EMA", "EPAR")), atc
        if not entry["bands"]:
            assert entry["otherwise"], f"{atc} needs the reason it has no band"


def test_at_least_twenty_ward_drugs_have_bands() -> None:
    banded = [atc for atc, drug in REFERENCE.drugs.items() if drug.bands]
    assert len(banded) >= 20


def test_every_drug_has_an_adult_maximum_or_says_why_it_has_none() -> None:
    forty = 40 * 12
    for atc, drug in REFERENCE.drugs.items():
        adult = [b for b in drug.bands if b.covers_age(forty)]
        if not drug.bands:
            assert "no fixed maximum" in drug.otherwise, atc  # titrated: insulin, warfarin, ...
            continue
        assert adult, atc
        assert all(b.max_daily_mg is not None or b.max_mg_per_kg_per_day for b in adult), atc


def test_weight_based_children_drugs_have_bands() -> None:
    for atc in ("N02BE01", "M01AE01", "J01CA04", "J01CR02", "J01FA10", "J01DC02", "H02AB06"):
        assert any(b.weight_based for b in REFERENCE.drugs[atc].bands), atc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(minMgPerKgPerDay=90), "minimum"),
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(source=" "), "source"),
        (lambda d: d["drugs"]["N02BE01"]["bands"][0].update(toAgeMonths=0), "age band"),
        (lambda d: d["roundingTolerance"].update(fraction=0.7), "tolerance"),
        (
            lambda d: d["drugs"]["C07AB07"]["bands"][0].pop("maxDailyMg"),
            "mg/kg/day maximum or a daily maximum",
        ),
        (lambda d: d["drugs"]["B01AA03"].pop("otherwise"), "reason it has none"),
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
    assert "more than 90 days" in note.english()


def test_weight_before_last_birthday_is_noted_under_two() -> None:
    born = date(2025, 11, 1)  # first birthday 2026-11-01
    (note,) = dosing.weight_notes(Weight(9, date(2026, 10, 30)), born, TODAY)
    assert "2026-11-01" in note.english()
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


def test_rounding_to_a_measurable_dose_is_tolerated_and_the_note_says_so() -> None:
    # 42.2 kg x 15 mg = 633 mg, given as 635 mg x 4: 60.2 mg/kg/day, within 10% of 60.
    result = dosing.assess(
        _dose("N02BE01", 635, times=4), _fresh(42.2), _years_old(11), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.WITHIN_RANGE
    assert result.note == (
        "within range only by the 10% rounding tolerance: 60.2 mg/kg/day against a maximum of 60"
    )
    # 300 mg x 4 for 20 kg is 60 mg/kg/day exactly: within without the tolerance, no note.
    exact = dosing.assess(
        _dose("N02BE01", 300, times=4), _fresh(20), _years_old(5), TODAY, REFERENCE
    )
    assert exact.note is None


def test_a_low_dose_kept_in_only_by_the_tolerance_says_so() -> None:
    # Ibuprofen 20-30 mg/kg/day (BNFc): 19 mg/kg/day for 20 kg is 5% under the minimum.
    result = dosing.assess(_dose("M01AE01", 380), _fresh(20), _years_old(5), TODAY, REFERENCE)
    assert result.verdict is Verdict.WITHIN_RANGE
    assert "tolerance: 19.0 mg/kg/day against a minimum of 20" in (result.note or "")


def test_daily_maximum_is_absolute() -> None:
    # Cefuroxime SmPC: 15 mg/kg twice daily but at most 250 mg a dose (500 mg a day).
    result = dosing.assess(
        _dose("J01DC02", 275, times=2), _fresh(18.3), _years_old(4), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.ABOVE_RANGE
    assert "500 mg a day" in (result.note or "")
    assert result.reference_max_daily_mg == 500


# --- the issue's cases: ceilings without a weight, adult maxima, true messages ---------------


def test_a_child_without_weight_above_every_ceiling_of_the_age_is_above_range() -> None:
    # Cefuroxime (Zinnat SmPC): under 40 kg max 500 mg a day, 40 kg or more 250-500 mg twice
    # daily (1 g). 545 mg twice daily = 1090 mg is too much for a 10-year-old of any weight.
    result = dosing.assess(_dose("J01DC02", 545, times=2), None, _years_old(10), TODAY, REFERENCE)
    assert result.verdict is Verdict.ABOVE_RANGE
    assert result.note == "above the maximum of 1000 mg a day for any weight at this age"
    # Paracetamol (WHO MFC, BNFc): never more than 4 g a day; 2 g four times = 8 g.
    five = dosing.assess(_dose("N02BE01", 2000, times=4), None, _years_old(5), TODAY, REFERENCE)
    assert five.verdict is Verdict.ABOVE_RANGE
    assert five.reference_max_daily_mg == 4000


def test_a_child_without_weight_above_a_lighter_ceiling_only_is_no_weight_and_told() -> None:
    # Amoxicillin: under 40 kg at most 3 g a day (BNFc), 40 kg or more up to 6 g (SmPC).
    result = dosing.assess(_dose("J01CA04", 1000, times=4), None, _years_old(10), TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_WEIGHT
    assert result.note == (
        "no body weight recorded; above the maximum for patients under 40 kg at this age "
        "(3000 mg a day)"
    )


def test_an_adolescent_under_50_kg_on_4_g_of_paracetamol_is_above_range() -> None:
    # 13 years, 30 kg, 1 g four times: 133 mg/kg/day; under 50 kg max 60 mg/kg, 3 g a day.
    result = dosing.assess(
        _dose("N02BE01", 1000, times=4), _fresh(30), _years_old(13), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.ABOVE_RANGE
    assert result.mg_per_kg_per_day == 133.33
    assert result.reference_max_mg_per_kg_per_day == 60
    assert "3000 mg a day" in (result.note or "")


@pytest.mark.parametrize(
    ("atc", "dose", "times", "maximum"),
    [
        ("N02BE01", 1500, 4, 4000),  # paracetamol 6 g (BNF: max 4 g)
        ("J01CA04", 3000, 4, 6000),  # amoxicillin 12 g (SmPC: up to 6 g)
        ("M01AE01", 800, 4, 2400),  # ibuprofen 3.2 g (BNF: max 2.4 g)
        ("A10BA02", 1000, 4, 3000),  # metformin 4 g (BNF: max 3 g)
        ("C07AB07", 20, 2, 20),  # bisoprolol 40 mg (BNF: max 20 mg)
        ("C09AA03", 40, 3, 80),  # lisinopril 120 mg (BNF: max 80 mg)
    ],
)
def test_adults_above_the_adult_maximum_are_above_range_with_or_without_weight(
    atc: str, dose: float, times: int, maximum: float
) -> None:
    for weight in (None, _fresh(70)):
        result = dosing.assess(
            _dose(atc, dose, times=times), weight, _years_old(45), TODAY, REFERENCE
        )
        assert result.verdict is Verdict.ABOVE_RANGE, (atc, weight)
        assert result.reference_max_daily_mg == maximum
        assert f"{maximum:g} mg a day" in (result.note or "")


def test_adults_within_a_fixed_maximum_need_no_weight() -> None:
    result = dosing.assess(_dose("N02BE01", 1000, times=4), None, _years_old(45), TODAY, REFERENCE)
    assert result.verdict is Verdict.WITHIN_RANGE  # 4 g: the maximum itself
    assert result.reference_min_mg_per_kg_per_day is None


def test_adult_enoxaparin_prophylaxis_has_no_lower_bound_but_treatment_a_ceiling() -> None:
    # Clexane SmPC: treatment at most 2 mg/kg a day; prophylaxis a fixed 40 mg.
    adult = _years_old(60)
    low = dosing.assess(_dose("B01AB05", 40), _fresh(80), adult, TODAY, REFERENCE)
    assert low.verdict is Verdict.WITHIN_RANGE
    high = dosing.assess(_dose("B01AB05", 100, times=2), _fresh(80), adult, TODAY, REFERENCE)
    assert high.verdict is Verdict.ABOVE_RANGE  # 2.5 mg/kg/day


def test_a_three_week_old_is_told_the_truth_about_their_age() -> None:
    three_weeks = TODAY - timedelta(days=21)
    result = dosing.assess(
        _dose("N02BE01", 40, times=4), _fresh(3.6), three_weeks, TODAY, REFERENCE
    )
    assert result.verdict is Verdict.NO_REFERENCE
    assert result.note == "no dose reference under 1 month (patient under 1 month)"
    assert "12 years" not in (result.note or "")


def test_a_medicine_not_for_young_children_says_from_which_age() -> None:
    result = dosing.assess(
        _dose("A10BA02", 500, times=2), _fresh(20), _years_old(5), TODAY, REFERENCE
    )
    assert result.verdict is Verdict.NO_REFERENCE
    assert result.note == "no dose reference under 10 years (patient 5 years)"


# --- doses in ml ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strength", "unit", "expected"),
    [
        (24, "mg/ml", 24.0),
        (120, "mg/5 ml", 24.0),
        (250, "mg/5ml", 50.0),
        (0.1, "g/ml", 100.0),
        (100, "ug/ml", 0.1),
        (24, "mg", None),  # not per volume
        (None, "mg/ml", None),
        (24, "IU/ml", None),  # not a mass
    ],
)
def test_strength_per_ml(strength, unit, expected) -> None:
    assert dosing.mg_per_ml(strength, unit) == expected


def test_a_dose_in_ml_is_converted_with_the_products_strength() -> None:
    # Paracetamol 120 mg/5 ml: 5 ml four times = 480 mg a day; 10 kg is 48 mg/kg/day.
    medication = MedicationDose("N02BE01", "paracetamol", 5, "ml", 4, 120, "mg/5 ml")
    result = dosing.assess(medication, _fresh(10), _years_old(1, 2), TODAY, REFERENCE)
    assert result.daily_dose_mg == 480.0
    assert result.verdict is Verdict.WITHIN_RANGE
    assert result.note == "5 ml at 120 mg/5 ml = 120 mg a dose"


def test_a_dose_in_ml_without_a_strength_is_not_guessed() -> None:
    medication = MedicationDose("N02BE01", "paracetamol", 5, "ml", 4)
    result = dosing.assess(medication, _fresh(10), _years_old(1, 2), TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_REFERENCE
    assert result.daily_dose_mg is None
    assert "strength per ml is not known" in (result.note or "")


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
    assert result.note == "no body weight recorded"


@pytest.mark.parametrize(
    ("medication", "born", "weight"),
    [
        (_dose("A10AE04", 20, "IU"), _years_old(40), _fresh(80)),  # insulin units
        (_dose("B01AA03", 5), _years_old(70), _fresh(80)),  # warfarin: titrated to the INR
        (_dose("A10BA02", 500, times=2), _years_old(8), _fresh(25)),  # metformin under 10
        (_dose("N02BE01", 40, times=4), date(2026, 11, 10), _fresh(3.5)),  # neonate
        (_dose("X99ZZ99", 10), _years_old(5), _fresh(20)),  # unknown to the reference
        (_dose("N02BE01", 300, times=4), None, _fresh(20)),  # no birth date: no age band
        (_dose("C07AB07", 5), _years_old(10), _fresh(30)),  # bisoprolol: adults only
    ],
)
def test_no_reference_is_never_a_guess(medication, born, weight) -> None:
    result = dosing.assess(medication, weight, born, TODAY, REFERENCE)
    assert result.verdict is Verdict.NO_REFERENCE
    assert result.reference_min_mg_per_kg_per_day is None
    assert result.note


def test_gentamicin_adult_once_daily() -> None:
    # BNF: 5-7 mg/kg once daily. 70 kg: 360 mg = 5.14 mg/kg; 600 mg = 8.6 mg/kg.
    adult = _years_old(40)
    ok = dosing.assess(_dose("J01GB03", 360), _fresh(70), adult, TODAY, REFERENCE)
    assert ok.verdict is Verdict.WITHIN_RANGE
    high = dosing.assess(_dose("J01GB03", 600), _fresh(70), adult, TODAY, REFERENCE)
    assert high.verdict is Verdict.ABOVE_RANGE
    unweighed = dosing.assess(_dose("J01GB03", 360), None, adult, TODAY, REFERENCE)
    assert unweighed.verdict is Verdict.NO_WEIGHT  # no absolute ceiling: only per kg


def test_stale_weight_still_judged_but_noted() -> None:
    stale = Weight(20, TODAY - timedelta(days=200))
    result = dosing.assess(_dose("N02BE01", 250, times=4), stale, _years_old(5), TODAY, REFERENCE)
    assert result.verdict is Verdict.WITHIN_RANGE  # 50 mg/kg/day
    assert "more than 90 days" in (result.note or "")


# --- properties ------------------------------------------------------------------------------

WEIGHTED = [
    (atc, band) for atc, d in REFERENCE.drugs.items() for band in d.bands if band.weight_based
]
RANGED = [(atc, band) for atc, band in WEIGHTED if band.min_mg_per_kg_per_day is not None]
bands = st.sampled_from(WEIGHTED)
weights = st.floats(min_value=2.0, max_value=150.0, allow_nan=False)
doses = st.floats(min_value=0.1, max_value=20000.0, allow_nan=False)


@given(bands, weights, doses, doses)
def test_verdict_never_improves_as_the_dose_rises(band_of, weight, a, b) -> None:
    _, band = band_of
    low, high = sorted((a, b))
    first = dosing.judge(low, weight, band, REFERENCE.tolerance).verdict
    second = dosing.judge(high, weight, band, REFERENCE.tolerance).verdict
    assert RANK[first] <= RANK[second]


@given(st.sampled_from(RANGED), weights, st.floats(min_value=0.0, max_value=1.0))
def test_a_dose_inside_the_range_is_within(band_of, weight, position) -> None:
    _, band = band_of
    per_kg = band.min_mg_per_kg_per_day + position * (
        band.max_mg_per_kg_per_day - band.min_mg_per_kg_per_day
    )
    daily = per_kg * weight
    if band.max_daily_mg is not None and daily > band.max_daily_mg:
        return  # the ceiling decides, tested separately
    judged = dosing.judge(daily, weight, band, REFERENCE.tolerance)
    assert judged.verdict is Verdict.WITHIN_RANGE
    assert judged.why is None  # inside the published range: the tolerance is not needed


@given(bands, weights, st.floats(min_value=1.2, max_value=10.0))
def test_well_past_the_range_is_above(band_of, weight, factor) -> None:
    _, band = band_of
    daily = band.max_mg_per_kg_per_day * weight * factor
    assert dosing.judge(daily, weight, band, REFERENCE.tolerance).verdict is Verdict.ABOVE_RANGE


@given(
    st.sampled_from(sorted(REFERENCE.drugs)),
    st.dates(min_value=date(1920, 1, 1), max_value=TODAY),
    st.one_of(st.none(), weights),
    st.floats(min_value=1.01, max_value=5.0),
)
def test_above_every_ceiling_of_the_age_is_above_range_whatever_the_weight(
    atc, born, weight, factor
) -> None:
    age = dosing.age_in_months(born, TODAY)
    caps = [b.max_daily_mg for b in REFERENCE.drugs[atc].bands if b.covers_age(age)]
    if not caps or None in caps:
        return
    medication = _dose(atc, max(caps) * factor)  # type: ignore[type-var]
    result = dosing.assess(medication, _fresh(weight) if weight else None, born, TODAY, REFERENCE)
    assert result.verdict is Verdict.ABOVE_RANGE


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
        if REFERENCE.drugs[atc].bands:  # the reason names the patient's own age
            assert f"(patient {dosing.describe_age(age)})" in (result.note or "")
    if weight is not None and result.verdict in RANK:
        assert result.mg_per_kg_per_day == pytest.approx(dose * times / weight, abs=0.01)
