"""ACCESS.md "Guardians" over real HTTP: parents and legal guardians read their children's
passports, list them (`dependants`), restrict their sections; everyone else is refused, and
every attempt is in the child's log. Who may read whom comes from the generator's ground truth
(`guardians[].grantsAccess`, `dependants`, the family edge cases), never from the gateway."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Gateway, Stack, random_subject
from tests.e2e.test_access_matrix import PASSPORT_QUERY
from tests.e2e.test_audit_trail import sqlite_url
from tests.e2e.test_resilience import errors_by_path

DEPENDANTS = "{ dependants { iin fullName birthDate age } }"
LOG = """
query($iin: IIN!) { passport(iin: $iin) { accessLog(limit: 500) {
  role subject sections basis outcome breakGlass
} } }
"""
IDENTITY = "query($iin: IIN!) { passport(iin: $iin) { identity { iin fullName } } }"
LABS = "query($iin: IIN!) { passport(iin: $iin) { labResults { orderNumber } restrictedSections } }"
RESTRICT = """
mutation($section: Section!, $on: Boolean!, $iin: IIN) {
  restrictSection(section: $section, restricted: $on, iin: $iin)
}
"""
FAMILY_CASES = ("guardianEnded", "childTurned18", "twins", "legalGuardian")


def family_pairs(truth: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(child, guardian, may read today) for every RelatedPerson of the family edge cases."""
    pairs = []
    for case in FAMILY_CASES:
        for child in truth["edgeCases"][case]:
            for guardian in truth["people"][child]["guardians"]:
                pairs.append((child, guardian["iin"], guardian["grantsAccess"]))
    return sorted(set(pairs))


def a_parent_and_child(truth: dict[str, Any], code: str = "MTH") -> tuple[str, str]:
    """A guardian with `code` who may read today, and the child with the most lab results."""
    people = truth["people"]
    found = [
        (len(person["labResults"]), child, g["iin"])
        for child, person in people.items()
        for g in person["guardians"]
        if g["grantsAccess"] and g["relationship"] == code
    ]
    _, child, parent = max(found)
    return parent, child


def patient(stack: Stack, iin: str, subject: str | None = None) -> str:
    """A patient's token."""
    return stack.token("patient", iin=iin, subject=subject or random_subject())


@pytest.fixture
def own_audit(stack: Stack, tmp_path: Path) -> Iterator[tuple[Gateway, Path]]:
    """A gateway with an audit (and restrictions) database of its own."""
    database = tmp_path / "audit.db"
    with stack.fresh_gateway(audit={"database_url": sqlite_url(database)}) as gateway:
        yield gateway, database


def test_dependants_are_the_truths_for_everyone(stack: Stack) -> None:
    people = stack.ground_truth["people"]
    checked_parents = 0
    for iin, person in sorted(people.items()):
        body = stack.graphql(DEPENDANTS, {}, patient(stack, iin)).json()
        assert "errors" not in body, (iin, body)
        listed = body["data"]["dependants"]
        expected = sorted(
            person["dependants"], key=lambda c: (people[c]["identity"]["birthDate"], c)
        )
        assert [child["iin"] for child in listed] == expected, iin
        for child in listed:
            identity = people[child["iin"]]["identity"]
            assert child["fullName"] == identity["fullName"]
            assert child["birthDate"] == identity["birthDate"]
            assert child["age"] == identity["age"] < 18
        checked_parents += bool(expected)
    assert checked_parents > 10  # the population has families to check


@pytest.mark.parametrize("role", ["emergency", "nurse", "doctor", "manager"])
def test_dependants_are_empty_for_staff(stack: Stack, role: str) -> None:
    body = stack.graphql(DEPENDANTS, {}, stack.token(role)).json()
    assert body == {"data": {"dependants": []}}


def test_a_parent_sees_what_the_child_sees(stack: Stack) -> None:
    parent, child = a_parent_and_child(stack.ground_truth)
    as_parent = stack.graphql(PASSPORT_QUERY, {"iin": child}, patient(stack, parent)).json()
    as_child = stack.graphql(PASSPORT_QUERY, {"iin": child}, patient(stack, child)).json()
    # Exactly the child's own answer: doseCheck is for nurses and doctors, for both of them.
    assert errors_by_path(as_parent) == {("passport", "doseCheck"): "FORBIDDEN"}
    assert as_parent == as_child
    passport = as_parent["data"]["passport"]
    truth = stack.ground_truth["people"][child]
    assert passport["identity"] == {"iin": child, "fullName": truth["identity"]["fullName"]}
    assert len(passport["labResults"]) == len(truth["labResults"]) > 0
    # With cost, as the patient sees their own dispensations.
    assert Counter(d["amountKzt"] for d in passport["dispensations"]) == Counter(
        d["amountKzt"] for d in truth["dispensations"]
    )


