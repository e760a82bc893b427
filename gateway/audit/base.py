"""What the SQLite and PostgreSQL audit stores share: group commit and a base class."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.audit.events import AuditEvent, AuditUnavailable, NewAuditEvent
from gateway.db import patient_key

# One transaction never holds more than this many events, so other processes get their turn.
MAX_BATCH = 256
# The most events one read returns (a patient's access log page).
MAX_EVENTS_PER_READ = 1000

BatchWriter = Callable[[list[tuple[NewAuditEvent, str]]], Awaitable[list[AuditEvent]]]


class GroupCommit:
    """Appends made while a commit is in flight wait and are written together in the next one.

    Each caller still gets its own event back only after the transaction holding it has
    committed, and an exception when it did not, so fail-closed holds per event.
    """

    def __init__(self, write_batch: BatchWriter, *, max_batch: int = MAX_BATCH) -> None:
        """`write_batch` chains and commits a list of (event, patient key) in one transaction."""
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._pending: list[tuple[NewAuditEvent, str, asyncio.Future[AuditEvent]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, event: NewAuditEvent, key: str) -> AuditEvent:
        """Queue one event and wait until it is committed."""
        done: asyncio.Future[AuditEvent] = asyncio.get_running_loop().create_future()
        self._pending.append((event, key, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def drain(self) -> None:
        """Wait until everything queued has been written or failed."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            try:
                stored = await self._write_batch([(event, key) for event, key, _ in batch])
            except Exception as exc:
                failure = (
                    exc
                    if isinstance(exc, AuditUnavailable)
                    else AuditUnavailable(f"cannot write the audit event: {exc}")
                )
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(failure)
                continue
            for (_, _, done), event in zip(batch, stored, strict=True):
                if not done.done():
                    done.set_result(event)


class ChainedStore:
    """What the SQLite and PostgreSQL stores share: the patient key, the open check, group
    commit, and the order of closing. A backend provides the connection-shaped parts."""

    def __init__(self, patient_key_secret: bytes | None) -> None:
        self._secret = patient_key_secret
        self._group = GroupCommit(self._write_batch)

    async def append(self, event: NewAuditEvent) -> AuditEvent:
        """Chain and store one event; returns it once committed, AuditUnavailable otherwise."""
        key = self._patient_key(event.patient_iin)
        self._require_open()
        return await self._group.submit(event, key)

    async def events_for_patient(self, iin: str, limit: int) -> list[AuditEvent]:
        """The patient's events, newest first, at most `limit` (capped at 1000)."""
        key = self._patient_key(iin)
        limit = max(0, min(int(limit), MAX_EVENTS_PER_READ))
        self._require_open()
        return await self._read_events(key, limit)

    async def close(self) -> None:
        """Wait for pending appends, then release the connections."""
        await self._group.drain()
        await self._release()

    def _patient_key(self, iin: str) -> str:
        if self._secret is None:
            raise AuditUnavailable("the audit store was opened without a patient key secret")
        return patient_key(iin, self._secret)

    def _require_open(self) -> None:
        if not self._is_open():
            raise AuditUnavailable("the audit store is not open")

    # --- what a backend provides ---------------------------------------------------------

    def _is_open(self) -> bool:
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError

    async def _write_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        raise NotImplementedError

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        raise NotImplementedError
