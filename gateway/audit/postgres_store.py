"""The PostgreSQL audit store: asyncpg pool, appends serialised on a locked chain-head row."""

from __future__ import annotations

import asyncpg

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
from gateway.db.postgres import (
    COMMAND_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    create_pool,
    create_schema,
)

_VERIFY_BATCH = 2000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_events (
        seq BIGINT PRIMARY KEY,
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
        break_glass BOOLEAN NOT NULL,
        request_id TEXT NOT NULL,
        action TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_events_by_patient ON audit_events (patient_key, seq)",
    """CREATE TABLE IF NOT EXISTS audit_chain_head (
        id INT PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"""INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')
        ON CONFLICT (id) DO NOTHING""",
    # Append-only in the database itself; verify still catches edits made after dropping these.
    """CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$""",
    """CREATE OR REPLACE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE OR REPLACE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE OR REPLACE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
                RAISE EXCEPTION 'the audit chain head only moves forward';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE OR REPLACE TRIGGER audit_chain_head_forward
        BEFORE UPDATE ON audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION audit_head_forward()""",
    """CREATE OR REPLACE TRIGGER audit_chain_head_kept
        BEFORE DELETE ON audit_chain_head
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE OR REPLACE TRIGGER audit_chain_head_no_truncate
        BEFORE TRUNCATE ON audit_chain_head
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
)

_INSERT = (
    f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(EVENT_COLUMNS) + 1))})"
)
_SELECT = f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events"
_HEAD = "SELECT seq FROM audit_chain_head WHERE id = 1"


class PostgresAuditStore(ChainedStore):
    """The audit trail in PostgreSQL, shared safely by several gateway processes."""

    def __init__(
        self,
        dsn: str,
        patient_key_secret: bytes | None,
        *,
        max_size: int = 10,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        """A store for `dsn` (postgresql://...); `patient_key_secret` keys the patient HMAC."""
        super().__init__(patient_key_secret)
        self._dsn = dsn
        self._max_size = max_size
        self._command_timeout_s = command_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect and create tables and triggers if missing; AuditUnavailable if it cannot."""
        pool = None
        try:
            pool = await create_pool(
                self._dsn, max_size=self._max_size, command_timeout_s=self._command_timeout_s
            )
            await create_schema(pool, _SCHEMA)
        except Exception as exc:
            if pool is not None:
                await pool.close()
            raise AuditUnavailable(f"cannot open the audit database: {exc}") from exc
        self._pool = pool

    def _is_open(self) -> bool:
        return self._pool is not None

    async def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _write_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        pool = self._pool
        if pool is None:
            raise AuditUnavailable("the audit store is closed")
        async with pool.acquire() as conn, conn.transaction():
            # The locked head row orders appends from every process sharing the database.
            head = await conn.fetchrow(
                "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"
            )
            seq, prev_hash = int(head["seq"]), str(head["hash"])
            stored = []
            for new, key in items:
                event = chain_event(new, seq=seq + 1, prev_hash=prev_hash, patient_key=key)
                stored.append(event)
                seq, prev_hash = event.seq, event.hash
            await conn.executemany(_INSERT, [event_to_row(event) for event in stored])
            await conn.execute(
                "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev_hash
            )
        return stored

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        pool = self._pool
        assert pool is not None  # checked by the caller
        try:
            rows = await pool.fetch(
                f"{_SELECT} WHERE patient_key = $1 ORDER BY seq DESC LIMIT $2", key, limit
            )
            return [event_from_row(row) for row in rows]
        except Exception as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def count(self) -> int:
        """How many events are stored."""
        if self._pool is None:
            raise AuditUnavailable("the audit store is not open")
        try:
            return int(await self._pool.fetchval("SELECT count(*) FROM audit_events"))
        except Exception as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def ping(self) -> None:
        """Read the chain head row: one indexed row, however long the trail."""
        if self._pool is None:
            raise AuditUnavailable("the audit store is not open")
        try:
            await self._pool.fetchval(_HEAD)
        except Exception as exc:
            raise AuditUnavailable(f"the audit database does not answer: {exc}") from exc

    async def verify(self) -> VerifyResult:
        """Walk the whole chain in one repeatable-read snapshot and report the first break."""
        if self._pool is None:
            raise AuditUnavailable("the audit store is not open")
        try:
            async with self._pool.acquire() as conn:
                return await verify_connection(conn)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot read the audit database: {exc}") from exc


async def verify_connection(conn: asyncpg.Connection) -> VerifyResult:
    """Walk the chain over `conn` inside one read-only repeatable-read transaction."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if await conn.fetchval("SELECT to_regclass('audit_events')") is None:
            raise AuditUnavailable("no audit events table in this database")
        head = None
        if await conn.fetchval("SELECT to_regclass('audit_chain_head')") is not None:
            head_row = await conn.fetchrow("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
            if head_row is not None:
                head = (int(head_row["seq"]), str(head_row["hash"]))
        walker = ChainWalker()
        last_seq = 0
        while True:
            rows = await conn.fetch(
                f"{_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2", last_seq, _VERIFY_BATCH
            )
            if not rows:
                return walker.result(walker.finish(head))
            for row in rows:
                suspect = walker.step(row)
                if suspect is not None:
                    linked = None
                    if suspect.linked_hash is not None:
                        linked = await conn.fetchval(
                            "SELECT seq FROM audit_events WHERE hash = $1 LIMIT 1",
                            suspect.linked_hash,
                        )
                    return walker.result(suspect, None if linked is None else int(linked))
            last_seq = int(rows[-1]["seq"])


async def verify_postgres(dsn: str) -> VerifyResult:
    """Verify the chain in the PostgreSQL database at `dsn` over a connection of its own."""
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise AuditUnavailable(f"cannot connect to the audit database: {exc}") from exc
    try:
        return await verify_connection(conn)
    except AuditUnavailable:
        raise
    except Exception as exc:
        raise AuditUnavailable(f"cannot read the audit database: {exc}") from exc
    finally:
        await conn.close()
