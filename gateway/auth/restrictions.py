"""Patients' restrictions of passport sections: an access rule the patient sets, kept in a small
mutable table in the audit database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Protocol, TypeVar

import asyncpg

from gateway.auth.policy import RESTRICTABLE
from gateway.db import StoreUnavailable, is_postgres_url, patient_key
from gateway.db.postgres import create_pool, create_schema
from gateway.db.sqlite import (
    DEFAULT_BUSY_TIMEOUT_MS,
    SqliteWorker,
    immediate_transaction,
    sqlite_path_from_url,
)

T = TypeVar("T")

# The policy table's restrictable sections (ACCESS.md): the store refuses the others too,
# so no caller can hide a section the policy would never honour.
RESTRICTABLE_SECTIONS = frozenset(section.value for section in RESTRICTABLE)

_TABLE = """CREATE TABLE IF NOT EXISTS patient_restrictions (
    patient_key TEXT NOT NULL,
    section TEXT NOT NULL,
    PRIMARY KEY (patient_key, section)
)"""


class RestrictionsUnavailable(StoreUnavailable):
    """A patient's restrictions could not be read or changed."""


class SectionNotRestrictable(ValueError):
    """The section is not one a patient may restrict (ACCESS.md)."""


class RestrictionStore(Protocol):
    """Which sections each patient has hidden from nurses and doctors."""

    async def open(self) -> None:
        """Connect and create the table if missing; RestrictionsUnavailable if it cannot."""

    async def close(self) -> None:
        """Release the connections."""

    async def restricted_sections(self, iin: str) -> frozenset[str]:
        """The sections the patient has restricted (empty when none)."""

    async def set_restricted(self, iin: str, section: str, restricted: bool) -> frozenset[str]:
        """Restrict or reveal one section atomically; returns the sections now restricted."""


def _check_section(section: str) -> None:
    if section not in RESTRICTABLE_SECTIONS:
        raise SectionNotRestrictable(f"section {section!r} cannot be restricted")


class SqliteRestrictionStore:
    """Restrictions in the audit SQLite file (its own table, its own connection)."""

    def __init__(
        self,
        path: str,
        patient_key_secret: bytes,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        """A store over the file at `path`; `patient_key_secret` keys the patient HMAC."""
        self.path = path
        self._secret = patient_key_secret
        self._busy_timeout_ms = busy_timeout_ms
        self._worker: SqliteWorker | None = None

    async def open(self) -> None:
        """Connect and create the table if missing."""
        worker = SqliteWorker(self.path, busy_timeout_ms=self._busy_timeout_ms)
        try:
            await worker.start()
            await worker.run(lambda conn: immediate_transaction(conn, lambda: conn.execute(_TABLE)))
        except (sqlite3.Error, OSError) as exc:
            await worker.stop()
            raise RestrictionsUnavailable(
                f"cannot open the restrictions database at {self.path}: {exc}"
            ) from exc
        self._worker = worker

    async def close(self) -> None:
        """Close the connection."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    async def restricted_sections(self, iin: str) -> frozenset[str]:
        """The sections the patient has restricted (empty when none)."""
        key = patient_key(iin, self._secret)
        return await self._run(lambda conn: _sections(conn, key))

    async def set_restricted(self, iin: str, section: str, restricted: bool) -> frozenset[str]:
        """Restrict or reveal one section atomically; returns the sections now restricted."""
        key = patient_key(iin, self._secret)
        _check_section(section)

        def change(conn: sqlite3.Connection) -> frozenset[str]:
            def write() -> frozenset[str]:
                if restricted:
                    conn.execute(
                        "INSERT OR IGNORE INTO patient_restrictions VALUES (?, ?)", (key, section)
                    )
                else:
                    conn.execute(
                        "DELETE FROM patient_restrictions WHERE patient_key = ? AND section = ?",
                        (key, section),
                    )
                return _sections(conn, key)

            return immediate_transaction(conn, write)

        return await self._run(change)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._worker is None:
            raise RestrictionsUnavailable("the restrictions store is not open")
        try:
            return await self._worker.run(work)
        except sqlite3.Error as exc:
            raise RestrictionsUnavailable(f"cannot use the restrictions table: {exc}") from exc


def _sections(conn: sqlite3.Connection, key: str) -> frozenset[str]:
    rows = conn.execute(
        "SELECT section FROM patient_restrictions WHERE patient_key = ?", (key,)
    ).fetchall()
    return frozenset(row[0] for row in rows)


class PostgresRestrictionStore:
    """Restrictions in the audit PostgreSQL database (its own table)."""

    def __init__(self, dsn: str, patient_key_secret: bytes, *, max_size: int = 5) -> None:
        """A store for `dsn`; `patient_key_secret` keys the patient HMAC."""
        self._dsn = dsn
        self._secret = patient_key_secret
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect and create the table if missing."""
        pool = None
        try:
            pool = await create_pool(self._dsn, max_size=self._max_size)
            await create_schema(pool, (_TABLE,))
        except Exception as exc:
            if pool is not None:
                await pool.close()
            raise RestrictionsUnavailable(f"cannot open the restrictions table: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        """Close the pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def restricted_sections(self, iin: str) -> frozenset[str]:
        """The sections the patient has restricted (empty when none)."""
        key = patient_key(iin, self._secret)
        pool = self._require_pool()
        try:
            rows = await pool.fetch(
                "SELECT section FROM patient_restrictions WHERE patient_key = $1", key
            )
        except Exception as exc:
            raise RestrictionsUnavailable(f"cannot read restrictions: {exc}") from exc
        return frozenset(row["section"] for row in rows)

    async def set_restricted(self, iin: str, section: str, restricted: bool) -> frozenset[str]:
        """Restrict or reveal one section atomically; returns the sections now restricted."""
        key = patient_key(iin, self._secret)
        _check_section(section)
        pool = self._require_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                if restricted:
                    await conn.execute(
                        "INSERT INTO patient_restrictions VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        key,
                        section,
                    )
                else:
                    await conn.execute(
                        "DELETE FROM patient_restrictions WHERE patient_key = $1 AND section = $2",
                        key,
                        section,
                    )
                rows = await conn.fetch(
                    "SELECT section FROM patient_restrictions WHERE patient_key = $1", key
                )
        except Exception as exc:
            raise RestrictionsUnavailable(f"cannot change restrictions: {exc}") from exc
        return frozenset(row["section"] for row in rows)

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RestrictionsUnavailable("the restrictions store is not open")
        return self._pool


def open_restriction_store(database_url: str, patient_key_secret: bytes) -> RestrictionStore:
    """An unopened restrictions store in the audit database; call `await open()`."""
    if is_postgres_url(database_url):
        return PostgresRestrictionStore(database_url, patient_key_secret)
    if database_url.startswith("sqlite:"):
        return SqliteRestrictionStore(sqlite_path_from_url(database_url), patient_key_secret)
    raise ValueError("audit.database_url must start with sqlite: or postgresql://")
