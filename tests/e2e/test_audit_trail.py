"""The audit trail end to end: accessLog after real reads, `audit verify`, and fail closed.

Readers' names and organisations are expected as the register knows them (ground truth
practitioners and organisations). `python -m gateway audit verify --config PATH` runs as a
subprocess against a configuration file written here, like an operator's.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Gateway, Stack, config_data, random_subject
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ACCESS_LOG = """
query($iin: IIN!) { passport(iin: $iin) { accessLog(limit: 500) {
  at role subject practitioner { id name } organization { bin name } sections reason breakGlass
  basis outcome
} } }
"""
READ = """
query($iin: IIN!, $reason: String) { passport(iin: $iin, breakGlassReason: $reason) {
  identity { fullName } allergies { substance { code } } labResults { value }
} }
"""
EMERGENCY = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
  identity { fullName } allergies { substance { code } } activeProblems { status } bloodGroup
} }
"""


# --- configuration files and the verify command ------------------------------------------


def toml_value(value: Any) -> str:
    """One TOML value (strings, numbers, booleans, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(data: dict[str, Any]) -> str:
    """The gateway's configuration dict as a TOML document (tables and arrays of tables)."""
    lines: list[str] = []
    for name, section in data.items():
        tables = section if isinstance(section, list) else [section]
        for table in tables:
            lines.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            lines.extend(
                f"{key} = {toml_value(value)}" for key, value in table.items() if value is not None
            )
            lines.append("")
    return "\n".join(lines)


def write_config(stack: Stack, path: Path, **sections: dict[str, Any]) -> Path:
    """A configuration file for the test stack with ``sections`` overridden."""
    path.write_text(
        to_toml(config_data(stack.directory, stack.urls, stack.issuer, sections)), "utf-8"
    )
    return path


def audit_verify(config: Path) -> subprocess.CompletedProcess[str]:
    """``python -m gateway audit verify --config PATH``, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def sqlite_url(path: Path) -> str:
    """The ``audit.database_url`` of a SQLite file."""
    return f"sqlite:///{path}"


def tamper_sqlite(path: Path, statement: str, *args: Any) -> None:
    """Change the audit file behind the gateway's back, after dropping its guard triggers."""
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        conn.execute(statement, args)
    conn.close()


def disclosures(path: Path) -> list[sqlite3.Row]:
    """Every disclosure event in a SQLite audit file, in chain order."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            "SELECT * FROM audit_events WHERE action = 'disclose' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


# --- the people ---------------------------------------------------------------------------


def _patient(truth: dict[str, Any], skip: int = 0) -> str:
    """A patient with an EHR record, away from the other e2e files' favourites."""
    people = [i for i, p in sorted(truth["people"].items()) if p["ehrRegions"] and p["inLis"]]
    return people[len(people) // 2 + skip]


def _stranger(truth: dict[str, Any], iin: str) -> dict[str, Any]:
    """A practitioner of a polyclinic that neither cares for nor ever saw the patient."""
    person = truth["people"][iin]
    related = {person["careTeam"]["attachedOrganization"]["bin"]} | {
        e["organization"]["bin"] for e in person["encounters"] if e["organization"]
    }
    polyclinics = {o["bin"] for o in truth["organizations"] if o["type"] == "polyclinic"}
    return next(
        p
        for p in sorted(truth["practitioners"], key=lambda p: p["id"])
        if p["orgBin"] in polyclinics - related
    )


def _org_name(truth: dict[str, Any], bin_: str) -> str:
    return next(o["name"] for o in truth["organizations"] if o["bin"] == bin_)


@pytest.fixture(scope="module")
def trail(stack: Stack) -> dict[str, Any]:
    """A break-glass read then an emergency read of one patient, and their access log."""
    truth = stack.ground_truth
    iin = _patient(truth)
    doctor = _stranger(truth, iin)
    tag = secrets.token_hex(3)
    glass_reason = f"patient unconscious in the ER, case {tag}"
    emergency_reason = f"ambulance call {tag}"
    doctor_token = stack.token(
        "doctor",
        org_bin=doctor["orgBin"],
        practitioner_id=doctor["id"],
        subject=random_subject(),
    )
    read = stack.graphql(READ, {"iin": iin, "reason": glass_reason}, doctor_token).json()
    assert "errors" not in read, read["errors"]
    crew_token = stack.token("emergency", subject=random_subject())
    crew = stack.graphql(EMERGENCY, {"iin": iin, "reason": emergency_reason}, crew_token).json()
    assert "errors" not in crew, crew["errors"]
    patient = stack.token("patient", iin=iin, subject=random_subject())
    log = stack.graphql(ACCESS_LOG, {"iin": iin}, patient).json()
    assert "errors" not in log, log.get("errors")
    return {
        "iin": iin,
        "doctor": doctor,
        "doctor_token": doctor_token,
        "crew_token": crew_token,
        "glass_reason": glass_reason,
        "emergency_reason": emergency_reason,
        "log": log["data"]["passport"]["accessLog"],
    }


def _event(log: list[dict[str, Any]], reason: str) -> tuple[int, dict[str, Any]]:
    found = [(n, event) for n, event in enumerate(log) if event["reason"] == reason]
    assert len(found) == 1, f"{len(found)} events with reason {reason!r}"
    return found[0]


def test_break_glass_read_is_in_the_patients_access_log(stack: Stack, trail: dict) -> None:
    _, event = _event(trail["log"], trail["glass_reason"])
    doctor = trail["doctor"]
    assert event["role"] == "DOCTOR"
    assert event["breakGlass"] is True
    assert event["practitioner"] == {"id": doctor["id"], "name": doctor["name"]}
    assert event["organization"] == {
        "bin": doctor["orgBin"],
        "name": _org_name(stack.ground_truth, doctor["orgBin"]),
    }
    assert sorted(event["sections"]) == ["ALLERGIES", "IDENTITY", "LAB_RESULTS"]
    assert (event["basis"], event["outcome"]) == ("BREAK_GLASS", "DISCLOSED")


def test_emergency_read_is_in_the_access_log_too(trail: dict) -> None:
    _, event = _event(trail["log"], trail["emergency_reason"])
    assert event["role"] == "EMERGENCY"
    # Exactly what the crew's query disclosed: the blood group is the EMERGENCY section.
    assert sorted(event["sections"]) == ["ALLERGIES", "EMERGENCY", "IDENTITY", "PROBLEMS"]
    assert (event["basis"], event["outcome"]) == ("EMERGENCY", "DISCLOSED")


def test_access_log_is_newest_first(trail: dict) -> None:
    glass, _ = _event(trail["log"], trail["glass_reason"])
    emergency, _ = _event(trail["log"], trail["emergency_reason"])
    assert emergency < glass  # the emergency read came second
    times = [datetime.fromisoformat(event["at"]) for event in trail["log"]]
    assert times == sorted(times, reverse=True)


def test_another_patient_cannot_read_the_log(stack: Stack, trail: dict) -> None:
    other = _patient(stack.ground_truth, skip=1)
    token = stack.token("patient", iin=other, subject=random_subject())
    answer = stack.graphql(ACCESS_LOG, {"iin": trail["iin"]}, token).json()
    assert answer["data"] == {"passport": None}
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["passport"], "FORBIDDEN")
    ]


