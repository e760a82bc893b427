"""The access policy, tested every role x every section x every situation.

Expected outcomes come from this file's own transcription of ACCESS.md below, never
from gateway.auth.policy's table.
"""

from __future__ import annotations

import pytest

from gateway.auth.policy import (
    RESTRICTABLE,
    CareRelationship,
    EntryPoint,
    Section,
    decide,
    may_read_access_log,
    needs_relationship,
    readable_sections,
    stats_region,
)
from gateway.auth.principal import Principal, Role
from gateway.config import PolicySettings
from gateway.errors import BadUserInput, Forbidden

# ACCESS.md, "Sections by role", copied as written (R = may read, - = FORBIDDEN).
ACCESS_MD_TABLE = """
| IDENTITY | R | R | R | R | - |
| CARE_TEAM | R | R | R | R | - |
| EMERGENCY | R | R | R | R | - |
| ALLERGIES | R | R | R | R | - |
| LIFESTYLE | R | - | R | R | - |
| DIAGNOSTIC_STUDIES | R | - | - | R | - |
| LAB_RESULTS | R | - | - | R | - |
| PHYSIOLOGICAL_STATE | R | R | R | R | - |
| RISK_BEHAVIOURS | R | - | - | R | - |
| IMMUNIZATIONS | R | - | R | R | - |
| SCREENINGS (incl. screeningPlan) | R | - | R | R | - |
| PROBLEMS | R | R (active only) | R | R | - |
| MEDICATIONS (incl. doseCheck for NURSE/DOCTOR) | R | R | R | R | - |
| ANTHROPOMETRICS | R | R | R | R | - |
| ENCOUNTERS | R | - | - | R | - |
| DISPENSATIONS | R (with cost) | - | - | R (amountKzt null) | - |
"""
COLUMNS = (Role.PATIENT, Role.EMERGENCY, Role.NURSE, Role.DOCTOR, Role.MANAGER)
# ACCESS.md, "Patient restrictions": the sections a patient may restrict.
RESTRICTABLE_MD = {
    "LIFESTYLE",
    "DIAGNOSTIC_STUDIES",
    "LAB_RESULTS",
    "RISK_BEHAVIOURS",
    "IMMUNIZATIONS",
    "SCREENINGS",
    "PROBLEMS",
    "ENCOUNTERS",
    "DISPENSATIONS",
}


def _parse_table() -> dict[str, dict[Role, str]]:
    table: dict[str, dict[Role, str]] = {}
    for line in ACCESS_MD_TABLE.strip().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        section = cells[0].split(" ")[0]
        table[section] = dict(zip(COLUMNS, cells[1:], strict=True))
    return table


MD = _parse_table()
SETTINGS = PolicySettings()
PATIENT_IIN = "900101300007"
OTHER_IIN = "061211600012"
ORG_BIN = "900101300811"
ALL = frozenset(Section)
REASON = "unconscious, brought in by ambulance"

SITUATIONS = (
    "own",
    "attached",
    "encounter-related",
    "unrelated",
    "unrelated+break-glass",
    "restricted",
    "restricted+break-glass",
)


def principal(role: Role, situation: str) -> Principal:
    """A principal of `role`; for `own`, one whose token carries the patient's IIN."""
    if role is Role.PATIENT:
        iin = (
            PATIENT_IIN
            if situation in ("own", "restricted", "restricted+break-glass")
            else OTHER_IIN
        )
        return Principal(subject="p-1", role=role, iin=iin)
    iin = PATIENT_IIN if situation == "own" else None
    return Principal(
        subject="s-1", role=role, iin=iin, practitioner_id="P-1", org_bin=ORG_BIN, region=None
    )


def situation_inputs(
    situation: str,
) -> tuple[CareRelationship | None, frozenset[Section], str | None]:
    """(care relationship, patient restrictions, break-glass reason) of a situation."""
    none = CareRelationship(attached=False, recent_encounter=False)
    restricted = frozenset(Section(name) for name in RESTRICTABLE_MD)
    return {
        "own": (none, frozenset(), None),
        "attached": (CareRelationship(attached=True, recent_encounter=False), frozenset(), None),
        "encounter-related": (CareRelationship(False, True), frozenset(), None),
        "unrelated": (none, frozenset(), None),
        "unrelated+break-glass": (none, frozenset(), REASON),
        "restricted": (CareRelationship(True, False), restricted, None),
        "restricted+break-glass": (CareRelationship(True, False), restricted, REASON),
    }[situation]


def expected_passport(role: Role, section: str, situation: str) -> str:
    """What ACCESS.md says `passport` gives: "R" or the error code."""
    cell = MD[section][role]
    if role is Role.PATIENT:
        own = situation in ("own", "restricted", "restricted+break-glass")
        return ("R" if cell.startswith("R") else "FORBIDDEN") if own else "FORBIDDEN"
    if role in (Role.EMERGENCY, Role.MANAGER):
        return "FORBIDDEN"  # EMERGENCY reads via `emergency` only; managers never read a person
    related = situation in ("attached", "encounter-related", "restricted", "restricted+break-glass")
    break_glass = situation.endswith("break-glass")
    if not related and not break_glass:
        return "FORBIDDEN"
    if not cell.startswith("R"):
        return "FORBIDDEN"
    if situation == "restricted" and section in RESTRICTABLE_MD:
        return "RESTRICTED_BY_PATIENT"
    return "R"


