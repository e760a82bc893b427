"""Someone with write access to the audit database alone tries to hide events (issue 11, hole 4).

Each attack (tests/gateway/audit/attacker.py) drops the append-only triggers first, as an
attacker holding the file or a database account can, and then edits, deletes, reorders,
truncates or re-chains the history with everything the database holds. `verify` (what
`audit verify` runs) must name the first broken event, on SQLite and on the real PostgreSQL
server (the `backend` fixture runs each test on both).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.audit import AuditUnavailable, open_audit_store
from gateway.audit.store import AuditStore
from gateway.audit.verify import verify_database
from tests.gateway.audit import SECRET, disclosure, trail
from tests.gateway.audit.attacker import Backend, rechained


def store_of(backend: Backend) -> AuditStore:
    return open_audit_store(backend.url, SECRET, trail(backend.directory))


async def written(backend: Backend, count: int) -> list[dict[str, Any]]:
    """`count` events appended by the gateway's store, which then closes (checkpointing)."""
    store = store_of(backend)
    await store.open()
    try:
        for n in range(1, count + 1):
            await store.append(disclosure(n))
    finally:
        await store.close()
    return await backend.rows()


async def verdict(backend: Backend) -> tuple[bool, int | None, str | None]:
    result = await verify_database(backend.url, trail(backend.directory))
    return result.ok, result.first_broken_seq, result.problem


async def test_intact_chain_verifies(backend):
    await written(backend, 6)
    assert await verdict(backend) == (True, None, None)


async def test_an_edited_event_is_named(backend):
    await written(backend, 8)
    await backend.execute("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    assert await verdict(backend) == (False, 3, "edited")


async def test_a_deleted_event_is_named(backend):
    await written(backend, 8)
    await backend.execute("DELETE FROM audit_events WHERE seq = 3")
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 4, "removed")
    assert "seq=3 is missing" in str(result.detail)


async def test_reordered_events_are_named(backend):
    await written(backend, 8)
    await backend.execute(
        "UPDATE audit_events SET seq = -2 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -2",
    )
    assert await verdict(backend) == (False, 2, "reordered")


async def test_a_truncated_tail_with_the_head_moved_back_is_named(backend):
    rows = await written(backend, 8)  # closing checkpointed seq 8
    fifth = rows[4]
    await backend.execute(
        "DELETE FROM audit_events WHERE seq > 5",
        f"UPDATE audit_chain_head SET seq = 5, hash = '{fifth['hash']}'",
    )
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 6, "truncated")
    assert "events 6..8 were removed" in str(result.detail)


async def test_a_history_rechained_without_the_key_is_named(backend):
    rows = await written(backend, 8)
    # Delete event 3, renumber the later ones, recompute every hash after it, move the head.
    await backend.rewrite(rechained(rows[3:], 3, prev_hash=rows[1]["hash"]))
    assert [r["seq"] for r in await backend.rows()] == list(range(1, 8))
    assert await verdict(backend) == (False, 3, "re-chained")


async def test_the_gateway_will_not_append_to_a_truncated_chain(backend):
    rows = await written(backend, 6)
    await backend.execute(
        "DELETE FROM audit_events WHERE seq > 4",
        f"UPDATE audit_chain_head SET seq = 4, hash = '{rows[3]['hash']}'",
    )
    store = store_of(backend)
    with pytest.raises(AuditUnavailable, match="events were removed"):
        await store.open()


async def test_a_store_with_another_chain_key_will_not_open(backend):
    await written(backend, 2)
    other = open_audit_store(
        backend.url, SECRET, trail(backend.directory, b"another-chain-key-of-32-bytes!!!")
    )
    with pytest.raises(AuditUnavailable, match=r"not signed with this audit\.chain_key"):
        await other.open()
    # With a checkpoint file of its own, the database's seal still gives it away.
    elsewhere = backend.directory / "elsewhere"
    elsewhere.mkdir()
    other = open_audit_store(
        backend.url, SECRET, trail(elsewhere, b"another-chain-key-of-32-bytes!!!")
    )
    with pytest.raises(AuditUnavailable, match=r"sealed with another audit\.chain_key"):
        await other.open()