def test_clinicians_cannot_read_the_log_even_with_a_reason(stack: Stack, trail: dict) -> None:
    query = ACCESS_LOG.replace(
        "passport(iin: $iin)", 'passport(iin: $iin, breakGlassReason: "checking who looked")'
    )
    answer = stack.graphql(query, {"iin": trail["iin"]}, trail["doctor_token"]).json()
    assert answer["data"] == {"passport": {"accessLog": None}}
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["passport", "accessLog"], "FORBIDDEN")
    ]


# --- verify -------------------------------------------------------------------------------


@pytest.fixture
def own_audit(stack: Stack, tmp_path: Path) -> Iterator[tuple[Gateway, Path, Path]]:
    """A gateway with an audit file of its own, and a configuration file naming it."""
    database = tmp_path / "audit.db"
    sections = {"audit": {"database_url": sqlite_url(database)}}
    config = write_config(stack, tmp_path / "gateway.toml", **sections)
    with stack.fresh_gateway(**sections) as gateway:
        yield gateway, database, config


def _read_several(stack: Stack, gateway: Gateway, count: int) -> list[str]:
    iins = [i for i, p in sorted(stack.ground_truth["people"].items()) if p["ehrRegions"]][:count]
    for iin in iins:
        token = stack.token("patient", iin=iin, subject=random_subject())
        answer = gateway.graphql(READ, {"iin": iin}, token).json()
        assert "errors" not in answer, answer["errors"]
    return iins


