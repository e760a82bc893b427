"""The SQLite audit store: WAL, one writer thread per store, group commit, BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from gateway.audit.base import ChainedStore
from gateway.audit.chain import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    KEYED_COLUMNS,
    SELECT_EVENTS,
    SELECT_LEGACY_EVENTS,
    Anchors,
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
from gateway.audit.outbox import Outbox, OutboxCounts, Pending
from gateway.audit.outbox_sqlite import INSERT as OUTBOX_INSERT
from gateway.audit.outbox_sqlite import SCHEMA as OUTBOX_SCHEMA
from gateway.audit.outbox_sqlite import claim, counts, delivered, failed
from gateway.audit.seal import SealPlan, StoredSeal, seal_row, stored_seal
from gateway.audit.trail import Trail
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
        hash TEXT NOT NULL,
        outcome TEXT,
        basis TEXT,
        restrictions_shown INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS audit_events_by_patient ON audit_events (patient_key, seq)",
    """CREATE TABLE IF NOT EXISTS audit_chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"INSERT OR IGNORE INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')",
    """CREATE TABLE IF NOT EXISTS audit_chain_seal (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
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
    """CREATE TRIGGER IF NOT EXISTS audit_chain_seal_no_update BEFORE UPDATE ON audit_chain_seal
        BEGIN SELECT RAISE(ABORT, 'the audit chain seal is written once'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_chain_seal_no_delete BEFORE DELETE ON audit_chain_seal
        BEGIN SELECT RAISE(ABORT, 'the audit chain seal is written once'); END""",
)
# Columns the keyed chain added; a legacy table gets them (NULL in its old rows) on open.
_KEYED_COLUMN_TYPES = {"outcome": "TEXT", "basis": "TEXT", "restrictions_shown": "INTEGER"}

_INSERT_SEAL = "INSERT INTO audit_chain_seal (id, seq, hash, at, signature) VALUES (1, ?, ?, ?, ?)"
_INSERT = (
    f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)
_HEAD = "SELECT seq FROM audit_chain_head WHERE id = 1"


class SqliteAuditStore(ChainedStore):
    """The audit trail in one SQLite file, shared safely by several gateway processes."""

    def __init__(
        self,
        path: str,
        patient_key_secret: bytes | None,
        trail: Trail,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        outbox: Outbox | None = None,
    ) -> None:
        """A store over the file at `path`; `patient_key_secret` keys the patient HMAC."""
        super().__init__(patient_key_secret, trail, outbox)
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._worker: SqliteWorker | None = None

    async def _connect(self) -> None:
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

    async def _seal_in_transaction(
        self, decide: Callable[[StoredSeal | None, AuditEvent | None], SealPlan]
    ) -> tuple[SealPlan, AuditEvent | None]:
        worker = self._running()

        def seal(conn: sqlite3.Connection) -> tuple[SealPlan, AuditEvent | None]:
            def work() -> tuple[SealPlan, AuditEvent | None]:
                conn.row_factory = sqlite3.Row
                row = conn.execute(
                    "SELECT seq, hash, at, signature FROM audit_chain_seal WHERE id = 1"
                ).fetchone()
                head = _last_event(conn)
                plan = decide(None if row is None else stored_seal(row), head)
                if plan.store and plan.seal is not None:
                    conn.execute(_INSERT_SEAL, seal_row(plan.seal, self._trail.keys))
                return plan, head

            return immediate_transaction(conn, work)

        try:
            return await worker.run(seal)
        except (sqlite3.Error, ValueError) as exc:
            raise AuditUnavailable(f"cannot seal the audit chain: {exc}") from exc

    async def _write_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        worker = self._worker
        if worker is None:
            raise AuditUnavailable("the audit store is closed")
        return await worker.run(lambda conn: _append_batch(conn, items, self.key, self._outbox))

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        worker = self._running()

        def read(conn: sqlite3.Connection) -> list[AuditEvent]:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                f"{SELECT_EVENTS} WHERE patient_key = ? ORDER BY seq DESC LIMIT ?", (key, limit)
            ).fetchall()
            return [event_from_row(row) for row in rows]

        try:
            return await worker.run(read)
        except (sqlite3.Error, ValueError) as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def _read_last_event(self) -> AuditEvent | None:
        try:
            return await self._running().run(_last_event)
        except (sqlite3.Error, ValueError) as exc:
            raise AuditUnavailable(f"cannot read the audit chain head: {exc}") from exc

    async def count(self) -> int:
        """How many events are stored."""
        try:
            return await self._running().run(
                lambda conn: conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def ping(self) -> None:
        """Read the chain head row: one indexed row, however long the trail."""
        try:
            await self._running().run(lambda conn: conn.execute(_HEAD).fetchone())
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"the audit database does not answer: {exc}") from exc

    async def _verify(self, anchors: Anchors) -> VerifyResult:
        key = self.key
        if self.path == MEMORY:
            return await self._running().run(lambda conn: verify_connection(conn, key, anchors))
        return await verify_sqlite_file(
            self.path, key, anchors, busy_timeout_ms=self._busy_timeout_ms
        )

    # --- the notification outbox (NotificationQueue) ---------------------------------------

    async def claim_notifications(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[Pending]:
        """Lease up to `limit` rows due at `now` and not leased by anyone else."""
        return await self._outbox_run(lambda conn: claim(conn, owner, now, lease_until, limit))

    async def notification_delivered(self, event_id: str, now: float) -> None:
        """Mark a row delivered."""
        await self._outbox_run(lambda conn: delivered(conn, event_id, now))

    async def notification_failed(
        self, event_id: str, owner: str, retry_at: float | None, error: str, now: float
    ) -> None:
        """Count a failed attempt; retry at `retry_at`, or give the row up when None."""
        await self._outbox_run(lambda conn: failed(conn, event_id, owner, retry_at, error, now))

    async def notification_counts(self) -> OutboxCounts:
        """Rows still to deliver, and rows given up."""
        return await self._outbox_run(counts)

    async def _outbox_run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self._running().run(work)
        except (sqlite3.Error, ValueError) as exc:
            raise AuditUnavailable(f"cannot use the notification outbox: {exc}") from exc

    def _running(self) -> SqliteWorker:
        if self._worker is None:
            raise AuditUnavailable("the audit store is not open")
        return self._worker


def _create_schema(conn: sqlite3.Connection) -> None:
    def create() -> None:
        for statement in (*_SCHEMA, *OUTBOX_SCHEMA):
            conn.execute(statement)
        present = {row[1] for row in conn.execute("PRAGMA table_info(audit_events)")}
        for name, sql_type in _KEYED_COLUMN_TYPES.items():
            if name not in present:
                conn.execute(f"ALTER TABLE audit_events ADD COLUMN {name} {sql_type}")

    immediate_transaction(conn, create)


def _last_event(conn: sqlite3.Connection) -> AuditEvent | None:
    conn.row_factory = sqlite3.Row
    row = conn.execute(f"{SELECT_EVENTS} ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else event_from_row(row)


def _append_batch(
    conn: sqlite3.Connection,
    items: list[tuple[NewAuditEvent, str]],
    chain_key: bytes,
    outbox: Outbox | None = None,
) -> list[AuditEvent]:
    def write() -> list[AuditEvent]:
        # Read the head inside the write lock: another process may have appended since.
        seq, prev_hash = conn.execute(
            "SELECT seq, hash FROM audit_chain_head WHERE id = 1"
        ).fetchone()
        stored = []
        for new, key in items:
            event = chain_event(
                new, seq=seq + 1, prev_hash=prev_hash, patient_key=key, key=chain_key
            )
            conn.execute(_INSERT, event_to_row(event))
            stored.append(event)
            seq, prev_hash = event.seq, event.hash
        if outbox is not None:
            # The notifications commit with their events, or neither does.
            pairs = [(new, event) for (new, _), event in zip(items, stored, strict=True)]
            rows = outbox.rows(pairs)
            if rows:
                conn.executemany(OUTBOX_INSERT, rows)
        conn.execute("UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev_hash))
        return stored

    return immediate_transaction(conn, write)


def verify_connection(conn: sqlite3.Connection, key: bytes, anchors: Anchors) -> VerifyResult:
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
        columns = {row[1] for row in conn.execute("PRAGMA table_info(audit_events)")}
        select = SELECT_EVENTS if set(KEYED_COLUMNS) <= columns else SELECT_LEGACY_EVENTS
        walker = ChainWalker(key, anchors)
        last_seq = 0
        while True:
            rows = conn.execute(
                f"{select} WHERE seq > ? ORDER BY seq LIMIT ?", (last_seq, _VERIFY_BATCH)
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
    path: str, key: bytes, anchors: Anchors, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> VerifyResult:
    """Verify the chain in the SQLite file at `path` through a read-only connection of its own."""
    worker = SqliteWorker(path, busy_timeout_ms=busy_timeout_ms, read_only=True)
    try:
        await worker.start()
        return await worker.run(lambda conn: verify_connection(conn, key, anchors))
    except sqlite3.Error as exc:
        raise AuditUnavailable(f"cannot read the audit database at {path}: {exc}") from exc
    finally:
        await worker.stop()


__all__ = [
    "SqliteAuditStore",
    "verify_sqlite_file",
]
