"""The hash chain on its own: canonical form, hashing, and the walk that names the first break."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from gateway.audit import NewAuditEvent
from gateway.audit.chain import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    ChainWalker,
    canonical_json,
    chain_event,
    event_from_row,
    event_hash,
    event_to_row,
)
from gateway.db import patient_key
from tests.gateway.audit import AIGUL, BEKZAT, SECRET, disclosure


def build_chain(count: int) -> list[dict[str, object]]:
    """`count` chained events as stored rows (column name -> value)."""
    rows, prev = [], GENESIS_HASH
    for n in range(1, count + 1):
        event = chain_event(
            disclosure(n), seq=n, prev_hash=prev, patient_key=patient_key(AIGUL, SECRET)
        )
        rows.append(dict(zip(EVENT_COLUMNS, event_to_row(event), strict=True)))
        prev = event.hash
    return rows


def walk(rows: list[dict[str, object]], head: tuple[int, str] | None = None):
    """Verify `rows` the way the stores do, with lookups over the same rows."""
    walker = ChainWalker()
    for row in rows:
        suspect = walker.step(row)
        if suspect is not None:
            linked = next((int(r["seq"]) for r in rows if r["hash"] == suspect.linked_hash), None)
            return walker.result(suspect, linked)
    return walker.result(walker.finish(head))


def head_of(rows: list[dict[str, object]]) -> tuple[int, str]:
    return int(rows[-1]["seq"]), str(rows[-1]["hash"])


def test_hash_is_sha256_of_sorted_compact_json_including_prev_hash():
    event = chain_event(disclosure(1), seq=1, prev_hash=GENESIS_HASH, patient_key="k" * 64)
    fields = {
        "seq": 1,
        "event_id": event.event_id,
        "at": "2025-03-01T12:00:01.000000+00:00",
        "subject": "doctor-1",
        "role": "doctor",
        "practitioner_id": "prac-17",
        "practitioner_name": "Ержан Сапаров",
        "org_bin": "040340004567",
        "org_name": "Поликлиника №4",
        "patient_key": "k" * 64,
        "sections": ["IDENTITY", "ALLERGIES"],
        "reason": None,
        "break_glass": False,
        "request_id": "req-1",
        "action": "disclose",
        "prev_hash": GENESIS_HASH,
    }
    expected = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert event.hash == expected
    assert canonical_json({"b": 1, "a": "ё"}) == '{"a":"ё","b":1}'.encode()


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "someone-else"),
        ("role", "nurse"),
        ("sections", ["IDENTITY"]),
        ("reason", "changed"),
        ("break_glass", True),
        ("patient_key", "0" * 64),
        ("prev_hash", "f" * 64),
        ("seq", 2),
        ("at", "2025-03-01T12:00:02.000000+00:00"),
    ],
)
def test_any_changed_field_changes_the_hash(field, value):
    event = chain_event(disclosure(1), seq=1, prev_hash=GENESIS_HASH, patient_key="k" * 64)
    fields = event.chained_fields()
    assert event_hash(fields) == event.hash
    fields[field] = value
    assert event_hash(fields) != event.hash


def test_event_time_is_stored_in_utc():
    almaty = timezone(timedelta(hours=5))
    new = replace(disclosure(1), at=datetime(2025, 3, 1, 17, 0, tzinfo=almaty))
    event = chain_event(new, seq=1, prev_hash=GENESIS_HASH, patient_key="k" * 64)
    assert event.chained_fields()["at"] == "2025-03-01T12:00:00.000000+00:00"
    assert event_from_row(dict(zip(EVENT_COLUMNS, event_to_row(event), strict=True))) == event


def test_intact_chain_verifies():
    rows = build_chain(6)
    result = walk(rows, head_of(rows))
    assert result.ok and result.checked == 6 and result.first_broken_seq is None


def test_empty_chain_verifies():
    result = walk([], (0, GENESIS_HASH))
    assert result.ok and result.checked == 0


def test_edited_field_names_that_event():
    rows = build_chain(6)
    rows[3]["reason"] = "nothing to see"
    result = walk(rows, head_of(rows))
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 4, "edited")
    assert result.checked == 3


def test_edit_with_recomputed_hash_is_caught_by_the_next_link():
    rows = build_chain(6)
    event = event_from_row(rows[2])
    forged = replace(event, subject="nobody")
    rows[2] = dict(zip(EVENT_COLUMNS, event_to_row(forged), strict=True))
    rows[2]["hash"] = event_hash(forged.chained_fields())
    result = walk(rows, head_of(rows))
    assert (result.first_broken_seq, result.problem) == (3, "edited")


def test_removed_event_names_the_next_one():
    rows = build_chain(6)
    head = head_of(rows)
    del rows[2]  # seq 3
    result = walk(rows, head)
    assert (result.first_broken_seq, result.problem) == (4, "removed")


def test_removed_first_event_is_detected():
    rows = build_chain(3)
    head = head_of(rows)
    del rows[0]
    result = walk(rows, head)
    assert (result.first_broken_seq, result.problem) == (2, "removed")


def test_removed_last_event_is_caught_by_the_head():
    rows = build_chain(5)
    head = head_of(rows)
    rows.pop()
    result = walk(rows, head)
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 5, "removed")


def test_rows_moved_to_other_positions_are_reordered():
    rows = build_chain(6)
    # Swap the seq numbers of events 3 and 5: the rows now sit at each other's place.
    rows[2]["seq"], rows[4]["seq"] = 5, 3
    rows.sort(key=lambda row: row["seq"])
    result = walk(rows, head_of(build_chain(6)))
    assert (result.first_broken_seq, result.problem) == (3, "reordered")


def test_malformed_stored_value_is_an_edit_not_a_crash():
    rows = build_chain(3)
    rows[1]["sections"] = "not json"
    result = walk(rows, head_of(rows))
    assert (result.first_broken_seq, result.problem) == (2, "edited")


def test_patient_key_is_keyed_and_hides_the_iin():
    key = patient_key(AIGUL, SECRET)
    assert AIGUL not in key and len(key) == 64
    assert key == patient_key(AIGUL, SECRET)
    assert key != patient_key(BEKZAT, SECRET)
    assert key != patient_key(AIGUL, b"another-secret-of-32-bytes-long!")
    assert key != hashlib.sha256(AIGUL.encode()).hexdigest()


@pytest.mark.parametrize("iin", ["12345", "90010140012X", "", "9001014001250"])
def test_bad_iin_is_refused(iin):
    with pytest.raises(ValueError):
        patient_key(iin, SECRET)
    with pytest.raises(ValueError):
        replace(disclosure(1), patient_iin=iin)


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        patient_key(AIGUL, b"short")


@pytest.mark.parametrize(
    "change",
    [
        {"subject": ""},
        {"role": ""},
        {"request_id": ""},
        {"sections": ("lab results",)},
        {"at": datetime(2025, 1, 1)},  # naive time: which zone?
    ],
)
def test_incomplete_event_is_refused(change):
    with pytest.raises(ValueError):
        replace(disclosure(1), **change)


def test_new_event_fields_are_kept():
    new = NewAuditEvent(
        subject="sub-1",
        role="emergency",
        patient_iin=AIGUL,
        sections=["EMERGENCY", "ALLERGIES"],  # type: ignore[arg-type]
        request_id="r",
        reason="unconscious at the scene",
        break_glass=True,
    )
    assert new.sections == ("EMERGENCY", "ALLERGIES")
    event = chain_event(new, seq=1, prev_hash=GENESIS_HASH, patient_key="k" * 64)
    assert event.break_glass is True and event.reason == "unconscious at the scene"
    assert event.at.tzinfo is not None
