"""Every attempt is audited, and every audit event is bounded (issue 11, holes 5 and 7).

Over real HTTP against a gateway with an audit file of its own: a break-glass probe that
reads no section, a read refused for want of a care relationship, an unknown IIN asked with
a reason, and emergency calls each write an event, shown in the patient's `accessLog` with
its basis and outcome. The request id a client sends is kept only when short and plain, and
hostile values (a huge subject claim, a huge reason, many sections) never make an event
larger than the bound. Who is related to whom comes from the generator's ground truth.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.events import MAX_EVENT_BYTES
from tests.e2e.conftest import Gateway, Stack, random_subject
from tests.e2e.test_access_matrix import unknown_valid_iin
from tests.e2e.test_audit_trail import _patient, _stranger, audit_verify, sqlite_url, write_config

LOG = """
query($iin: IIN!) { passport(iin: $iin) { accessLog(limit: 500) {
  role subject sections reason breakGlass basis outcome restrictionsShown
} } }
"""
PROBE = """
query($iin: IIN!, $reason: String) {
  passport(iin: $iin, breakGlassReason: $reason) { iin restrictedSections }
}
"""
IDENTITY = """
query($iin: IIN!, $reason: String) {
  passport(iin: $iin, breakGlassReason: $reason) { identity { fullName } }
}
"""
EMERGENCY_SOURCES = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) { sources { source } } }
"""
EMERGENCY_ALLERGIES = """
query($iin: IIN!, $reason: String!) {
  emergency(iin: $iin, reason: $reason) { allergies { substance { code } } }
}
"""


@pytest.fixture
def audited(stack: Stack, tmp_path: Path) -> Iterator[tuple[Gateway, Path, Path]]:
    """A gateway with an audit file of its own, the file, and a configuration naming it."""
    database = tmp_path / "audit.db"
    sections = {"audit": {"database_url": sqlite_url(database)}}
    config = write_config(stack, tmp_path / "gateway.toml", **sections)
    with stack.fresh_gateway(**sections) as gateway:
        yield gateway, database, config


def post(
    gateway: Gateway,
    query: str,
    variables: dict[str, Any],
    token: str,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A GraphQL request over HTTP, with an X-Request-Id when given."""
    headers = {"Authorization": f"Bearer {token}"}
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    response = gateway.client.post(
        f"{gateway.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    return response.json()


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", ())]


def events(database: Path, **where: object) -> list[dict[str, Any]]:
    """The stored events matching `where` (column = value), in chain order."""
    conn = sqlite3.connect(database)
    conn.row_factory = sqlite3.Row
    try:
        clause = " AND ".join(f"{name} = ?" for name in where) or "1"
        rows = conn.execute(
            f"SELECT * FROM audit_events WHERE {clause} ORDER BY seq", tuple(where.values())
        ).fetchall()
        return [dict(row) for row in rows]
    finally:
        conn.close()


def access_log(stack: Stack, gateway: Gateway, iin: str) -> list[dict[str, Any]]:
    """The patient's own access log, read over HTTP."""
    token = stack.token("patient", iin=iin, subject=random_subject())
    answer = post(gateway, LOG, {"iin": iin}, token)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]["passport"]["accessLog"]


def doctor_token(stack: Stack, doctor: dict[str, Any], subject: str) -> str:
    return stack.token(
        "doctor", org_bin=doctor["orgBin"], practitioner_id=doctor["id"], subject=subject
    )


def test_a_break_glass_probe_of_restrictions_is_in_the_patients_log(stack: Stack, audited):
    gateway, _, _ = audited
    iin = _patient(stack.ground_truth, skip=4)
    subject, reason = random_subject(), f"checking what is hidden {secrets.token_hex(3)}"
    token = doctor_token(stack, _stranger(stack.ground_truth, iin), subject)
    answer = post(gateway, PROBE, {"iin": iin, "reason": reason}, token)
    assert answer["data"]["passport"]["iin"] == iin  # the probe confirmed the person exists
    mine = [e for e in access_log(stack, gateway, iin) if e["subject"] == subject]
    assert mine == [
        {
            "role": "DOCTOR",
            "subject": subject,
            "sections": [],
            "reason": reason,
            "breakGlass": True,
            "basis": "BREAK_GLASS",
            "outcome": "DISCLOSED",
            "restrictionsShown": True,
        }
    ]


