"""ACCESS.md "Guardians" as the policy applies it: who is a child's guardian on which day, what
the guardian may read and change, and on what ground a refusal is audited. Expected outcomes
are this file's reading of ACCESS.md and SOURCES.md (RelatedPerson), not the code's."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.auth.policy import (
    Basis,
    EntryPoint,
    Guardians,
    Section,
    decide,
    decide_restriction,
    dependants,
    grants_access,
    may_read_access_log,
    needs_guardians,
    notifies_patient,
)
from gateway.auth.principal import Principal, Role
from gateway.config import PolicySettings
from gateway.errors import SourceUnavailable
from gateway.records import Guardianship, PatientRecord, Provenance

PARENT_IIN = "900101300007"
CHILD_IIN = "061211600012"
OTHER_CHILD_IIN = "900101300811"
TODAY = date(2026, 12, 3)
ALL = frozenset(Section)
PARENT = Principal("p", Role.PATIENT, iin=PARENT_IIN)


def child(iin: str = CHILD_IIN, born: date = date(2015, 6, 1)) -> PatientRecord:
    return PatientRecord(
        iin=iin,
        family="Ахметов",
        given="Али",
        patronymic=None,
        full_name="Ахметов Али",
        birth_date=born,
        sex="MALE",
        region="astana",
        local_id="pat-1",
        managing_org_id=None,
        managing_org=None,
        gp_id=None,
        gp=None,
        provenance=Provenance("register"),
    )


def record(**changes) -> Guardianship:
    values = {
        "adult_iin": PARENT_IIN,
        "child": child(),
        "relationship": "MTH",
        "active": True,
        "start": date(2015, 6, 1),
        "end": None,
    }
    values.update(changes)
    return Guardianship(**values)


@pytest.mark.parametrize("code", ["MTH", "FTH", "PRN", "GUARD"])
def test_parents_and_legal_guardians_grant_access(code: str) -> None:
    assert grants_access(record(relationship=code), TODAY)


@pytest.mark.parametrize("code", ["GRMTH", "SIS", "NOK", "", None])
def test_other_relationships_grant_nothing(code) -> None:
    assert not grants_access(record(relationship=code), TODAY)


@pytest.mark.parametrize("active", [False, None])
def test_an_inactive_record_grants_nothing(active) -> None:
    assert not grants_access(record(active=active), TODAY)


def test_the_period_must_cover_today() -> None:
    assert grants_access(record(start=TODAY), TODAY)
    assert not grants_access(record(start=date(2026, 12, 4)), TODAY)
    assert grants_access(record(end=TODAY), TODAY)  # the last day still covered
    # ground-truth guardianEnded: the register may leave an ended record active
    assert not grants_access(record(end=date(2026, 12, 2)), TODAY)
    # a period without a start: whether it covers today is not known
    assert not grants_access(record(start=None), TODAY)


def test_access_ends_on_the_18th_birthday() -> None:
    born = date(2008, 12, 3)
    assert grants_access(record(child=child(born=born)), date(2026, 12, 2))
    assert not grants_access(record(child=child(born=born)), TODAY)


def test_a_29_february_child_comes_of_age_on_1_march() -> None:
    born = date(2008, 2, 29)
    assert grants_access(record(child=child(born=born)), date(2026, 2, 28))
    assert not grants_access(record(child=child(born=born)), date(2026, 3, 1))


def test_an_unresolved_or_undated_child_grants_nothing() -> None:
    assert not grants_access(record(child=None), TODAY)
    assert not grants_access(record(child=child(born=None)), TODAY)


def test_dependants_lists_each_granted_child_once_eldest_first() -> None:
    younger = child(OTHER_CHILD_IIN, date(2019, 1, 1))
    guardians = Guardians(
        (
            record(child=younger, relationship="GUARD"),
            record(),
            record(relationship="FTH"),  # a second record for the same child
            record(child=child("050505600001", date(2005, 5, 5))),  # an adult now
        )
    )
    assert [c.iin for c in dependants(guardians, TODAY)] == [CHILD_IIN, OTHER_CHILD_IIN]


def test_a_guardian_reads_what_the_child_would_see() -> None:
    guardians = Guardians((record(),))
    decision = decide(
        PARENT,
        EntryPoint.PASSPORT,
        CHILD_IIN,
        ALL,
        None,
        frozenset({Section.LAB_RESULTS}),  # the child's restrictions do not hide from them
        None,
        PolicySettings(),
        guardians,
        TODAY,
    )
    assert not decision.refused
    assert decision.allowed == ALL and decision.denied == {}
    assert decision.basis is Basis.GUARDIAN and decision.show_cost
    assert may_read_access_log(PARENT, CHILD_IIN, decision.basis)
    assert not may_read_access_log(PARENT, CHILD_IIN)


def test_another_child_is_forbidden_and_the_attempt_has_the_guardian_basis() -> None:
    decision = decide(
        PARENT,
        EntryPoint.PASSPORT,
        OTHER_CHILD_IIN,
        ALL,
        None,
        frozenset(),
        None,
        PolicySettings(),
        Guardians((record(),)),
        TODAY,
    )
    assert decision.refused and decision.denial.code == "FORBIDDEN"
    assert decision.basis is Basis.GUARDIAN and decision.allowed == frozenset()


def test_a_register_that_cannot_say_refuses_with_source_unavailable() -> None:
    down = Guardians(unavailable=SourceUnavailable("register", "timeout"))
    decision = decide(
        PARENT, EntryPoint.PASSPORT, CHILD_IIN, ALL, None, frozenset(), None, PolicySettings(), down
    )
    assert decision.refused and decision.denial.code == "SOURCE_UNAVAILABLE"
    assert decision.basis is Basis.GUARDIAN


def test_guardians_are_needed_only_for_a_patient_asking_for_another_iin() -> None:
    assert needs_guardians(PARENT, EntryPoint.PASSPORT, CHILD_IIN)
    assert not needs_guardians(PARENT, EntryPoint.PASSPORT, PARENT_IIN)
    assert not needs_guardians(PARENT, EntryPoint.PASSPORT, "061211600013")  # invalid IIN
    assert not needs_guardians(PARENT, EntryPoint.EMERGENCY, CHILD_IIN)
    doctor = Principal("d", Role.DOCTOR, practitioner_id="P-1", org_bin="040340004567")
    assert not needs_guardians(doctor, EntryPoint.PASSPORT, CHILD_IIN)


def test_who_may_restrict_whose_sections() -> None:
    own = decide_restriction(PARENT, PARENT_IIN)
    assert not own.refused and own.basis is Basis.OWN
    mine = decide_restriction(PARENT, CHILD_IIN, Guardians((record(),)))
    assert not mine.refused and mine.basis is Basis.GUARDIAN
    ended = decide_restriction(PARENT, CHILD_IIN, Guardians((record(end=date(2020, 1, 1)),)))
    assert ended.refused and ended.basis is Basis.GUARDIAN
    assert ended.denial.code == "FORBIDDEN"
    doctor = Principal("d", Role.DOCTOR, practitioner_id="P-1", org_bin="040340004567")
    staff = decide_restriction(doctor, CHILD_IIN)
    assert staff.refused and staff.basis is None and staff.denial.code == "FORBIDDEN"


@pytest.mark.parametrize(
    "basis,outcome,told",
    [
        (Basis.BREAK_GLASS, "DISCLOSED", True),
        (Basis.EMERGENCY, "DISCLOSED", True),
        (Basis.EMERGENCY, "REFUSED", True),
        (Basis.BREAK_GLASS, "REFUSED", True),
        (Basis.EMERGENCY, "NOT_FOUND", False),  # nobody to tell
        (Basis.CARE_RELATIONSHIP, "DISCLOSED", False),
        (Basis.GUARDIAN, "DISCLOSED", False),
        (Basis.OWN, "DISCLOSED", False),
        (Basis.EMERGENCY, "CHANGED", False),
    ],
)
def test_which_attempts_the_patient_is_told_about(basis, outcome, told) -> None:
    assert notifies_patient(basis, outcome) is told
