"""The PostgreSQL audit store: asyncpg pool, appends serialised on a locked chain-head row."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

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
from gateway.audit.outbox_postgres import INSERT as OUTBOX_INSERT
from gateway.audit.outbox_postgres import SCHEMA as OUTBOX_SCHEMA
from gateway.audit.outbox_postgres import claim, counts, delivered, failed
from gateway.audit.seal import SealPlan, StoredSeal, seal_row, stored_seal
from gateway.audit.trail import Trail
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
        hash TEXT NOT NULL,
        outcome TEXT,
        basis TEXT,
        restrictions_shown BOOLEAN
    )""",
    # A legacy table gets the keyed chain's columns (NULL in its old rows).
    "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS outcome TEXT",
    "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS basis TEXT",
    "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS restrictions_shown BOOLEAN",
    "CREATE INDEX IF NOT EXISTS audit_events_by_patient ON audit_events (patient_key, seq)",
    """CREATE TABLE IF NOT EXISTS audit_chain_head (
        id INT PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
    f"""INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS_HASH}')
        ON CONFLICT (id) DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS audit_chain_seal (
        id INT PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        signature TEXT NOT NULL
    )""",
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
    """CREATE OR REPLACE TRIGGER audit_chain_seal_once
        BEFORE UPDATE OR DELETE ON audit_chain_seal
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE OR REPLACE TRIGGER audit_chain_seal_no_truncate
        BEFORE TRUNCATE ON audit_chain_seal
        FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
)

_INSERT = (
    f"INSERT INTO audit_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(EVENT_COLUMNS) + 1))})"
)
_HEAD = "SELECT seq FROM audit_chain_head WHERE id = 1"
_INSERT_SEAL = (
    "INSERT INTO audit_chain_seal (id, seq, hash, at, signature) VALUES (1, $1, $2, $3, $4)"
)


