"""The notification outbox (ACCESS.md "Notifications"): one row per audit event the patient is
told about, written in the very transaction that appends the event, so a read that leaves a
trace always has its notification queued; and the queue a delivery worker claims rows from.

A row holds the event's id (the notification's id: receivers drop duplicates by it), the
patient's IIN sealed by the caller's ``RecipientSealer`` (never in clear), and its delivery
state. What it says is read from the chained event itself at delivery time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.audit.events import AuditEvent, NewAuditEvent
from gateway.auth.policy import notifies_patient

# (event id, the patient's IIN) -> the IIN sealed for storage, bound to that event.
RecipientSealer = Callable[[str, str], str]

OUTBOX_COLUMNS = ("event_id", "seq", "recipient", "created_at", "next_attempt_at")
# Rows not yet delivered nor given up, in the order they are due (a partial index).
UNDELIVERED = "delivered_at IS NULL AND given_up_at IS NULL"


def outbox_schema(integer: str, real: str) -> tuple[str, ...]:
    """The outbox table and its index in a backend's types (e.g. BIGINT, DOUBLE PRECISION)."""
    return (
        f"""CREATE TABLE IF NOT EXISTS notification_outbox (
            event_id TEXT PRIMARY KEY,
            seq {integer} NOT NULL,
            recipient TEXT NOT NULL,
            created_at {real} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {real} NOT NULL,
            lease_owner TEXT,
            lease_until {real},
            delivered_at {real},
            given_up_at {real},
            last_error TEXT
        )""",
        f"""CREATE INDEX IF NOT EXISTS notification_outbox_due
            ON notification_outbox (next_attempt_at) WHERE {UNDELIVERED}""",
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed row: its event (what happened), the sealed recipient, attempts made so far."""

    event: AuditEvent
    recipient: str
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Rows still to deliver (retrying) and rows given up after ``max_attempts``."""

    undelivered: int
    given_up: int


class Outbox:
    """Which appended events make an outbox row, the row of each, and who to wake for them."""

    def __init__(self, seal: RecipientSealer, clock: Callable[[], float] = time.time) -> None:
        """``seal`` encrypts the patient's IIN for the row (the store never sees a key)."""
        self._seal = seal
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    @staticmethod
    def notifies(new: NewAuditEvent) -> bool:
        """Whether the patient is told about this event (a read attempt, ACCESS.md)."""
        return new.action == "disclose" and notifies_patient(new.basis, new.outcome.value)

    def rows(self, written: Sequence[tuple[NewAuditEvent, AuditEvent]]) -> list[tuple[object, ...]]:
        """The outbox rows (OUTBOX_COLUMNS) of a batch of events being appended, due now."""
        now = self._clock()
        return [
            (event.event_id, event.seq, self._seal(event.event_id, new.patient_iin), now, now)
            for new, event in written
            if self.notifies(new)
        ]

    def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each commit that queued a notification (the delivery worker)."""
        self._listeners.append(wake)

    def committed(self, appended: Sequence[NewAuditEvent]) -> None:
        """A batch committed: wake the listeners when it queued anything."""
        if any(self.notifies(new) for new in appended):
            for wake in self._listeners:
                wake()


class NotificationQueue(Protocol):
    """The outbox as the delivery worker uses it (each audit store is one)."""

    async def claim_notifications(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[Pending]:
        """Lease up to ``limit`` rows due at ``now`` and not leased by anyone else."""
        ...

    async def notification_delivered(self, event_id: str, now: float) -> None:
        """Mark a row delivered (whoever holds its lease now)."""
        ...

    async def notification_failed(
        self, event_id: str, owner: str, retry_at: float | None, error: str, now: float
    ) -> None:
        """Count a failed attempt; retry at ``retry_at``, or give the row up when None."""
        ...

    async def notification_counts(self) -> OutboxCounts:
        """How many rows are still to deliver, and how many were given up."""
        ...
