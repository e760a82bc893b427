"""`audit verify`: walk the chain with its key, against the checkpoint file, and name the
first broken event."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from gateway.audit.chain import Anchors, verify_against
from gateway.audit.events import AuditUnavailable, VerifyResult
from gateway.audit.keys import MissingSecret
from gateway.audit.postgres_store import verify_postgres
from gateway.audit.sqlite_store import verify_sqlite_file
from gateway.audit.trail import Trail
from gateway.config import AuditSettings
from gateway.db import is_postgres_url
from gateway.db.sqlite import sqlite_path_from_url

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_UNAVAILABLE = 2


async def verify_database(database_url: str, trail: Trail) -> VerifyResult:
    """Verify the audit chain at `database_url` read-only; AuditUnavailable if it cannot be read.

    The checkpoint file is read first, so that every checkpoint read names an event the
    database snapshot taken after it must hold.
    """
    key = trail.keys.events

    async def walk(anchors: Anchors) -> VerifyResult:
        if is_postgres_url(database_url):
            return await verify_postgres(database_url, key, anchors)
        if database_url.startswith("sqlite:"):
            return await verify_sqlite_file(sqlite_path_from_url(database_url), key, anchors)
        raise ValueError("audit.database_url must start with sqlite: or postgresql://")

    return await verify_against(trail.log(), walk)


def describe(result: VerifyResult) -> str:
    """What the command prints: the verdict, then what was checked (one line each)."""
    if result.ok:
        head = f"audit chain OK: {result.checked} events"
    elif result.first_broken_seq is None:
        head = f"audit chain BROKEN: {result.problem}"
    else:
        head = f"audit chain BROKEN at event seq={result.first_broken_seq}: {result.problem}"
    if result.detail:
        head = f"{head} ({result.detail})"
    return "\n".join([head, *(f"  {part}" for part in result.parts)])


def run_verify(audit: AuditSettings, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Verify, print the verdict and return the exit code (0 intact, 1 broken, 2 unreadable)."""
    try:
        trail = Trail.from_settings(audit, create_key=False)
        result = asyncio.run(verify_database(audit.database_url, trail))
    except (AuditUnavailable, MissingSecret, ValueError) as exc:
        print(f"audit chain cannot be checked: {exc}", file=err)
        return EXIT_UNAVAILABLE
    print(describe(result), file=out)
    return EXIT_OK if result.ok else EXIT_BROKEN
