"""The audit store contract and the factory that picks a backend by URL."""

from __future__ import annotations

from typing import Protocol

from gateway.audit.events import AuditEvent, NewAuditEvent, VerifyResult
from gateway.audit.postgres_store import PostgresAuditStore
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.db import is_postgres_url
from gateway.db.sqlite import sqlite_path_from_url


class AuditStore(Protocol):
    """Where disclosures are recorded: append-only, hash-chained, readable by the patient."""

    async def open(self) -> None:
        """Connect and create what is missing; AuditUnavailable when the database is unusable."""

    async def close(self) -> None:
        """Finish pending appends and release the connections."""

    async def append(self, event: NewAuditEvent) -> AuditEvent:
        """Chain and commit one event, then return it; AuditUnavailable if it was not written."""

    async def events_for_patient(self, iin: str, limit: int) -> list[AuditEvent]:
        """The patient's events, newest first, at most `limit`."""

    async def count(self) -> int:
        """How many events are stored."""

    async def ping(self) -> None:
        """Read the chain head (constant cost); AuditUnavailable when the database is silent."""

    async def verify(self) -> VerifyResult:
        """Walk the chain and report the first edited, removed or reordered event."""


def open_audit_store(database_url: str, patient_key_secret: bytes) -> AuditStore:
    """An unopened store for `database_url` (sqlite: or postgresql:); call `await open()`."""
    if is_postgres_url(database_url):
        return PostgresAuditStore(database_url, patient_key_secret)
    if database_url.startswith("sqlite:"):
        return SqliteAuditStore(sqlite_path_from_url(database_url), patient_key_secret)
    raise ValueError("audit.database_url must start with sqlite: or postgresql://")