CASES = [
    (role, section, situation) for role in COLUMNS for section in MD for situation in SITUATIONS
]


@pytest.mark.parametrize(("role", "section", "situation"), CASES)
def test_passport_section(role: Role, section: str, situation: str) -> None:
    relationship, restrictions, reason = situation_inputs(situation)
    decision = decide(
        principal(role, situation),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        frozenset({Section(section)}),
        relationship,
        restrictions,
        reason,
        SETTINGS,
    )
    expected = expected_passport(role, section, situation)
    if expected == "R":
        assert decision.allowed == {Section(section)}
        assert decision.denied == {}
    else:
        assert decision.allowed == frozenset()
        assert decision.denied == {Section(section): expected}


@pytest.mark.parametrize(("role", "situation"), [(r, s) for r in COLUMNS for s in SITUATIONS])
def test_passport_whole_request(role: Role, situation: str) -> None:
    """All sections at once: flags, and a whole-request denial exactly when nothing may be read."""
    relationship, restrictions, reason = situation_inputs(situation)
    decision = decide(
        principal(role, situation),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ALL,
        relationship,
        restrictions,
        reason,
        SETTINGS,
    )
    outcomes = {s: expected_passport(role, s, situation) for s in MD}
    assert decision.allowed == {Section(s) for s, o in outcomes.items() if o == "R"}
    assert decision.refused == all(o == "FORBIDDEN" for o in outcomes.values())
    if decision.refused:
        assert isinstance(decision.denial, Forbidden)
    clinician_bg = role in (Role.NURSE, Role.DOCTOR) and situation.endswith("break-glass")
    assert decision.break_glass == clinician_bg
    assert decision.reason == (REASON if clinician_bg else None)
    if not decision.refused:
        assert decision.show_cost == ("with cost" in MD["DISPENSATIONS"][role])
        assert decision.active_problems_only is False


EMERGENCY_DISCLOSES = {
    "IDENTITY",
    "EMERGENCY",
    "ALLERGIES",
    "PROBLEMS",
    "MEDICATIONS",
    "PHYSIOLOGICAL_STATE",
    "ANTHROPOMETRICS",
}


@pytest.mark.parametrize(("role", "section"), [(r, s) for r in COLUMNS for s in MD])
@pytest.mark.parametrize("restricted", [False, True])
def test_emergency_entry_point(role: Role, section: str, restricted: bool) -> None:
    restrictions = frozenset(Section(n) for n in RESTRICTABLE_MD) if restricted else frozenset()
    decision = decide(
        principal(role, "unrelated"),
        EntryPoint.EMERGENCY,
        PATIENT_IIN,
        frozenset({Section(section)}),
        None,  # no care relationship needed
        restrictions,
        "road accident",
        SETTINGS,
    )
    # ACCESS.md: EMERGENCY, NURSE and DOCTOR may use `emergency`; restrictions do not hide
    # active problems there; the other fields of EmergencyData are unrestrictable.
    if role in (Role.EMERGENCY, Role.NURSE, Role.DOCTOR) and section in EMERGENCY_DISCLOSES:
        assert MD[section][role].startswith("R")
        assert decision.allowed == {Section(section)}
        assert decision.active_problems_only is True
        assert decision.show_cost is False
        assert decision.reason == "road accident"
        assert decision.break_glass is False
    else:
        assert decision.allowed == frozenset()
        assert decision.denied == {Section(section): "FORBIDDEN"}


@pytest.mark.parametrize("role", [Role.EMERGENCY, Role.NURSE, Role.DOCTOR])
@pytest.mark.parametrize("reason", [None, "", "   ", "ab", "  ab  ", "\x00\x00\x00\x00", "y" * 501])
def test_emergency_needs_a_reason(role: Role, reason: str | None) -> None:
    decision = decide(
        principal(role, "unrelated"),
        EntryPoint.EMERGENCY,
        PATIENT_IIN,
        ALL,
        None,
        frozenset(),
        reason,
        SETTINGS,
    )
    assert decision.refused and isinstance(decision.denial, BadUserInput)
    assert decision.allowed == frozenset()


@pytest.mark.parametrize("role", [Role.NURSE, Role.DOCTOR])
@pytest.mark.parametrize(
    "reason",
    [
        "",
        "   ",
        "too short",
        " 123456789 ",
        "\t\n123456789\n",
        "\x00" * 20,  # control characters are not a reason
        "\u200b\u200e" * 10 + "abc",  # nor are invisible format characters
        "x" * 501,  # longer than a reason
    ],
)
def test_short_break_glass_reason_is_bad_input(role: Role, reason: str) -> None:
    for relationship in (None, CareRelationship(True, True)):
        decision = decide(
            principal(role, "unrelated"),
            EntryPoint.PASSPORT,
            PATIENT_IIN,
            ALL,
            relationship,
            frozenset(),
            reason,
            SETTINGS,
        )
        assert decision.refused and isinstance(decision.denial, BadUserInput)
        assert decision.allowed == frozenset()
        assert set(decision.denied.values()) == {"BAD_USER_INPUT"}


