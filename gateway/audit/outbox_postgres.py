"""The notification outbox in the PostgreSQL audit database: the queue operations on a pool.

A claim locks the due rows it takes with ``FOR UPDATE SKIP LOCKED`` and leases them, so
replicas claiming at once take different rows, and a row leased by one is not taken by
another until its lease runs out.
"""

from __future__ import annotations

import asyncpg

from gateway.audit.chain import SELECT_EVENTS, event_from_row
from gateway.audit.outbox import OUTBOX_COLUMNS, UNDELIVERED, OutboxCounts, Pending, outbox_schema

SCHEMA = outbox_schema("BIGINT", "DOUBLE PRECISION")
INSERT = (
    f"INSERT INTO notification_outbox ({', '.join(OUTBOX_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(OUTBOX_COLUMNS) + 1))})"
)
_CLAIM = f"""
WITH due AS (
    SELECT event_id FROM notification_outbox
    WHERE {UNDELIVERED} AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
    ORDER BY next_attempt_at, seq LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE notification_outbox AS o SET lease_owner = $3, lease_until = $4
FROM due WHERE o.event_id = due.event_id
RETURNING o.event_id, o.recipient, o.attempts, o.next_attempt_at, o.seq
"""


async def claim(
    pool: asyncpg.Pool, owner: str, now: float, lease_until: float, limit: int
) -> list[Pending]:
    """Lease up to ``limit`` rows due at ``now`` whose lease (if any) has run out."""
    async with pool.acquire() as conn, conn.transaction():
        due = await conn.fetch(_CLAIM, now, limit, owner, lease_until)
        if not due:
            return []
        due = sorted(due, key=lambda row: (row["next_attempt_at"], row["seq"]))
        events = await conn.fetch(
            f"{SELECT_EVENTS} WHERE event_id = ANY($1::text[])", [row["event_id"] for row in due]
        )
    by_id = {str(row["event_id"]): event_from_row(row) for row in events}
    return [
        Pending(by_id[row["event_id"]], str(row["recipient"]), int(row["attempts"]))
        for row in due
        if row["event_id"] in by_id
    ]


async def delivered(pool: asyncpg.Pool, event_id: str, now: float) -> None:
    """Mark a row delivered, whoever leases it now."""
    await pool.execute(
        """UPDATE notification_outbox SET delivered_at = $1, attempts = attempts + 1,
           lease_owner = NULL, lease_until = NULL, last_error = NULL
           WHERE event_id = $2 AND delivered_at IS NULL""",
        now,
        event_id,
    )


async def failed(
    pool: asyncpg.Pool,
    event_id: str,
    owner: str,
    retry_at: float | None,
    error: str,
    now: float,
) -> None:
    """Count a failed attempt of the lease holder: due again at ``retry_at``, or given up."""
    await pool.execute(
        f"""UPDATE notification_outbox SET attempts = attempts + 1,
            next_attempt_at = COALESCE($1, next_attempt_at), given_up_at = $2,
            lease_owner = NULL, lease_until = NULL, last_error = $3
            WHERE event_id = $4 AND lease_owner = $5 AND {UNDELIVERED}""",
        retry_at,
        now if retry_at is None else None,
        error,
        event_id,
        owner,
    )


async def counts(pool: asyncpg.Pool) -> OutboxCounts:
    """Rows still to deliver, and rows given up."""
    row = await pool.fetchrow(
        f"""SELECT count(*) FILTER (WHERE {UNDELIVERED}),
                   count(*) FILTER (WHERE given_up_at IS NOT NULL)
            FROM notification_outbox"""
    )
    return OutboxCounts(undelivered=int(row[0]), given_up=int(row[1]))