def test_the_guardian_reads_the_childs_access_log_which_shows_their_reads(stack: Stack) -> None:
    parent, child = a_parent_and_child(stack.ground_truth, "FTH")
    subject = random_subject()
    token = patient(stack, parent, subject)
    assert "errors" not in stack.graphql(IDENTITY, {"iin": child}, token).json()
    seen_by_parent = stack.graphql(LOG, {"iin": child}, token).json()
    assert "errors" not in seen_by_parent, seen_by_parent
    mine = [e for e in seen_by_parent["data"]["passport"]["accessLog"] if e["subject"] == subject]
    # The identity read, then the log read itself (the log is not a section: no event).
    assert mine == [
        {
            "role": "PATIENT",
            "subject": subject,
            "sections": ["IDENTITY"],
            "basis": "GUARDIAN",
            "outcome": "DISCLOSED",
            "breakGlass": False,
        }
    ]
    seen_by_child = stack.graphql(LOG, {"iin": child}, patient(stack, child)).json()
    assert [e for e in seen_by_child["data"]["passport"]["accessLog"] if e["subject"] == subject]


def test_every_guardian_of_the_family_edge_cases(stack: Stack) -> None:
    """Ended guardianships, children turned 18, the twins' grandmother, legal guardians: each
    RelatedPerson reads exactly when the truth grants it; a refusal is in the child's log."""
    truth = stack.ground_truth
    pairs = family_pairs(truth)
    assert {allowed for _, _, allowed in pairs} == {True, False}
    for child, guardian, allowed in pairs:
        subject = random_subject()
        body = stack.graphql(IDENTITY, {"iin": child}, patient(stack, guardian, subject)).json()
        if allowed:
            assert "errors" not in body, (child, guardian, body)
            name = truth["people"][child]["identity"]["fullName"]
            assert body["data"]["passport"]["identity"] == {"iin": child, "fullName": name}
        else:
            assert body["data"] == {"passport": None}, (child, guardian)
            assert errors_by_path(body) == {("passport",): "FORBIDDEN"}
        log = stack.graphql(LOG, {"iin": child}, patient(stack, child)).json()
        events = [e for e in log["data"]["passport"]["accessLog"] if e["subject"] == subject]
        outcome = "DISCLOSED" if allowed else "REFUSED"
        sections = ["IDENTITY"] if allowed else []
        assert [(e["basis"], e["outcome"], e["sections"]) for e in events] == [
            ("GUARDIAN", outcome, sections)
        ], (child, guardian)


def test_the_twins_grandmother_reads_one_twin_only(stack: Stack) -> None:
    truth = stack.ground_truth
    people = truth["people"]
    twin = next(
        iin
        for iin in truth["edgeCases"]["twins"]
        if any(g["relationship"] == "GUARD" for g in people[iin]["guardians"])
    )
    sibling = people[twin]["twin"]
    grandmother = next(g["iin"] for g in people[twin]["guardians"] if g["relationship"] == "GUARD")
    assert grandmother not in {g["iin"] for g in people[sibling]["guardians"]}
    token = patient(stack, grandmother)
    assert "errors" not in stack.graphql(IDENTITY, {"iin": twin}, token).json()
    refused = stack.graphql(IDENTITY, {"iin": sibling}, token).json()
    assert errors_by_path(refused) == {("passport",): "FORBIDDEN"}
    listed = stack.graphql(DEPENDANTS, {}, token).json()["data"]["dependants"]
    assert twin in [c["iin"] for c in listed] and sibling not in [c["iin"] for c in listed]


def test_a_parent_probing_another_child_leaves_an_event_in_that_childs_log(stack: Stack) -> None:
    parent, _ = a_parent_and_child(stack.ground_truth)
    people = stack.ground_truth["people"]
    stranger = next(
        iin
        for iin, p in sorted(people.items())
        if p["identity"]["age"] < 18 and parent not in {g["iin"] for g in p["guardians"]}
    )
    subject = random_subject()
    body = stack.graphql(LOG, {"iin": stranger}, patient(stack, parent, subject)).json()
    assert body["data"] == {"passport": None}
    assert errors_by_path(body) == {("passport",): "FORBIDDEN"}
    log = stack.graphql(LOG, {"iin": stranger}, patient(stack, stranger)).json()
    events = [e for e in log["data"]["passport"]["accessLog"] if e["subject"] == subject]
    assert [(e["role"], e["basis"], e["outcome"]) for e in events] == [
        ("PATIENT", "GUARDIAN", "REFUSED")
    ]


