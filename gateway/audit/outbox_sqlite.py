"""The notification outbox in the SQLite audit file: the queue operations of one connection.

Each runs in a ``BEGIN IMMEDIATE`` transaction, so a claim by one process (a replica sharing
the file) is ordered against every other process's claims and appends.
"""

from __future__ import annotations

import sqlite3

from gateway.audit.chain import SELECT_EVENTS, event_from_row
from gateway.audit.outbox import OUTBOX_COLUMNS, UNDELIVERED, OutboxCounts, Pending, outbox_schema
from gateway.db.sqlite import immediate_transaction

SCHEMA = outbox_schema("INTEGER", "REAL")
INSERT = (
    f"INSERT INTO notification_outbox ({', '.join(OUTBOX_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in OUTBOX_COLUMNS)})"
)


def claim(
    conn: sqlite3.Connection, owner: str, now: float, lease_until: float, limit: int
) -> list[Pending]:
    """Lease up to ``limit`` rows due at ``now`` whose lease (if any) has run out."""

    def work() -> list[Pending]:
        conn.row_factory = sqlite3.Row
        due = conn.execute(
            f"""SELECT event_id, recipient, attempts FROM notification_outbox
                WHERE {UNDELIVERED} AND next_attempt_at <= ?
                AND (lease_until IS NULL OR lease_until <= ?)
                ORDER BY next_attempt_at, seq LIMIT ?""",
            (now, now, limit),
        ).fetchall()
        if not due:
            return []
        conn.executemany(
            "UPDATE notification_outbox SET lease_owner = ?, lease_until = ? WHERE event_id = ?",
            [(owner, lease_until, row["event_id"]) for row in due],
        )
        marks = ", ".join("?" for _ in due)
        events = conn.execute(
            f"{SELECT_EVENTS} WHERE event_id IN ({marks})", [row["event_id"] for row in due]
        ).fetchall()
        by_id = {str(row["event_id"]): event_from_row(row) for row in events}
        return [
            Pending(by_id[row["event_id"]], str(row["recipient"]), int(row["attempts"]))
            for row in due
            if row["event_id"] in by_id
        ]

    return immediate_transaction(conn, work)


def delivered(conn: sqlite3.Connection, event_id: str, now: float) -> None:
    """Mark a row delivered, whoever leases it now."""

    def work() -> None:
        conn.execute(
            """UPDATE notification_outbox SET delivered_at = ?, attempts = attempts + 1,
               lease_owner = NULL, lease_until = NULL, last_error = NULL
               WHERE event_id = ? AND delivered_at IS NULL""",
            (now, event_id),
        )

    immediate_transaction(conn, work)


def failed(
    conn: sqlite3.Connection,
    event_id: str,
    owner: str,
    retry_at: float | None,
    error: str,
    now: float,
) -> None:
    """Count a failed attempt of the lease holder: due again at ``retry_at``, or given up."""

    def work() -> None:
        conn.execute(
            f"""UPDATE notification_outbox SET attempts = attempts + 1,
                next_attempt_at = COALESCE(?, next_attempt_at), given_up_at = ?,
                lease_owner = NULL, lease_until = NULL, last_error = ?
                WHERE event_id = ? AND lease_owner = ? AND {UNDELIVERED}""",
            (retry_at, now if retry_at is None else None, error, event_id, owner),
        )

    immediate_transaction(conn, work)


def counts(conn: sqlite3.Connection) -> OutboxCounts:
    """Rows still to deliver, and rows given up."""
    row = conn.execute(
        f"""SELECT COALESCE(SUM(CASE WHEN {UNDELIVERED} THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN given_up_at IS NOT NULL THEN 1 ELSE 0 END), 0)
            FROM notification_outbox"""
    ).fetchone()
    return OutboxCounts(undelivered=int(row[0]), given_up=int(row[1]))