def test_a_read_refused_for_want_of_a_relationship_is_in_the_log(stack: Stack, audited):
    gateway, _, _ = audited
    iin = _patient(stack.ground_truth, skip=5)
    subject = random_subject()
    token = doctor_token(stack, _stranger(stack.ground_truth, iin), subject)
    answer = post(gateway, IDENTITY, {"iin": iin, "reason": None}, token)
    assert answer["data"] == {"passport": None} and codes(answer) == ["FORBIDDEN"]
    mine = [e for e in access_log(stack, gateway, iin) if e["subject"] == subject]
    assert [(e["outcome"], e["basis"], e["sections"], e["breakGlass"]) for e in mine] == [
        ("REFUSED", "CARE_RELATIONSHIP", [], False)
    ]


def test_a_too_short_break_glass_reason_is_a_refused_attempt(stack: Stack, audited):
    gateway, _, _ = audited
    iin = _patient(stack.ground_truth, skip=5)
    subject = random_subject()
    token = doctor_token(stack, _stranger(stack.ground_truth, iin), subject)
    answer = post(gateway, IDENTITY, {"iin": iin, "reason": "why"}, token)
    assert codes(answer) == ["BAD_USER_INPUT"]
    mine = [e for e in access_log(stack, gateway, iin) if e["subject"] == subject]
    assert [(e["outcome"], e["basis"], e["reason"]) for e in mine] == [
        ("REFUSED", "BREAK_GLASS", "why")
    ]


def test_an_unknown_iin_asked_with_a_reason_writes_an_event(stack: Stack, audited):
    gateway, database, _ = audited
    unknown = unknown_valid_iin(stack.ground_truth)
    doctor = _stranger(stack.ground_truth, _patient(stack.ground_truth))
    glass_id, crew_id = f"probe-{secrets.token_hex(4)}", f"crew-{secrets.token_hex(4)}"
    reason = "is this person in the register?"
    token = doctor_token(stack, doctor, random_subject())
    glass = post(gateway, PROBE, {"iin": unknown, "reason": reason}, token, glass_id)
    assert codes(glass) == ["NOT_FOUND"]
    crew = stack.token("emergency", subject=random_subject())
    call = post(
        gateway, EMERGENCY_SOURCES, {"iin": unknown, "reason": "roadside call"}, crew, crew_id
    )
    assert codes(call) == ["NOT_FOUND"]
    found = [*events(database, request_id=glass_id), *events(database, request_id=crew_id)]
    assert [(e["outcome"], e["basis"], json.loads(e["sections"])) for e in found] == [
        ("NOT_FOUND", "BREAK_GLASS", []),
        ("NOT_FOUND", "EMERGENCY", []),
    ]


def test_each_emergency_call_writes_an_event_even_when_it_shows_no_section(stack: Stack, audited):
    gateway, _, _ = audited
    iin = _patient(stack.ground_truth, skip=6)
    subject = random_subject()
    crew = stack.token("emergency", subject=subject)
    for query, reason in ((EMERGENCY_SOURCES, "call one"), (EMERGENCY_ALLERGIES, "call two")):
        answer = post(gateway, query, {"iin": iin, "reason": reason}, crew)
        assert "errors" not in answer, answer["errors"]
    mine = [e for e in access_log(stack, gateway, iin) if e["subject"] == subject]
    assert [(e["reason"], e["basis"], e["outcome"], e["sections"]) for e in mine] == [
        ("call two", "EMERGENCY", "DISCLOSED", ["ALLERGIES"]),
        ("call one", "EMERGENCY", "DISCLOSED", []),
    ]


def test_the_patients_own_reads_show_their_basis(stack: Stack, audited):
    gateway, _, _ = audited
    iin = _patient(stack.ground_truth, skip=7)
    subject = random_subject()
    own = stack.token("patient", iin=iin, subject=subject)
    post(gateway, IDENTITY, {"iin": iin, "reason": None}, own)
    post(gateway, PROBE, {"iin": iin, "reason": None}, own)  # shows no section: not logged
    mine = [e for e in access_log(stack, gateway, iin) if e["subject"] == subject]
    assert [(e["basis"], e["outcome"], e["sections"]) for e in mine] == [
        ("OWN", "DISCLOSED", ["IDENTITY"])
    ]


