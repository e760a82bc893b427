"""Every audit event has a bounded size, whatever a token or a caller sends (issue 11, hole 7)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from gateway.audit import NewAuditEvent, open_audit_store
from gateway.audit.events import MAX_EVENT_BYTES, TEXT_LIMITS, bounded
from tests.gateway.audit import AIGUL, SECRET, disclosure, trail

# Four UTF-8 bytes per character: the most a character can cost.
WIDE = "𝔄"


def long_section_names(count: int) -> tuple[str, ...]:
    """`count` distinct names of 63 capitals, the longest a section name may have."""
    return tuple("S" + "X" * 60 + chr(65 + i // 26) + chr(65 + i % 26) for i in range(count))


def hostile(n: int) -> NewAuditEvent:
    """Every text field far past its limit in the widest characters, and a flood of sections."""
    huge = WIDE * 200_000
    return replace(
        disclosure(n),
        subject=f"{n}-{huge}",
        practitioner_id=huge,
        practitioner_name=huge,
        org_bin=huge,
        org_name=huge,
        reason=huge,
        request_id="r" * 200_000,
        sections=("IDENTITY", "ALLERGIES") * 5000 + long_section_names(30),
    )


def test_texts_are_cut_to_their_limits_with_length_and_digest():
    event = hostile(1)
    for name, limit in TEXT_LIMITS.items():
        value = getattr(event, name)
        assert len(value) == limit, name
        assert "chars, sha256 " in value
    # Two long values that share their head stay distinguishable.
    a, b = bounded("x" * 1000 + "a", 100), bounded("x" * 1000 + "b", 100)
    assert a != b and a.startswith("x" * 40)
    assert bounded("short", 100) == "short"


def test_sections_are_named_once_and_their_number_is_capped():
    assert hostile(1).sections[:2] == ("IDENTITY", "ALLERGIES")
    assert len(hostile(1).sections) == 32
    with pytest.raises(ValueError, match="at most 32 sections"):
        replace(disclosure(1), sections=long_section_names(33))


def test_a_lone_surrogate_is_escaped_not_a_crash():
    event = replace(disclosure(1), subject="sub-\ud800-x")
    assert event.subject == "sub-\\ud800-x"


async def test_stored_hostile_events_stay_under_the_bound(tmp_path):
    path = tmp_path / "audit.db"
    store = open_audit_store(f"sqlite://{path}", SECRET, trail(tmp_path))
    await store.open()
    try:
        for n in range(3):
            await store.append(hostile(n))
        assert (await store.verify()).ok
        assert len(await store.events_for_patient(AIGUL, 10)) == 3
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM audit_events").fetchall()
    finally:
        conn.close()
    for row in rows:
        size = len(json.dumps(dict(row), ensure_ascii=False).encode("utf-8"))
        assert size <= MAX_EVENT_BYTES, size
