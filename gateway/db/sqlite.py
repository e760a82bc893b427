"""SQLite plumbing shared by the audit trail and the restriction store.

One connection per store, owned by one worker thread (sqlite3 objects must stay on the thread
that made them); WAL with full sync, so an acknowledged write survives a power cut.
"""

from __future__ import annotations

import asyncio
import sqlite3
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MEMORY = ":memory:"
DEFAULT_BUSY_TIMEOUT_MS = 5000


def sqlite_path_from_url(database_url: str) -> str:
    """The file path of a `sqlite:` URL.

    `sqlite:///var/lib/ehp/audit.db` is absolute (CONFIG.md); `sqlite://audit.db` and
    `sqlite:audit.db` are relative to the working directory; `sqlite:///:memory:` is in memory.
    """
    if not database_url.startswith("sqlite:"):
        raise ValueError("not a sqlite: URL")
    rest = database_url[len("sqlite:") :]
    if "?" in rest or "#" in rest:
        raise ValueError("sqlite: URLs take no query or fragment")
    if rest.startswith("//"):
        rest = rest[2:]
        if rest.startswith("/"):
            rest = "/" + rest.lstrip("/")
    rest = urllib.parse.unquote(rest)
    if rest in ("/:memory:", MEMORY):
        return MEMORY
    if not rest or rest == "/":
        raise ValueError("sqlite: URL names no file")
    return rest


class SqliteWorker:
    """One sqlite3 connection owned by one thread; callers hand it functions to run there."""

    def __init__(self, path: str, *, busy_timeout_ms: int, read_only: bool = False) -> None:
        """Remember where to connect; nothing happens until `start`."""
        self.path = path
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._read_only = read_only
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        """Open the connection in the worker thread (WAL, full sync, busy timeout)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ehp-sqlite")
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, self._connect)

    def _connect(self) -> sqlite3.Connection:
        if self._read_only:
            uri = f"file:{urllib.parse.quote(self.path)}?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, timeout=self._busy_timeout_s, isolation_level=None
            )
        else:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            if not self._read_only and self.path != MEMORY:
                conn.execute("PRAGMA journal_mode = WAL")
                # An audit event acknowledged to the caller must survive a power cut.
                conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` in the worker thread and return its result."""
        if self._executor is None or self._conn is None:
            raise sqlite3.OperationalError("store is not open")
        conn = self._conn
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, conn)

    async def stop(self) -> None:
        """Close the connection and end the thread."""
        executor, conn = self._executor, self._conn
        self._executor, self._conn = None, None
        if executor is None:
            return
        if conn is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)


def immediate_transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    """Run `work` inside BEGIN IMMEDIATE ... COMMIT, rolling back on any failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