def test_a_refused_probe_whose_event_cannot_be_written_gets_internal(stack: Stack, audited):
    gateway, database, _ = audited
    iin = _patient(stack.ground_truth, skip=8)
    doctor = _stranger(stack.ground_truth, iin)
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER audit_events_disk_full BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    conn.close()
    subject = random_subject()
    token = doctor_token(stack, doctor, subject)
    # Neither FORBIDDEN nor what a probe would show: the attempt could not be recorded.
    for variables in ({"iin": iin, "reason": None}, {"iin": iin, "reason": "a long reason"}):
        answer = post(gateway, PROBE, variables, token)
        assert answer == {
            "data": None,
            "errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}],
        }
    assert events(database, subject=subject) == []


# --- request ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent,kept",
    [
        ("trace-2026.12_03-abc", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("two words", False),
        ("id\u00e9", False),
        ("<script>alert(1)</script>", False),
        ("r" * 200_000, False),
    ],
)
def test_a_client_request_id_is_kept_only_when_short_and_plain(
    stack: Stack, audited, sent: str, kept: bool
):
    gateway, database, _ = audited
    iin = _patient(stack.ground_truth, skip=2)
    subject = random_subject()
    token = stack.token("patient", iin=iin, subject=subject)
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": sent.encode("utf-8")}
    response = gateway.client.post(
        f"{gateway.url}/graphql",
        json={"query": IDENTITY, "variables": {"iin": iin}},
        headers=headers,
    )
    assert response.status_code == 200 and "errors" not in response.json()
    [event] = events(database, subject=subject)
    if kept:
        assert event["request_id"] == sent
    else:
        assert event["request_id"] != sent[:64] and len(event["request_id"]) == 32
        int(event["request_id"], 16)  # the server's own id: 32 hex digits


# --- bounded events -----------------------------------------------------------------------

EVERY_SECTION_TWICE = """
query($iin: IIN!, $reason: String) {
  a: passport(iin: $iin, breakGlassReason: $reason) {
    identity { iin } careTeam { generalPractitioner { id } } allergies { category }
    lifestyle { sleepHoursPerDay } immunizations { date } screenings { date }
    problems { status } currentMedications { name } anthropometrics { weightKg }
    encounters { kind } dispensations { name } labResults { value } diagnosticStudies { date }
    riskBehaviours { smoking } physiologicalState { heartRate } restrictedSections
  }
  b: passport(iin: $iin, breakGlassReason: $reason) { identity { iin } allergies { category } }
}
"""


def test_hostile_values_never_make_an_event_larger_than_the_bound(stack: Stack, audited):
    gateway, database, config = audited
    iin = _patient(stack.ground_truth, skip=9)
    doctor = _stranger(stack.ground_truth, iin)
    # As long a subject claim as a token may carry (the verifier refuses tokens over 8 kB).
    huge_subject = "𝔄" * 150 + "s" * 3000
    token = doctor_token(stack, doctor, huge_subject)
    reason = "a reason " * 6000  # 54 kB: refused as too long, and audited as an attempt
    refused = post(gateway, IDENTITY, {"iin": iin, "reason": reason}, token)
    assert codes(refused) == ["BAD_USER_INPUT"]
    served = post(gateway, EVERY_SECTION_TWICE, {"iin": iin, "reason": "mass casualty"}, token)
    assert served["data"]["a"]["identity"] == {"iin": iin}, served.get("errors")
    stored = [e for e in events(database) if e["subject"].startswith("𝔄" * 100)]
    assert [e["outcome"] for e in stored] == ["REFUSED", "DISCLOSED"]
    assert len(json.loads(stored[1]["sections"])) <= 16  # each section once
    for event in stored:
        assert len(json.dumps(event, ensure_ascii=False).encode("utf-8")) <= MAX_EVENT_BYTES
        assert "chars, sha256 " in event["subject"]
    assert "chars, sha256 " in stored[0]["reason"]
    assert audit_verify(config).returncode == 0