@pytest.mark.parametrize(
    ("given", "audited"),
    [
        ("  1234567890  ", "1234567890"),  # ten characters after the strip are enough
        ("\x00Unconscious\tpatient,\n\n  no  relatives\x07 ", "Unconscious patient, no relatives"),
    ],
)
def test_a_reason_is_audited_without_control_characters_and_extra_spaces(
    given: str, audited: str
) -> None:
    decision = decide(
        principal(Role.DOCTOR, "unrelated"),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ALL,
        None,
        frozenset(),
        given,
        SETTINGS,
    )
    assert decision.break_glass and decision.reason == audited


def test_configured_minimum_is_used() -> None:
    settings = PolicySettings(break_glass_min_chars=20)
    decision = decide(
        principal(Role.NURSE, "unrelated"),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ALL,
        None,
        frozenset(),
        "fifteen chars!!",
        settings,
    )
    assert isinstance(decision.denial, BadUserInput)


@pytest.mark.parametrize("role", COLUMNS)
@pytest.mark.parametrize("entry", list(EntryPoint))
@pytest.mark.parametrize("iin", ["900101300008", "12345", "abcdefghijkl", ""])
def test_invalid_iin_is_bad_input(role: Role, entry: EntryPoint, iin: str) -> None:
    decision = decide(
        principal(role, "attached"),
        entry,
        iin,
        ALL,
        CareRelationship(True, True),
        frozenset(),
        REASON,
        SETTINGS,
    )
    assert isinstance(decision.denial, BadUserInput) and decision.allowed == frozenset()


def test_patient_asking_for_another_iin_is_forbidden_whole() -> None:
    me = Principal(subject="p", role=Role.PATIENT, iin=OTHER_IIN)
    decision = decide(me, EntryPoint.PASSPORT, PATIENT_IIN, ALL, None, frozenset(), None, SETTINGS)
    assert isinstance(decision.denial, Forbidden)
    assert decision.denied == dict.fromkeys(Section, "FORBIDDEN")


def test_patient_sees_own_restricted_sections_with_cost() -> None:
    me = Principal(subject="p", role=Role.PATIENT, iin=PATIENT_IIN)
    decision = decide(
        me,
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ALL,
        None,
        frozenset(Section),
        None,
        SETTINGS,
    )
    assert decision.allowed == ALL and decision.show_cost and not decision.break_glass


def test_doctor_sees_dispensations_without_cost() -> None:
    decision = decide(
        principal(Role.DOCTOR, "attached"),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        frozenset({Section.DISPENSATIONS}),
        CareRelationship(True, False),
        frozenset(),
        None,
        SETTINGS,
    )
    assert decision.allowed == {Section.DISPENSATIONS} and decision.show_cost is False


def test_missing_relationship_is_no_relationship() -> None:
    decision = decide(
        principal(Role.DOCTOR, "unrelated"),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ALL,
        None,
        frozenset(),
        None,
        SETTINGS,
    )
    assert isinstance(decision.denial, Forbidden)


def test_restrictable_sections_are_those_of_access_md() -> None:
    assert {s.value for s in RESTRICTABLE} == RESTRICTABLE_MD


@pytest.mark.parametrize("role", COLUMNS)
def test_readable_sections(role: Role) -> None:
    expected = [Section(s) for s, cells in MD.items() if cells[role].startswith("R")]
    assert readable_sections(role) == expected


@pytest.mark.parametrize("role", COLUMNS)
def test_access_log_is_the_patients_own_only(role: Role) -> None:
    own = principal(role, "own")
    assert may_read_access_log(own, PATIENT_IIN) == (role is Role.PATIENT)
    other = Principal(subject="p", role=role, iin=OTHER_IIN)
    assert may_read_access_log(other, PATIENT_IIN) is False


@pytest.mark.parametrize("role", COLUMNS)
def test_stats_manager_only_and_region_scoped(role: Role) -> None:
    national = Principal(subject="m", role=role)
    regional = Principal(subject="m", role=role, region="astana")
    if role is not Role.MANAGER:
        with pytest.raises(Forbidden):
            stats_region(national, None)
        return
    assert stats_region(national, None) is None
    assert stats_region(national, "almaty") == "almaty"
    assert stats_region(regional, None) == "astana"
    assert stats_region(regional, "astana") == "astana"
    with pytest.raises(Forbidden):
        stats_region(regional, "almaty")


def test_needs_relationship() -> None:
    assert needs_relationship(principal(Role.NURSE, "attached"))
    assert needs_relationship(principal(Role.DOCTOR, "attached"))
    assert not needs_relationship(principal(Role.DOCTOR, "attached"), break_glass_reason=REASON)
    assert not needs_relationship(principal(Role.DOCTOR, "attached"), EntryPoint.EMERGENCY)
    for role in (Role.PATIENT, Role.EMERGENCY, Role.MANAGER):
        assert not needs_relationship(principal(role, "own"))
