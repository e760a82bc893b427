"""The basis each decision records (passport-2026-12.graphql `AccessBasis`, ACCESS.md): the
ground a read was made on, or tried on, for refused attempts too."""

from __future__ import annotations

import pytest

from gateway.auth.policy import Basis, CareRelationship, EntryPoint, Section, decide
from gateway.auth.principal import Principal, Role
from gateway.config import PolicySettings

PATIENT_IIN = "900101300007"
OTHER_IIN = "061211600012"
INVALID_IIN = "900101300008"  # a wrong check digit
ORG_BIN = "040340004567"
RELATED = CareRelationship(attached=True, recent_encounter=False)
UNRELATED = CareRelationship(attached=False, recent_encounter=False)
REASON = "unconscious in the emergency room"
ASKED = frozenset({Section.IDENTITY})


def clinician(role: Role) -> Principal:
    return Principal(subject="s", role=role, practitioner_id="P-1", org_bin=ORG_BIN)


PATIENT = Principal("p", Role.PATIENT, iin=PATIENT_IIN)
OTHER_PATIENT = Principal("p", Role.PATIENT, iin=OTHER_IIN)
CREW = Principal("e", Role.EMERGENCY)
MANAGER = Principal("m", Role.MANAGER)
DOCTOR, NURSE = clinician(Role.DOCTOR), clinician(Role.NURSE)
PASSPORT, EMERGENCY = EntryPoint.PASSPORT, EntryPoint.EMERGENCY
B = Basis


@pytest.mark.parametrize(
    "principal,entry,relationship,reason,refused,basis",
    [
        (PATIENT, PASSPORT, None, None, False, B.OWN),
        # Another IIN can only be read as that child's guardian: the ground tried.
        (OTHER_PATIENT, PASSPORT, None, None, True, B.GUARDIAN),
        (DOCTOR, PASSPORT, RELATED, None, False, B.CARE_RELATIONSHIP),
        (NURSE, PASSPORT, UNRELATED, None, True, B.CARE_RELATIONSHIP),
        (DOCTOR, PASSPORT, UNRELATED, REASON, False, B.BREAK_GLASS),
        # Any read with a reason is a break-glass read, related or not.
        (NURSE, PASSPORT, RELATED, REASON, False, B.BREAK_GLASS),
        (DOCTOR, PASSPORT, UNRELATED, "short", True, B.BREAK_GLASS),
        (CREW, EMERGENCY, None, "road accident", False, B.EMERGENCY),
        (NURSE, EMERGENCY, None, "ward call", False, B.EMERGENCY),
        (CREW, EMERGENCY, None, "  ", True, B.EMERGENCY),
        # No ground could be tried: the role may not use the entry point at all.
        (MANAGER, PASSPORT, None, None, True, None),
        (CREW, PASSPORT, None, REASON, True, None),
    ],
)
def test_decision_records_its_basis(principal, entry, relationship, reason, refused, basis):
    decision = decide(
        principal, entry, PATIENT_IIN, ASKED, relationship, frozenset(), reason, PolicySettings()
    )
    assert (decision.refused, decision.basis) == (refused, basis)


def test_a_refused_break_glass_attempt_keeps_its_reason_and_flag():
    decision = decide(
        clinician(Role.DOCTOR),
        EntryPoint.PASSPORT,
        PATIENT_IIN,
        ASKED,
        UNRELATED,
        frozenset(),
        "  too\tshort ",
        PolicySettings(),
    )
    assert decision.refused and (decision.reason, decision.break_glass) == ("too short", True)


def test_an_invalid_iin_has_no_basis():
    patient = Principal("p", Role.PATIENT, iin=INVALID_IIN)
    decision = decide(
        patient, EntryPoint.PASSPORT, INVALID_IIN, ASKED, None, frozenset(), None, PolicySettings()
    )
    assert decision.refused and decision.basis is None
