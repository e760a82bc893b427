"""PostgreSQL plumbing shared by the audit trail and the restriction store (asyncpg)."""

from __future__ import annotations

import asyncpg

CONNECT_TIMEOUT_S = 5.0
# A database that stops answering must fail the request, not hang it.
COMMAND_TIMEOUT_S = 10.0
# Serialises schema creation when several gateway processes start at once.
SCHEMA_LOCK_KEY = 0x45485041_55444954  # "EHPAUDIT"


async def create_pool(
    dsn: str, *, max_size: int = 10, command_timeout_s: float = COMMAND_TIMEOUT_S
) -> asyncpg.Pool:
    """A connection pool with short connect and command timeouts (fail closed, do not hang)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=command_timeout_s,
    )


async def create_schema(pool: asyncpg.Pool, statements: tuple[str, ...]) -> None:
    """Run DDL statements in one transaction under the schema advisory lock."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
        for statement in statements:
            await conn.execute(statement)
