"""An unkeyed chain of the gateway before issue 11 is sealed at first start, then continued keyed.

The legacy database is made here as that gateway made it: its tables (copied from it) and
events hashed with plain SHA-256 over their canonical JSON. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import open_audit_store
from gateway.audit.checkpoints import SEAL
from gateway.audit.verify import verify_database
from tests.gateway.audit import AIGUL, CHAIN_SECRET, SECRET, disclosure, trail, write_config
from tests.gateway.audit.attacker import COLUMNS, Backend, attacker_hash, rechained

ROOT = Path(__file__).resolve().parents[3]
GENESIS = "0" * 64

# The tables of the gateway before the keyed chain (without outcome, basis, seal).
LEGACY_TABLES = (
    """CREATE TABLE audit_events (
        seq BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL,
        subject TEXT NOT NULL, role TEXT NOT NULL, practitioner_id TEXT,
        practitioner_name TEXT, org_bin TEXT, org_name TEXT, patient_key TEXT NOT NULL,
        sections TEXT NOT NULL, reason TEXT, break_glass {boolean} NOT NULL,
        request_id TEXT NOT NULL, action TEXT NOT NULL, prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX audit_events_by_patient ON audit_events (patient_key, seq)",
    """CREATE TABLE audit_chain_head (
        id INT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)""",
)
LEGACY_COLUMNS = COLUMNS[: COLUMNS.index("hash") + 1]


def legacy_rows(count: int) -> list[dict[str, Any]]:
    """`count` events as the unkeyed gateway wrote them: a doctor's reads, then a glass read."""
    rows, prev = [], GENESIS
    for n in range(1, count + 1):
        row = {
            "seq": n,
            "event_id": f"00000000-0000-4000-8000-{n:012d}",
            "at": f"2026-11-0{1 + n % 9}T10:00:00.000000+00:00",
            "subject": f"doctor-{n}",
            "role": "DOCTOR",
            "practitioner_id": "prac-17",
            "practitioner_name": None,
            "org_bin": "040340004567",
            "org_name": None,
            "patient_key": "k" * 64,
            "sections": json.dumps(["IDENTITY"]),
            "reason": "unconscious in the ER" if n == count else None,
            "break_glass": n == count,
            "request_id": f"req-{n}",
            "action": "disclose",
            "prev_hash": prev,
            "outcome": None,
            "basis": None,
            "restrictions_shown": None,
        }
        row["hash"] = attacker_hash(row)
        rows.append(row)
        prev = row["hash"]
    return rows


async def make_legacy(backend: Backend, count: int) -> list[dict[str, Any]]:
    """The legacy tables holding `count` chained events and their head."""
    rows = legacy_rows(count)
    boolean = "INTEGER" if backend.kind == "sqlite" else "BOOLEAN"
    statements = [sql.format(boolean=boolean) for sql in LEGACY_TABLES]
    for row in rows:
        values = ", ".join(_literal(row[name], backend) for name in LEGACY_COLUMNS)
        names = ", ".join(LEGACY_COLUMNS)
        statements.append(f"INSERT INTO audit_events ({names}) VALUES ({values})")
    statements.append(
        f"INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, {count}, '{rows[-1]['hash']}')"
    )
    await backend.execute(*statements)
    return rows


def _literal(value: object, backend: Backend) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("1" if value else "0") if backend.kind == "sqlite" else str(value).upper()
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def first_start(backend: Backend, appended: int = 0) -> None:
    """Open the gateway's store over the database (it seals), append keyed events, close."""
    store = open_audit_store(backend.url, SECRET, trail(backend.directory))
    await store.open()
    try:
        for n in range(appended):
            await store.append(disclosure(100 + n, AIGUL))
    finally:
        await store.close()


async def test_legacy_chain_is_sealed_and_continued_keyed(backend):
    rows = await make_legacy(backend, 5)
    await first_start(backend, appended=3)
    seals = [c for c in trail(backend.directory).log().read().checkpoints if c.kind == SEAL]
    assert [(s.seq, s.hash) for s in seals] == [(5, rows[-1]["hash"])]
    stored = await backend.rows()
    assert [r["outcome"] for r in stored] == [None] * 5 + ["DISCLOSED"] * 3
    assert stored[5]["prev_hash"] == rows[-1]["hash"]  # the keyed chain continues the old one
    assert stored[5]["hash"] != attacker_hash(stored[5])  # and is not plain SHA-256
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.checked) == (True, 8)
    assert result.parts[0].startswith("events 1..5: unkeyed legacy chain, sealed at checkpoint ")
    assert result.parts[0].endswith("(seq=5)")
    assert result.parts[1] == "events 6..8: keyed (HMAC-SHA256)"


async def test_a_second_start_does_not_seal_again(backend):
    await make_legacy(backend, 3)
    await first_start(backend, appended=1)
    await first_start(backend, appended=1)
    seals = [c for c in trail(backend.directory).log().read().checkpoints if c.kind == SEAL]
    assert [s.seq for s in seals] == [3]
    assert (await verify_database(backend.url, trail(backend.directory))).checked == 5


async def test_legacy_events_rechained_after_the_seal_are_caught_at_the_seal(backend):
    rows = await make_legacy(backend, 6)
    await first_start(backend)
    # Edit event 2 of the legacy part and recompute its SHA-256 chain up to the head.
    edited = [{**rows[1], "subject": "nobody"}, *rows[2:]]
    await backend.rewrite(rechained(edited, 2, prev_hash=rows[0]["hash"]))
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 6, "re-chained")
    assert "events 1..6 are not the legacy chain sealed at" in str(result.detail)


async def test_legacy_chain_before_its_first_start_verifies_as_unsealed(backend):
    await make_legacy(backend, 4)
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.checked) == (True, 4)
    assert result.parts[0].startswith("events 1..4: unkeyed legacy chain, not sealed yet")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_verify_command_explains_both_parts(backend):
    await make_legacy(backend, 4)
    await first_start(backend, appended=2)
    config = write_config(
        backend.directory,
        backend.url,
        chain_key=CHAIN_SECRET.decode(),
        checkpoint_path=str(backend.directory / "audit.checkpoints"),
    )
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "audit chain OK: 6 events"
    assert lines[1].startswith("  events 1..4: unkeyed legacy chain, sealed at checkpoint 20")
    assert lines[2] == "  events 5..6: keyed (HMAC-SHA256)"
