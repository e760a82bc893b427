"""The audit store contract and the factory that picks a backend by URL."""

from __future__ import annotations

from typing import Protocol

from gateway.audit.checkpoints import Checkpoint
from gateway.audit.events import AuditEvent, NewAuditEvent, VerifyResult
from gateway.audit.outbox import NotificationQueue, Outbox
from gateway.audit.postgres_store import PostgresAuditStore
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.audit.trail import Trail
from gateway.db import is_postgres_url
from gateway.db.sqlite import sqlite_path_from_url


class AuditStore(NotificationQueue, Protocol):
    """Where attempts are recorded: append-only, HMAC-chained, checkpointed outside the
    database, readable by the patient."""

    async def open(self) -> None:
        """Connect, seal and checkpoint; AuditUnavailable when the trail cannot be trusted."""

    async def close(self) -> None:
        """Finish pending appends, checkpoint the head, and release the connections."""

    async def append(self, event: NewAuditEvent) -> AuditEvent:
        """Chain and commit one event, then return it; AuditUnavailable if it was not written.

        Each backend writes a batch of appends in one transaction (group commit): a row that
        must commit with its event (the notification outbox) belongs in that transaction.
        """

    async def events_for_patient(self, iin: str, limit: int) -> list[AuditEvent]:
        """The patient's events, newest first, at most `limit`."""

    async def count(self) -> int:
        """How many events are stored."""

    async def ping(self) -> None:
        """Read the chain head (constant cost); AuditUnavailable when the database is silent."""

    async def checkpoint(self) -> Checkpoint | None:
        """Append a signed checkpoint of the head when it moved; None when it did not."""

    async def verify(self) -> VerifyResult:
        """Walk the chain against the checkpoints and report the first broken event."""


def open_audit_store(
    database_url: str, patient_key_secret: bytes, trail: Trail, outbox: Outbox | None = None
) -> AuditStore:
    """An unopened store for `database_url` (sqlite: or postgresql:); call `await open()`.

    With `outbox`, every event the patient is told about queues its notification in the
    transaction that appends it.
    """
    if is_postgres_url(database_url):
        return PostgresAuditStore(database_url, patient_key_secret, trail, outbox=outbox)
    if database_url.startswith("sqlite:"):
        path = sqlite_path_from_url(database_url)
        return SqliteAuditStore(path, patient_key_secret, trail, outbox=outbox)
    raise ValueError("audit.database_url must start with sqlite: or postgresql://")
