"""The notification outbox in each audit backend (SQLite, PostgreSQL): a row for every
break-glass and emergency event, committed in the event's own transaction, the IIN sealed; and
the queue replicas claim from, each due row leased to one claimer at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from gateway.audit import AuditUnavailable, open_audit_store
from gateway.audit.events import Outcome
from gateway.audit.outbox import Outbox
from gateway.auth.policy import Basis
from gateway.notify.recipient import RecipientCipher
from tests.gateway.audit import AIGUL, BEKZAT, DANIYAR, SECRET, disclosure, trail
from tests.gateway.audit.attacker import Backend

CIPHER = RecipientCipher(b"test-notification-secret-32bytes")


class Clock:
    """A fixed time for the queue (seconds), a moment after the rows were written (due)."""

    def __init__(self) -> None:
        self.now = time.time() + 1

    def __call__(self) -> float:
        return self.now


def emergency(n: int, iin: str = AIGUL, outcome: Outcome = Outcome.DISCLOSED):
    """A paramedic's emergency call about `iin`."""
    return dataclasses.replace(
        disclosure(n, iin),
        role="EMERGENCY",
        reason="road accident",
        basis=Basis.EMERGENCY,
        outcome=outcome,
    )


def break_glass(n: int, iin: str = BEKZAT):
    """A doctor's break-glass read of `iin`."""
    return dataclasses.replace(
        disclosure(n, iin), reason="unconscious patient", break_glass=True, basis=Basis.BREAK_GLASS
    )


async def outbox_rows(backend: Backend) -> list[dict[str, Any]]:
    """The outbox as stored, oldest first."""
    query = "SELECT * FROM notification_outbox ORDER BY seq"
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.url.removeprefix("sqlite://"))
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(query)]
        finally:
            conn.close()
    conn = await asyncpg.connect(backend.url)
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Any]:
    """An open store of the backend writing notifications into its outbox."""
    opened = open_audit_store(backend.url, SECRET, trail(backend.directory), Outbox(CIPHER.seal))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_break_glass_and_emergency_events_queue_a_sealed_notification(
    backend: Backend, store
) -> None:
    stored = [
        await store.append(disclosure(1)),  # a care-relationship read: nobody is notified
        await store.append(emergency(2, AIGUL)),
        await store.append(break_glass(3, BEKZAT)),
        await store.append(emergency(4, DANIYAR, Outcome.REFUSED)),  # a refused call, too
        await store.append(emergency(5, DANIYAR, Outcome.NOT_FOUND)),  # nobody to tell
    ]
    rows = await outbox_rows(backend)
    assert [row["event_id"] for row in rows] == [e.event_id for e in stored[1:4]]
    for row, iin in zip(rows, (AIGUL, BEKZAT, DANIYAR), strict=True):
        assert iin not in row["recipient"]  # never in clear
        assert CIPHER.open(row["event_id"], row["recipient"]) == iin
        assert (row["attempts"], row["delivered_at"], row["given_up_at"]) == (0, None, None)
    # A sealed recipient moved to another row does not open.
    with pytest.raises(ValueError):
        CIPHER.open(rows[1]["event_id"], rows[0]["recipient"])
    assert (await store.notification_counts()).undelivered == 3


async def test_the_row_commits_with_its_event_or_neither_does(backend: Backend) -> None:
    def broken_seal(event_id: str, iin: str) -> str:
        raise RuntimeError("the sealer failed inside the append's transaction")

    opened = open_audit_store(backend.url, SECRET, trail(backend.directory), Outbox(broken_seal))
    await opened.open()
    try:
        await opened.append(disclosure(1))  # no row to seal: written
        with pytest.raises(AuditUnavailable):
            await opened.append(emergency(2))
        # The event was rolled back with its row: the caller then sends nothing (fail closed).
        assert await opened.count() == 1
        assert await outbox_rows(backend) == []
        assert (await opened.verify()).ok
    finally:
        await opened.close()


async def test_a_due_row_is_leased_to_one_claimer_until_its_lease_runs_out(store) -> None:
    event = await store.append(emergency(1))
    clock = Clock()
    first = await store.claim_notifications("replica-a", clock(), clock() + 60, 10)
    assert [p.event.event_id for p in first] == [event.event_id]
    assert first[0].event.reason == "road accident" and first[0].attempts == 0
    assert await store.claim_notifications("replica-b", clock() + 59, clock() + 119, 10) == []
    again = await store.claim_notifications("replica-b", clock() + 60, clock() + 120, 10)
    assert [p.event.event_id for p in again] == [event.event_id]  # the first claimer died


async def test_failures_are_retried_when_due_then_given_up(store) -> None:
    event = await store.append(break_glass(1))
    clock = Clock()
    assert len(await store.claim_notifications("a", clock(), clock() + 60, 10)) == 1
    await store.notification_failed(event.event_id, "a", clock() + 30, "http 503", clock())
    assert await store.claim_notifications("a", clock() + 29, clock() + 89, 10) == []
    [retry] = await store.claim_notifications("a", clock() + 30, clock() + 90, 10)
    assert retry.attempts == 1
    # Another replica's stale lease cannot record an outcome for a row it no longer holds.
    await store.notification_failed(event.event_id, "b", None, "late", clock())
    assert (await store.notification_counts()).given_up == 0
    await store.notification_failed(event.event_id, "a", None, "http 410", clock() + 30)
    counts = await store.notification_counts()
    assert (counts.undelivered, counts.given_up) == (0, 1)
    assert await store.claim_notifications("a", clock() + 1e6, clock() + 2e6, 10) == []


async def test_delivered_rows_are_not_claimed_again(store) -> None:
    event = await store.append(emergency(1))
    clock = Clock()
    await store.claim_notifications("a", clock(), clock() + 60, 10)
    await store.notification_delivered(event.event_id, clock())
    counts = await store.notification_counts()
    assert (counts.undelivered, counts.given_up) == (0, 0)
    assert await store.claim_notifications("b", clock() + 1e6, clock() + 2e6, 10) == []


async def test_replicas_claiming_at_once_never_take_the_same_row(backend: Backend, store) -> None:
    for n in range(60):
        await store.append(emergency(n, (AIGUL, BEKZAT, DANIYAR)[n % 3]))
    other = open_audit_store(backend.url, SECRET, trail(backend.directory), Outbox(CIPHER.seal))
    await other.open()
    try:
        clock = Clock()
        rounds = await asyncio.gather(
            *(
                replica.claim_notifications(name, clock(), clock() + 60, 7)
                for _ in range(6)
                for name, replica in (("a", store), ("b", other))
            )
        )
    finally:
        await other.close()
    claimed = [p.event.event_id for batch in rounds for p in batch]
    assert len(claimed) == len(set(claimed)) == 60
