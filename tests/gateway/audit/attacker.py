"""The attacker of the audit tests: raw access to an audit database, bypassing the store.

They hold the SQLite file or a database account, so they can drop the append-only triggers
and rewrite anything the database holds; they do not hold the chain key. Their hashes are
computed here from the stored format (sha256 over the sorted compact JSON of a row), not
with the gateway's code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from gateway.audit.chain import EVENT_COLUMNS

# The table's columns, as the database shows them to anyone who can read it.
COLUMNS = EVENT_COLUMNS


@dataclass
class Backend:
    """One audit database under attack: its URL, and raw access that bypasses the store."""

    kind: str
    url: str
    directory: Path

    async def execute(self, *statements: str) -> None:
        """Run SQL as the attacker, after dropping every guard trigger."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"), isolation_level=None)
            try:
                for trigger in (
                    "audit_events_no_update",
                    "audit_events_no_delete",
                    "audit_chain_head_forward",
                ):
                    conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.close()
            return
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
            await conn.execute(
                "DROP TRIGGER IF EXISTS audit_chain_head_forward ON audit_chain_head"
            )
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def rows(self) -> list[dict[str, Any]]:
        """Every stored event as the database returns it, in seq order."""
        query = f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq"
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
            conn.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in conn.execute(query)]
            finally:
                conn.close()
        conn = await asyncpg.connect(self.url)
        try:
            return [dict(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()

    async def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the events from the first of `rows` on with `rows`, and move the head."""
        first, last = rows[0]["seq"], rows[-1]
        statements = [f"DELETE FROM audit_events WHERE seq >= {first}"]
        for row in rows:
            values = ", ".join(_literal(row[name]) for name in COLUMNS)
            statements.append(f"INSERT INTO audit_events ({', '.join(COLUMNS)}) VALUES ({values})")
        statements.append(
            f"UPDATE audit_chain_head SET seq = {last['seq']}, hash = '{last['hash']}'"
        )
        await self.execute(*statements)


def _literal(value: object) -> str:
    """An SQL literal both SQLite and PostgreSQL read (the attacker's values are plain)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def attacker_hash(row: dict[str, Any]) -> str:
    """sha256 over the sorted compact JSON of a row's fields (all the database reveals)."""
    fields = {name: row[name] for name in COLUMNS if name != "hash"}
    fields["sections"] = json.loads(row["sections"])
    fields["break_glass"] = bool(row["break_glass"])
    if row["restrictions_shown"] is None:  # legacy rows were hashed without the new fields
        for name in ("outcome", "basis", "restrictions_shown"):
            del fields[name]
    else:
        fields["restrictions_shown"] = bool(row["restrictions_shown"])
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rechained(rows: list[dict[str, Any]], seq: int, prev_hash: str) -> list[dict[str, Any]]:
    """`rows` renumbered from `seq` on, relinked and rehashed one after the other."""
    out = []
    for row in rows:
        row = {**row, "seq": seq, "prev_hash": prev_hash}
        row["hash"] = attacker_hash(row)
        out.append(row)
        prev_hash, seq = row["hash"], seq + 1
    return out
