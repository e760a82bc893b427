"""`audit verify`: walk the chain in the configured database and name the first broken event."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from gateway.audit.events import AuditUnavailable, VerifyResult
from gateway.audit.postgres_store import verify_postgres
from gateway.audit.sqlite_store import verify_sqlite_file
from gateway.db import is_postgres_url
from gateway.db.sqlite import sqlite_path_from_url

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_UNAVAILABLE = 2


async def verify_database(database_url: str) -> VerifyResult:
    """Verify the audit chain at `database_url` read-only; AuditUnavailable if it cannot be read."""
    if is_postgres_url(database_url):
        return await verify_postgres(database_url)
    if database_url.startswith("sqlite:"):
        return await verify_sqlite_file(sqlite_path_from_url(database_url))
    raise ValueError("audit.database_url must start with sqlite: or postgresql://")


def describe(result: VerifyResult) -> str:
    """The one line the command prints for a verdict."""
    if result.ok:
        return f"audit chain OK: {result.checked} events"
    line = f"audit chain BROKEN at event seq={result.first_broken_seq}: {result.problem}"
    return f"{line} ({result.detail})" if result.detail else line


def run_verify(database_url: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Verify, print the verdict and return the exit code (0 intact, 1 broken, 2 unreadable)."""
    try:
        result = asyncio.run(verify_database(database_url))
    except (AuditUnavailable, ValueError) as exc:
        print(f"audit chain cannot be checked: {exc}", file=err)
        return EXIT_UNAVAILABLE
    print(describe(result), file=out)
    return EXIT_OK if result.ok else EXIT_BROKEN


def main(argv: list[str] | None = None) -> int:
    """`audit verify --database-url URL`; the gateway CLI calls `run_verify` with its URL."""
    parser = argparse.ArgumentParser(prog="gateway audit verify", description=__doc__)
    parser.add_argument("--database-url", required=True, help="sqlite:///PATH or postgresql://...")
    args = parser.parse_args(argv)
    return run_verify(args.database_url)


if __name__ == "__main__":
    sys.exit(main())