def test_verify_passes_then_names_the_edited_event(stack: Stack, own_audit) -> None:
    gateway, database, config = own_audit
    _read_several(stack, gateway, 5)
    intact = audit_verify(config)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "5 events" in intact.stdout
    tamper_sqlite(database, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    broken = audit_verify(config)
    assert broken.returncode == 1
    assert "seq=3" in broken.stdout and "edited" in broken.stdout


def test_verify_names_a_removed_event(stack: Stack, own_audit) -> None:
    gateway, database, config = own_audit
    _read_several(stack, gateway, 5)
    tamper_sqlite(database, "DELETE FROM audit_events WHERE seq = 2")
    broken = audit_verify(config)
    assert broken.returncode == 1
    assert "removed" in broken.stdout and "seq=2 is missing" in broken.stdout, broken.stdout


def test_verify_names_a_truncated_tail_whose_head_was_moved_back(
    stack: Stack, tmp_path: Path
) -> None:
    database = tmp_path / "audit.db"
    sections = {"audit": {"database_url": sqlite_url(database)}}
    config = write_config(stack, tmp_path / "gateway.toml", **sections)
    with stack.fresh_gateway(**sections) as gateway:
        _read_several(stack, gateway, 6)
    # The gateway stopped and checkpointed seq 6 outside the database; the attacker, who
    # can write the database, drops the tail and moves the head back to event 4.
    with sqlite3.connect(database) as conn:
        fourth = conn.execute("SELECT hash FROM audit_events WHERE seq = 4").fetchone()[0]
        conn.execute("DROP TRIGGER audit_chain_head_forward")
    conn.close()
    tamper_sqlite(database, "DELETE FROM audit_events WHERE seq > 4")
    tamper_sqlite(database, "UPDATE audit_chain_head SET seq = 4, hash = ?", fourth)
    broken = audit_verify(config)
    assert broken.returncode == 1
    assert broken.stdout.startswith("audit chain BROKEN at event seq=5: truncated"), broken.stdout
    assert "events 5..6 were removed" in broken.stdout


def test_verify_of_the_session_trail_passes(stack: Stack, tmp_path: Path) -> None:
    # Every read of the e2e session so far went into this chain.
    result = audit_verify(write_config(stack, tmp_path / "gateway.toml"))
    assert result.returncode == 0, result.stdout + result.stderr


# --- fail closed --------------------------------------------------------------------------


def test_no_data_leaves_when_the_event_cannot_be_written(stack: Stack, own_audit) -> None:
    gateway, database, _ = own_audit
    iin = _read_several(stack, gateway, 1)[0]
    before = len(disclosures(database))
    # The disk refuses every new event from now on (as a full or failing volume would).
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER audit_events_disk_full BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    conn.close()
    token = stack.token("patient", iin=iin, subject=random_subject())
    response = gateway.graphql(READ, {"iin": iin}, token)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"] == [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]
    assert stack.ground_truth["people"][iin]["identity"]["fullName"] not in response.text
    assert len(disclosures(database)) == before
    # A request that discloses nothing still works: only disclosures need the trail.
    me = gateway.graphql("{ me { role } }", {}, token).json()
    assert me == {"data": {"me": {"role": "PATIENT"}}}


def test_gateway_refuses_to_start_without_a_usable_audit_database(
    stack: Stack, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the audit directory should be", "utf-8")
    config = write_config(
        stack,
        tmp_path / "gateway.toml",
        server={"port": free_port()},
        audit={"database_url": sqlite_url(blocker / "audit.db")},
    )
    serve = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode != 0
    assert "audit database" in serve.stderr


# --- one event per request and person -----------------------------------------------------

TWO_READS = """
query($a: IIN!, $b: IIN!, $reason: String) {
  first: passport(iin: $a, breakGlassReason: $reason) { identity { iin } }
  second: passport(iin: $b, breakGlassReason: $reason) { allergies { category } }
}
"""


def test_a_request_reading_two_people_is_in_each_ones_log(stack: Stack, own_audit) -> None:
    gateway, database, _ = own_audit
    truth = stack.ground_truth
    first, second = _patient(truth, skip=2), _patient(truth, skip=3)
    doctor = _stranger(truth, first)
    reason = f"mass casualty triage {secrets.token_hex(3)}"
    token = stack.token("doctor", org_bin=doctor["orgBin"], practitioner_id=doctor["id"])
    answer = gateway.graphql(TWO_READS, {"a": first, "b": second, "reason": reason}, token)
    assert "errors" not in answer.json(), answer.json()["errors"]
    events = [e for e in disclosures(database) if e["reason"] == reason]
    assert sorted(json.loads(e["sections"]) for e in events) == [["ALLERGIES"], ["IDENTITY"]]
    assert len({e["patient_key"] for e in events}) == 2
    for iin, section in ((first, "IDENTITY"), (second, "ALLERGIES")):
        log = gateway.graphql(ACCESS_LOG, {"iin": iin}, stack.token("patient", iin=iin)).json()
        mine = [e for e in log["data"]["passport"]["accessLog"] if e["reason"] == reason]
        assert [e["sections"] for e in mine] == [[section]]


def test_a_request_reading_one_person_twice_is_one_event(stack: Stack, own_audit) -> None:
    gateway, database, _ = own_audit
    iin = _patient(stack.ground_truth)
    token = stack.token("patient", iin=iin, subject=random_subject())
    answer = gateway.graphql(TWO_READS, {"a": iin, "b": iin, "reason": None}, token)
    assert "errors" not in answer.json(), answer.json()["errors"]
    events = disclosures(database)
    assert [sorted(json.loads(e["sections"])) for e in events] == [["ALLERGIES", "IDENTITY"]]
