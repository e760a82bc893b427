"""The screening calendar: the programme's rules applied to age, sex and past screenings.

Expected plans follow the programme of Order KR DSM-174/2020 as the issue states it
(breast 40-70 every 2 years, cervical 30-70 every 4, colorectal 50-70 every 2).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.clinical import screening

DATA = Path(__file__).resolve().parents[2] / "gateway" / "data" / "screening_programme.json"
PROGRAMME = screening.load_screening_programme()
RULES = PROGRAMME.rules
TODAY = date(2026, 11, 25)
MAMMOGRAPHY, PAP, FOBT = "71651007", "171149006", "104435004"
BLOOD_PRESSURE, DIABETES, GLAUCOMA = "171222001", "171183004", "171205003"


def _age(birth: date, day: date) -> int:
    """Whole years on ``day`` (a 29 February birthday passes on 1 March)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _by_code(planned: list[screening.PlannedCheck]) -> dict[str, screening.PlannedCheck]:
    return {p.rule.code: p for p in planned}


# --- the programme file ----------------------------------------------------------------------


def test_programme_has_the_issue_figures_and_its_legal_source() -> None:
    assert "DSM-174/2020" in PROGRAMME.source
    rules = {r.code: (r.sex, r.min_age, r.max_age, r.interval_years) for r in RULES}
    assert rules[MAMMOGRAPHY] == ("FEMALE", 40, 70, 2)
    assert rules[PAP] == ("FEMALE", 30, 70, 4)
    assert rules[FOBT] == (None, 50, 70, 2)
    assert {BLOOD_PRESSURE, DIABETES, GLAUCOMA} <= set(rules)
    assert all("DSM-174/2020" in r.source for r in RULES)
    assert all(r.system == "http://snomed.info/sct" for r in RULES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(sex="OTHER"), "sex"),
        (lambda r: r.update(minAge=80), "ages"),
        (lambda r: r.update(intervalYears=0), "interval"),
        (lambda r: r.update(source=""), "source"),
        (lambda r: r["exclusions"].append({"why": "x", "source": "y"}), "no problem"),
        (lambda r: r["exclusions"][0].update(source=" "), "exclusion needs its source"),
    ],
)
def test_inconsistent_programme_is_refused(change, message, tmp_path: Path) -> None:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    change(raw["rules"][0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        screening.load_screening_programme(path)


# --- the issue's acceptance examples ---------------------------------------------------------


def test_woman_of_45_with_mammography_3_years_ago_is_overdue() -> None:
    born = date(1981, 6, 1)
    last = date(2023, 10, 12)
    planned = screening.plan(RULES, born, "FEMALE", {MAMMOGRAPHY: last}, TODAY, 12)
    mammography = _by_code(planned)[MAMMOGRAPHY]
    assert mammography.overdue
    assert mammography.due_month == "2025-10"  # two years after the last one
    assert "last done 2023-10-12" in mammography.reason
    assert planned[0].overdue  # overdue ones first


def test_man_of_55_never_screened_for_colorectal_cancer_is_due_now() -> None:
    planned = screening.plan(RULES, date(1971, 3, 3), "MALE", {}, TODAY, 12)
    fobt = _by_code(planned)[FOBT]
    assert (fobt.due_month, fobt.overdue) == ("2026-11", False)
    assert "never done" in fobt.reason
    assert MAMMOGRAPHY not in _by_code(planned) and PAP not in _by_code(planned)


def test_a_child_has_nothing_due() -> None:
    assert screening.plan(RULES, date(2018, 5, 5), "FEMALE", {}, TODAY, 12) == []
    assert screening.plan(RULES, date(2018, 5, 5), "MALE", {}, TODAY, 120) == []


# --- other cases -----------------------------------------------------------------------------


def test_first_check_waits_for_the_eligible_birthday() -> None:
    born = date(1987, 3, 14)  # 40 on 2027-03-14
    planned = _by_code(screening.plan(RULES, born, "FEMALE", {}, TODAY, 12))
    assert planned[MAMMOGRAPHY].due == date(2027, 3, 14)
    assert not planned[MAMMOGRAPHY].overdue
    assert planned[PAP].due == TODAY  # already 39: due now
    # With a 3-month horizon the birthday is too far away.
    short = _by_code(screening.plan(RULES, born, "FEMALE", {}, TODAY, 3))
    assert MAMMOGRAPHY not in short


def test_recent_screening_is_due_after_the_interval() -> None:
    planned = _by_code(
        screening.plan(RULES, date(1970, 1, 1), "FEMALE", {PAP: date(2024, 2, 1)}, TODAY, 12)
    )
    assert PAP not in planned  # due 2028-02
    later = _by_code(
        screening.plan(RULES, date(1970, 1, 1), "FEMALE", {PAP: date(2024, 2, 1)}, TODAY, 40)
    )
    assert later[PAP].due_month == "2028-02"


def test_past_the_upper_age_nothing_is_due() -> None:
    assert screening.plan(RULES, date(1955, 1, 1), "FEMALE", {}, TODAY, 12) == []  # 71
    at_70 = screening.plan(RULES, date(1956, 1, 30), "FEMALE", {}, TODAY, 12)
    assert {p.rule.code for p in at_70} == {
        MAMMOGRAPHY,
        PAP,
        FOBT,
        BLOOD_PRESSURE,
        DIABETES,
        GLAUCOMA,
    }


def test_unknown_sex_gets_only_the_checks_for_everyone() -> None:
    planned = screening.plan(RULES, date(1960, 1, 1), None, {}, TODAY, 12)
    assert {p.rule.code for p in planned} == {FOBT, BLOOD_PRESSURE, DIABETES, GLAUCOMA}


def test_unknown_birth_date_or_negative_months_plans_nothing() -> None:
    assert screening.plan(RULES, None, "MALE", {}, TODAY, 12) == []
    assert screening.plan(RULES, date(1960, 1, 1), "MALE", {}, TODAY, -1) == []


def test_months_zero_keeps_only_overdue_from_earlier_months() -> None:
    done = {FOBT: date(2020, 1, 1)}
    planned = screening.plan(RULES, date(1960, 1, 1), "MALE", done, TODAY, 0)
    assert [(p.rule.code, p.overdue) for p in planned] == [(FOBT, True)]


def test_a_future_screening_date_is_ignored() -> None:
    done = {FOBT: date(2027, 1, 1)}
    fobt = _by_code(screening.plan(RULES, date(1960, 1, 1), "MALE", done, TODAY, 12))[FOBT]
    assert "never done" in fobt.reason


def test_long_horizon_repeats_after_the_interval() -> None:
    planned = screening.plan(RULES, date(1960, 1, 1), "MALE", {}, TODAY, 60)
    fobt = [p.due for p in planned if p.rule.code == FOBT]
    assert fobt == [TODAY, date(2028, 11, 25), date(2030, 11, 25)]


def test_leap_day_birthday_counts_on_the_first_of_march() -> None:
    born = date(1988, 2, 29)  # 40 on 2028-03-01 (2028 is a leap year: 2028-02-29)
    planned = _by_code(screening.plan(RULES, born, "FEMALE", {}, date(2027, 11, 1), 12))
    assert planned[MAMMOGRAPHY].due == date(2028, 2, 29)
    assert screening.add_years(date(1988, 2, 29), 1) == date(1989, 3, 1)


def test_last_done_keeps_the_latest_of_each_code() -> None:
    pairs = [(FOBT, date(2020, 1, 1)), (FOBT, date(2024, 1, 1)), (PAP, date(2019, 5, 5))]
    assert screening.last_done(pairs) == {FOBT: date(2024, 1, 1), PAP: date(2019, 5, 5)}


# --- properties ------------------------------------------------------------------------------

births = st.dates(min_value=date(1920, 1, 1), max_value=date(2026, 11, 1))
sexes = st.sampled_from(["MALE", "FEMALE", None])
days = st.dates(min_value=date(2010, 1, 1), max_value=date(2030, 12, 31))
histories = st.dictionaries(st.sampled_from([r.code for r in RULES]), days, max_size=6)


@given(births, sexes, histories, st.integers(min_value=0, max_value=120))
def test_nothing_is_due_outside_the_target_group(born, sex, done, months) -> None:
    planned = screening.plan(RULES, born, sex, done, TODAY, months)
    horizon = screening.add_months(TODAY.replace(day=1), months)
    for item in planned:
        rule = item.rule
        assert rule.sex is None or rule.sex == sex
        assert _age(born, item.due) >= rule.min_age  # never before the eligible age
        assert _age(born, max(item.due, TODAY)) <= rule.max_age  # never after the upper age
        assert item.due < horizon
        assert item.overdue == (item.due < TODAY)


@given(births, sexes, histories, st.integers(min_value=0, max_value=120))
def test_overdue_first_then_by_date(born, sex, done, months) -> None:
    planned = screening.plan(RULES, born, sex, done, TODAY, months)
    keys = [(not p.overdue, p.due) for p in planned]
    assert keys == sorted(keys)


@given(births, sexes, histories)
def test_eligible_and_never_screened_is_due_this_month(born, sex, done) -> None:
    planned = _by_code(screening.plan(RULES, born, sex, done, TODAY, 1))
    for rule in RULES:
        eligible = rule.min_age <= _age(born, TODAY) <= rule.max_age
        never = rule.code not in done or done[rule.code] > TODAY
        if eligible and never and (rule.sex is None or rule.sex == sex):
            assert planned[rule.code].due == TODAY


@given(st.dates(min_value=date(1997, 1, 1), max_value=date(2026, 11, 1)), sexes, histories)
def test_under_thirty_for_the_whole_horizon_nothing_is_due(born, sex, done) -> None:
    horizon = screening.add_months(TODAY.replace(day=1), 12)
    if _age(born, horizon) < 30:
        assert screening.plan(RULES, born, sex, done, TODAY, 12) == []


# --- exclusions: under dynamic observation, organ removed (issue 12) -----------------------

OBSERVED = screening.Condition
DONE = screening.PastProcedure
SIXTY = date(1966, 3, 10)  # 60 on TODAY: in every adult target group


def _excluded(conditions=(), procedures=()) -> dict[str, str]:
    """The reasons of each exclusion, in English."""
    found = screening.exclusions(PROGRAMME, conditions, procedures)
    return {code: reason.english() for code, reason in found.items()}


def test_the_programme_states_each_exclusion_with_its_source() -> None:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    assert "dynamic observation" in raw["observedStatuses"]["source"]
    for rule in RULES:
        assert rule.exclusions, rule.code
        assert all(e.source.strip() for e in rule.exclusions)
    by_code = {r.code: r for r in RULES}
    # KR DSM-174/2020 Appendix 1: the cardio-metabolic screenings leave out people under
    # observation for hypertension, coronary heart disease, diabetes or glaucoma.
    for code in (BLOOD_PRESSURE, DIABETES, GLAUCOMA):
        problems = {p for e in by_code[code].exclusions for p in e.problems}
        assert {"I10", "I25", "E10", "E11", "H40"} <= problems
    assert "116140006" in by_code[PAP].exclusions[1].procedures  # total hysterectomy
    assert "27865001" in by_code[MAMMOGRAPHY].exclusions[1].procedures  # bilateral mastectomy
    assert "26390003" in by_code[FOBT].exclusions[1].procedures  # total colectomy


@pytest.mark.parametrize("icd10", ["E11.9", "E10.9", "I10", "I25.1", "H40.1"])
def test_a_diabetic_or_hypertensive_is_not_invited_to_the_cardio_metabolic_screenings(
    icd10: str,
) -> None:
    excluded = _excluded([OBSERVED(icd10, "active", date(2020, 4, 29))])
    assert set(excluded) == {BLOOD_PRESSURE, DIABETES, GLAUCOMA}
    assert excluded[DIABETES] == f"under dynamic observation for {icd10} since 2020-04-29"
    planned = screening.plan(RULES, SIXTY, "FEMALE", {}, TODAY, 12, excluded)
    assert {p.rule.code for p in planned} == {MAMMOGRAPHY, PAP, FOBT}


@pytest.mark.parametrize(
    ("status", "excluded"),
    [
        ("active", True),
        ("recurrence", True),
        ("relapse", True),
        ("remission", True),  # still under dispensary observation
        ("inactive", False),
        ("resolved", False),
        (None, False),
    ],
)
def test_only_a_condition_under_observation_excludes(status: str | None, excluded: bool) -> None:
    found = _excluded([OBSERVED("I10", status, None)])
    assert (BLOOD_PRESSURE in found) is excluded


def test_codes_outside_the_named_categories_do_not_exclude() -> None:
    # I10 must not catch I100-like neighbours, nor E16 (other disorders of pancreatic secretion).
    assert _excluded([OBSERVED("E16.2", "active", None), OBSERVED("J45.9", "active", None)]) == {}


def test_a_removed_organ_leaves_its_screening_out_for_good() -> None:
    hysterectomy = DONE("116140006", "Total hysterectomy", date(2019, 5, 2))
    colectomy = DONE("26390003", "Total colectomy", date(2021, 1, 12))
    excluded = _excluded(procedures=[hysterectomy, colectomy])
    assert excluded == {
        PAP: "no cervix left (Total hysterectomy on 2019-05-02)",
        FOBT: "colon removed (Total colectomy on 2021-01-12)",
    }
    planned = screening.plan(RULES, SIXTY, "FEMALE", {}, TODAY, 12, excluded)
    assert {p.rule.code for p in planned} == {MAMMOGRAPHY, BLOOD_PRESSURE, DIABETES, GLAUCOMA}


def test_a_hysterectomy_that_may_have_kept_the_cervix_keeps_its_screening() -> None:
    # 236886002 "Hysterectomy" does not say the cervix went (a subtotal one keeps it), so the
    # eCQM value set leaves it out, and so do we.
    unspecified = DONE("236886002", "Hysterectomy", date(2019, 5, 2))
    assert _excluded(procedures=[unspecified]) == {}


def test_breast_cancer_in_remission_after_a_mastectomy_leaves_mammography_out() -> None:
    excluded = _excluded(
        [OBSERVED("C50.9", "remission", date(2018, 3, 1))],
        [DONE("172043006", "Simple mastectomy", date(2018, 3, 1))],
    )
    assert set(excluded) == {MAMMOGRAPHY}
    assert "breast cancer (C50.9)" in excluded[MAMMOGRAPHY]
