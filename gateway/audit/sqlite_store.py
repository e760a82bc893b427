"""The SQLite audit store: WAL, one writer thread per store, group commit, BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
from typing import TypeVar

from gateway.audit.base import ChainedStore
from gateway.audit.chain import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    ChainWalker,
    chain_event,
    event_from_row,
    event_to_row,
)
from gateway.audit.events import (
    AuditEvent,
    AuditUnavailable,
    NewAuditEvent,
    VerifyResult,
)
from gateway.db.sqlite import (
    DEFAULT_BUSY_TIMEOUT_MS,
    MEMORY,
    SqliteWorker,
    immediate_transaction,
)

T = TypeVar("T")

_VERIFY_BATCH = 2000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        subject TEXT NOT NULL,
        role TEXT NOT NULL,
        practitioner_id TEXT,
        practitioner_name TEXT,
        org_bin TEXT,
        org_name TEXT,
        patient_key TEXT NOT NULL,
        sections TEXT NOT NULL,
        reason TEXT,
        break_glass INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        action TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_events_by_patient ON audit_events (patient_key, seq)",
    """CREATE TABLE IF NOT EXISTS audit_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"INSERT OR IGNORE INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')",
    # Append-only in the database itself; verify still catches edits made after dropping these.
    """CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
        WHEN NEW.seq <= OLD.seq OR NEW.id != OLD.id
        BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
        BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be removed'); END""",
)

_INSERT = (
    f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)
_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events"
_HEAD = "SELECT seq FROM audit_chain_head WHERE id = 1"


class SqliteAuditStore(ChainedStore):
    """The audit trail in one SQLite file, shared safely by several gateway processes."""

    def __init__(
        self,
        path: str,
        patient_key_secret: bytes | None,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        """A store over the file at `path`; `patient_key_secret` keys the patient HMAC."""
        super().__init__(patient_key_secret)
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._worker: SqliteWorker | None = None

    async def open(self) -> None:
        """Connect and create the tables and triggers if missing; AuditUnavailable if it cannot."""
        worker = SqliteWorker(self.path, busy_timeout_ms=self._busy_timeout_ms)
        try:
            await worker.start()
            await worker.run(_create_schema)
        except (sqlite3.Error, OSError) as exc:
            await worker.stop()
            raise AuditUnavailable(f"cannot open the audit database at {self.path}: {exc}") from exc
        self._worker = worker

    def _is_open(self) -> bool:
        return self._worker is not None

    async def _release(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    async def _write_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        worker = self._worker
        if worker is None:
            raise AuditUnavailable("the audit store is closed")
        return await worker.run(lambda conn: _append_batch(conn, items))

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        worker = self._worker
        assert worker is not None  # checked by the caller

        def read(conn: sqlite3.Connection) -> list[AuditEvent]:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                f"{_SELECT} WHERE patient_key = ? ORDER BY seq DESC LIMIT ?", (key, limit)
            ).fetchall()
            return [event_from_row(row) for row in rows]

        try:
            return await worker.run(read)
        except (sqlite3.Error, ValueError) as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def count(self) -> int:
        """How many events are stored."""
        if self._worker is None:
            raise AuditUnavailable("the audit store is not open")
        try:
            return await self._worker.run(
                lambda conn: conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def ping(self) -> None:
        """Read the chain head row: one indexed row, however long the trail."""
        if self._worker is None:
            raise AuditUnavailable("the audit store is not open")
        try:
            await self._worker.run(lambda conn: conn.execute(_HEAD).fetchone())
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"the audit database does not answer: {exc}") from exc

    async def verify(self) -> VerifyResult:
        """Walk the whole chain in a read snapshot and report the first broken event."""
        if self._worker is None:
            raise AuditUnavailable("the audit store is not open")
        if self.path == MEMORY:
            return await self._worker.run(verify_connection)
        return await verify_sqlite_file(self.path, busy_timeout_ms=self._busy_timeout_ms)


def _create_schema(conn: sqlite3.Connection) -> None:
    def create() -> None:
        for statement in _SCHEMA:
            conn.execute(statement)

    immediate_transaction(conn, create)


def _append_batch(
    conn: sqlite3.Connection, items: list[tuple[NewAuditEvent, str]]
) -> list[AuditEvent]:
    def write() -> list[AuditEvent]:
        # Read the head inside the write lock: another process may have appended since.
        seq, prev_hash = conn.execute(
            "SELECT seq, hash FROM audit_chain_head WHERE id = 1"
        ).fetchone()
        stored = []
        for new, key in items:
            event = chain_event(new, seq=seq + 1, prev_hash=prev_hash, patient_key=key)
            conn.execute(_INSERT, event_to_row(event))
            stored.append(event)
            seq, prev_hash = event.seq, event.hash
        conn.execute("UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev_hash))
        return stored

    return immediate_transaction(conn, write)


def verify_connection(conn: sqlite3.Connection) -> VerifyResult:
    """Walk the chain over `conn` inside one read transaction (a consistent snapshot)."""
    conn.row_factory = sqlite3.Row
    conn.execute("BEGIN")
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "audit_events" not in tables:
            raise AuditUnavailable("no audit events table in this database")
        head_row = (
            conn.execute("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetchone()
            if "audit_chain_head" in tables
            else None
        )
        head = (int(head_row[0]), str(head_row[1])) if head_row is not None else None
        walker = ChainWalker()
        last_seq = 0
        while True:
            rows = conn.execute(
                f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?", (last_seq, _VERIFY_BATCH)
            ).fetchall()
            if not rows:
                return walker.result(walker.finish(head))
            for row in rows:
                suspect = walker.step(row)
                if suspect is not None:
                    linked = None
                    if suspect.linked_hash is not None:
                        found = conn.execute(
                            "SELECT seq FROM audit_events WHERE hash = ? LIMIT 1",
                            (suspect.linked_hash,),
                        ).fetchone()
                        linked = int(found[0]) if found is not None else None
                    return walker.result(suspect, linked)
            last_seq = int(rows[-1]["seq"])
    finally:
        conn.execute("COMMIT")


async def verify_sqlite_file(
    path: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> VerifyResult:
    """Verify the chain in the SQLite file at `path` through a read-only connection of its own."""
    worker = SqliteWorker(path, busy_timeout_ms=busy_timeout_ms, read_only=True)
    try:
        await worker.start()
        return await worker.run(verify_connection)
    except sqlite3.Error as exc:
        raise AuditUnavailable(f"cannot read the audit database at {path}: {exc}") from exc
    finally:
        await worker.stop()


__all__ = [
    "SqliteAuditStore",
    "verify_sqlite_file",
]