class PostgresAuditStore(ChainedStore):
    """The audit trail in PostgreSQL, shared safely by several gateway processes."""

    def __init__(
        self,
        dsn: str,
        patient_key_secret: bytes | None,
        trail: Trail,
        *,
        max_size: int = 10,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        outbox: Outbox | None = None,
    ) -> None:
        """A store for `dsn` (postgresql://...); `patient_key_secret` keys the patient HMAC."""
        super().__init__(patient_key_secret, trail, outbox)
        self._dsn = dsn
        self._max_size = max_size
        self._command_timeout_s = command_timeout_s
        self._pool: asyncpg.Pool | None = None

    async def _connect(self) -> None:
        pool = None
        try:
            pool = await create_pool(
                self._dsn, max_size=self._max_size, command_timeout_s=self._command_timeout_s
            )
            await create_schema(pool, (*_SCHEMA, *OUTBOX_SCHEMA))
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

    async def _seal_in_transaction(
        self, decide: Callable[[StoredSeal | None, AuditEvent | None], SealPlan]
    ) -> tuple[SealPlan, AuditEvent | None]:
        pool = self._running()
        try:
            async with pool.acquire() as conn, conn.transaction():
                # The head row's lock orders this against every appender and other openers.
                await conn.execute("SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE")
                row = await conn.fetchrow(
                    "SELECT seq, hash, at, signature FROM audit_chain_seal WHERE id = 1"
                )
                head = await _last_event(conn)
                plan = decide(None if row is None else stored_seal(row), head)
                if plan.store and plan.seal is not None:
                    await conn.execute(_INSERT_SEAL, *seal_row(plan.seal, self._trail.keys))
                return plan, head
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot seal the audit chain: {exc}") from exc

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
                event = chain_event(
                    new, seq=seq + 1, prev_hash=prev_hash, patient_key=key, key=self.key
                )
                stored.append(event)
                seq, prev_hash = event.seq, event.hash
            await conn.executemany(_INSERT, [event_to_row(event) for event in stored])
            if self._outbox is not None:
                # The notifications commit with their events, or neither does.
                pairs = [(new, event) for (new, _), event in zip(items, stored, strict=True)]
                rows = self._outbox.rows(pairs)
                if rows:
                    await conn.executemany(OUTBOX_INSERT, rows)
            await conn.execute(
                "UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1", seq, prev_hash
            )
        return stored

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        pool = self._running()
        try:
            rows = await pool.fetch(
                f"{SELECT_EVENTS} WHERE patient_key = $1 ORDER BY seq DESC LIMIT $2", key, limit
            )
            return [event_from_row(row) for row in rows]
        except Exception as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def _read_last_event(self) -> AuditEvent | None:
        try:
            async with self._running().acquire() as conn:
                return await _last_event(conn)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot read the audit chain head: {exc}") from exc

    async def count(self) -> int:
        """How many events are stored."""
        pool = self._running()
        try:
            return int(await pool.fetchval("SELECT count(*) FROM audit_events"))
        except Exception as exc:
            raise AuditUnavailable(f"cannot read audit events: {exc}") from exc

    async def ping(self) -> None:
        """Read the chain head row: one indexed row, however long the trail."""
        pool = self._running()
        try:
            await pool.fetchval(_HEAD)
        except Exception as exc:
            raise AuditUnavailable(f"the audit database does not answer: {exc}") from exc

    async def _verify(self, anchors: Anchors) -> VerifyResult:
        pool = self._running()
        try:
            async with pool.acquire() as conn:
                return await verify_connection(conn, self.key, anchors)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot read the audit database: {exc}") from exc

    # --- the notification outbox (NotificationQueue) ---------------------------------------

    async def claim_notifications(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[Pending]:
        """Lease up to `limit` rows due at `now` and not leased by anyone else."""
        try:
            return await claim(self._running(), owner, now, lease_until, limit)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot use the notification outbox: {exc}") from exc

    async def notification_delivered(self, event_id: str, now: float) -> None:
        """Mark a row delivered."""
        try:
            await delivered(self._running(), event_id, now)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot use the notification outbox: {exc}") from exc

    async def notification_failed(
        self, event_id: str, owner: str, retry_at: float | None, error: str, now: float
    ) -> None:
        """Count a failed attempt; retry at `retry_at`, or give the row up when None."""
        try:
            await failed(self._running(), event_id, owner, retry_at, error, now)
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot use the notification outbox: {exc}") from exc

    async def notification_counts(self) -> OutboxCounts:
        """Rows still to deliver, and rows given up."""
        try:
            return await counts(self._running())
        except AuditUnavailable:
            raise
        except Exception as exc:
            raise AuditUnavailable(f"cannot use the notification outbox: {exc}") from exc

    def _running(self) -> asyncpg.Pool:
        if self._pool is None:
            raise AuditUnavailable("the audit store is not open")
        return self._pool


async def _last_event(conn: asyncpg.Connection) -> AuditEvent | None:
    row = await conn.fetchrow(f"{SELECT_EVENTS} ORDER BY seq DESC LIMIT 1")
    return None if row is None else event_from_row(row)


async def verify_connection(conn: asyncpg.Connection, key: bytes, anchors: Anchors) -> VerifyResult:
    """Walk the chain over `conn` inside one read-only repeatable-read transaction."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if await conn.fetchval("SELECT to_regclass('audit_events')") is None:
            raise AuditUnavailable("no audit events table in this database")
        head = None
        if await conn.fetchval("SELECT to_regclass('audit_chain_head')") is not None:
            head_row = await conn.fetchrow("SELECT seq, hash FROM audit_chain_head WHERE id = 1")
            if head_row is not None:
                head = (int(head_row["seq"]), str(head_row["hash"]))
        keyed_columns = await conn.fetchval(
            """SELECT count(*) FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'audit_events'
               AND column_name = ANY($1::text[])""",
            list(KEYED_COLUMNS),
        )
        select = SELECT_EVENTS if keyed_columns == len(KEYED_COLUMNS) else SELECT_LEGACY_EVENTS
        walker = ChainWalker(key, anchors)
        last_seq = 0
        while True:
            rows = await conn.fetch(
                f"{select} WHERE seq > $1 ORDER BY seq LIMIT $2", last_seq, _VERIFY_BATCH
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


async def verify_postgres(dsn: str, key: bytes, anchors: Anchors) -> VerifyResult:
    """Verify the chain in the PostgreSQL database at `dsn` over a connection of its own."""
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise AuditUnavailable(f"cannot connect to the audit database: {exc}") from exc
    try:
        return await verify_connection(conn, key, anchors)
    except AuditUnavailable:
        raise
    except Exception as exc:
        raise AuditUnavailable(f"cannot read the audit database: {exc}") from exc
    finally:
        await conn.close()
