"""What the SQLite and PostgreSQL audit stores share: group commit, the seal, the checkpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from gateway.audit.chain import Anchors, expected_hash, verify_against
from gateway.audit.checkpoints import HEAD, Checkpoint
from gateway.audit.events import AuditEvent, AuditUnavailable, NewAuditEvent, VerifyResult
from gateway.audit.outbox import Outbox
from gateway.audit.seal import SealPlan, StoredSeal, plan_seal
from gateway.audit.trail import Trail
from gateway.db import patient_key

log = logging.getLogger("gateway.audit")

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
    commit, the seal and the checkpoints, and the order of closing. A backend provides the
    connection-shaped parts."""

    def __init__(
        self, patient_key_secret: bytes | None, trail: Trail, outbox: Outbox | None = None
    ) -> None:
        self._secret = patient_key_secret
        self._trail = trail
        # With an outbox, each batch also queues the notifications of its events (same commit).
        self._outbox = outbox
        self._log = trail.log()
        self._group = GroupCommit(self._commit_batch)
        self._seal: Checkpoint | None = None
        self._own_head: tuple[int, str] | None = None  # the last event this process wrote
        self._checkpointed: tuple[int, str] | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def key(self) -> bytes:
        """The key of the events' HMAC chain."""
        return self._trail.keys.events

    async def open(self) -> None:
        """Connect, seal the chain if it is not yet, checkpoint its head, start the ticker.

        AuditUnavailable when the database is unusable, or when the chain cannot be trusted
        with this key and checkpoint file (the message says why).
        """
        await self._connect()
        try:
            await self._start_trail()
        except BaseException:
            await self._release()
            raise
        self._ticker = asyncio.create_task(self._checkpoint_periodically())

    async def _start_trail(self) -> None:
        reading = await asyncio.to_thread(self._log.read_trusted)
        now = datetime.now(UTC)
        plan, head = await self._seal_in_transaction(
            lambda stored, head: plan_seal(stored, head, reading.seal, self._trail.keys, now)
        )
        if plan.error is not None or plan.seal is None:
            raise AuditUnavailable(f"cannot open the audit trail: {plan.error}")
        if plan.note is not None:
            log.warning("audit chain: %s (%s)", plan.note, plan.seal.describe())
        if reading.seal is None:
            await asyncio.to_thread(self._log.append, plan.seal)
        self._seal = plan.seal
        latest = reading.latest
        head_seq = 0 if head is None else head.seq
        if latest is not None and head_seq < latest.seq:
            raise AuditUnavailable(
                f"cannot open the audit trail: the chain ends at seq={head_seq} but the "
                f"checkpoint of {latest.describe()} recorded seq={latest.seq}: events were "
                "removed (run `audit verify`)"
            )
        await self.checkpoint()

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

    async def checkpoint(self) -> Checkpoint | None:
        """Append a signed checkpoint of the chain head if it moved since the last one.

        The head is the database's last event when its hash is right, else the last event
        this process wrote (so a tampered head is never vouched for).
        """
        self._require_open()
        head = await self._read_last_event()
        point = (head.seq, head.hash) if head is not None and self._authentic(head) else None
        if head is not None and point is None:
            log.error("audit chain head seq=%d fails its hash: not checkpointed", head.seq)
        own = self._own_head
        if own is not None and (point is None or point[0] < own[0]):
            if point is not None:
                log.error("audit chain ends at seq=%d, before seq=%d it wrote", point[0], own[0])
            point = own
        if point is None or point == self._checkpointed or point[0] == 0:
            return None
        checkpoint = Checkpoint(HEAD, point[0], point[1], datetime.now(UTC))
        await asyncio.to_thread(self._log.append, checkpoint)
        self._checkpointed = point
        return checkpoint

    async def verify(self) -> VerifyResult:
        """Walk the whole chain against the checkpoint file and report the first break."""
        self._require_open()
        return await verify_against(self._log, self._verify)

    async def close(self) -> None:
        """Stop the ticker, wait for pending appends, checkpoint the head, then disconnect."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        await self._group.drain()
        if self._is_open() and self._seal is not None:
            try:
                await self.checkpoint()
            except Exception:  # closing must still release the connections
                log.exception("audit chain: the closing checkpoint could not be written")
        await self._release()

    async def _checkpoint_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._trail.checkpoint_interval_s)
            try:
                await self.checkpoint()
            except Exception:  # the next tick tries again; appends go on meanwhile
                log.exception("audit chain: a periodic checkpoint could not be written")

    def _authentic(self, event: AuditEvent) -> bool:
        """True when `event` is where the sealed, keyed chain says it may be, with its hash."""
        seal = self._seal
        if seal is None or event.seq < seal.seq:
            return False
        if event.seq == seal.seq:
            return event.hash == seal.hash
        return not event.legacy and expected_hash(event, self.key) == event.hash

    async def _commit_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        stored = await self._write_batch(items)
        if self._outbox is not None:
            self._outbox.committed([new for new, _ in items])
        if stored:
            last = stored[-1]
            if self._own_head is None or last.seq > self._own_head[0]:
                self._own_head = (last.seq, last.hash)
        return stored

    def _patient_key(self, iin: str) -> str:
        if self._secret is None:
            raise AuditUnavailable("the audit store was opened without a patient key secret")
        return patient_key(iin, self._secret)

    def _require_open(self) -> None:
        if not self._is_open():
            raise AuditUnavailable("the audit store is not open")

    # --- what a backend provides ---------------------------------------------------------

    async def _connect(self) -> None:
        """Connect and create or migrate the tables; AuditUnavailable if it cannot."""
        raise NotImplementedError

    def _is_open(self) -> bool:
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError

    async def _seal_in_transaction(
        self, decide: Callable[[StoredSeal | None, AuditEvent | None], SealPlan]
    ) -> tuple[SealPlan, AuditEvent | None]:
        """In one transaction holding the append lock: read the seal row and the last event,
        `decide`, and store the plan's seal when it says so; return the plan and the event."""
        raise NotImplementedError

    async def _write_batch(self, items: list[tuple[NewAuditEvent, str]]) -> list[AuditEvent]:
        raise NotImplementedError

    async def _read_events(self, key: str, limit: int) -> list[AuditEvent]:
        raise NotImplementedError

    async def _read_last_event(self) -> AuditEvent | None:
        raise NotImplementedError

    async def _verify(self, anchors: Anchors) -> VerifyResult:
        raise NotImplementedError