def _doctor_of(truth: dict[str, Any], iin: str) -> dict[str, str]:
    """Claims of a doctor of the polyclinic the person is attached to."""
    clinic = truth["people"][iin]["careTeam"]["attachedOrganization"]["bin"]
    doctor = next(
        p
        for p in sorted(truth["practitioners"], key=lambda p: p["id"])
        if p["orgBin"] == clinic and "врач" in p["qualification"].lower()
    )
    return {"org_bin": clinic, "practitioner_id": doctor["id"]}


def test_restrictions_set_by_a_guardian_apply_to_clinicians(
    stack: Stack, own_audit: tuple[Gateway, Path]
) -> None:
    gateway, database = own_audit
    truth = stack.ground_truth
    parent, child = a_parent_and_child(truth)
    subject = random_subject()
    token = patient(stack, parent, subject)
    doctor = stack.token("doctor", subject=random_subject(), **_doctor_of(truth, child))
    before = gateway.graphql(LABS, {"iin": child}, doctor).json()
    assert "errors" not in before and before["data"]["passport"]["labResults"]

    changed = gateway.graphql(RESTRICT, {"section": "LAB_RESULTS", "on": True, "iin": child}, token)
    assert changed.json() == {"data": {"restrictSection": ["LAB_RESULTS"]}}
    hidden = gateway.graphql(LABS, {"iin": child}, doctor).json()
    assert errors_by_path(hidden) == {("passport", "labResults"): "RESTRICTED_BY_PATIENT"}
    assert hidden["data"]["passport"]["restrictedSections"] == ["LAB_RESULTS"]
    # The child (and the guardian) still see everything of theirs.
    own = gateway.graphql(LABS, {"iin": child}, patient(stack, child)).json()
    assert "errors" not in own and own["data"]["passport"]["labResults"]
    # The guardian's own passport is untouched.
    mine = gateway.graphql(LABS, {"iin": parent}, token).json()
    assert mine["data"]["passport"]["restrictedSections"] == []

    revealed = gateway.graphql(
        RESTRICT, {"section": "LAB_RESULTS", "on": False, "iin": child}, token
    ).json()
    assert revealed == {"data": {"restrictSection": []}}
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT action, outcome, basis, role, sections FROM audit_events WHERE subject = ? "
            "AND action != 'disclose' ORDER BY seq",
            (subject,),
        ).fetchall()
    assert rows == [
        ("restrict", "CHANGED", "GUARDIAN", "PATIENT", '["LAB_RESULTS"]'),
        ("unrestrict", "CHANGED", "GUARDIAN", "PATIENT", '["LAB_RESULTS"]'),
    ]


def test_no_one_else_restricts_a_childs_sections(
    stack: Stack, own_audit: tuple[Gateway, Path]
) -> None:
    gateway, database = own_audit
    truth = stack.ground_truth
    ended = next(
        (child, g["iin"])
        for child in truth["edgeCases"]["childTurned18"]
        for g in truth["people"][child]["guardians"]
    )
    child, former = ended
    subject = random_subject()
    body = gateway.graphql(
        RESTRICT, {"section": "PROBLEMS", "on": True, "iin": child}, patient(stack, former, subject)
    ).json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    shown = gateway.graphql(LABS, {"iin": child}, patient(stack, child)).json()
    assert shown["data"]["passport"]["restrictedSections"] == []
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT action, outcome, basis FROM audit_events WHERE subject = ?", (subject,)
        ).fetchall()
    assert rows == [("restrict", "REFUSED", "GUARDIAN")]


def test_a_guardian_gets_the_childs_ips_summary(stack: Stack) -> None:
    parent, child = a_parent_and_child(stack.ground_truth, "MTH")
    token = patient(stack, parent)
    url = f"{stack.gateway.url}/fhir/Patient/{child}/$summary"
    answer = stack.client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    patients = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert [i["value"] for p in patients for i in p["identifier"]] == [child]
    stranger = stack.ground_truth["edgeCases"]["childTurned18"][0]
    refused = stack.client.get(
        f"{stack.gateway.url}/fhir/Patient/{stranger}/$summary",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"


def test_an_unanswering_register_is_source_unavailable_not_forbidden(clean_faults: Stack) -> None:
    stack = clean_faults
    parent, child = a_parent_and_child(stack.ground_truth)
    with stack.fresh_gateway() as gateway:  # a cold cache: no copy of the register's answer
        stack.fault("register", down=True)
        body = gateway.graphql(IDENTITY, {"iin": child}, patient(stack, parent)).json()
        assert errors_by_path(body) == {("passport",): "SOURCE_UNAVAILABLE"}
        listed = gateway.graphql(DEPENDANTS, {}, patient(stack, parent)).json()
        assert listed["data"] is None
        assert errors_by_path(listed) == {("dependants",): "SOURCE_UNAVAILABLE"}
