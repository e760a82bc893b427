"""The delivery worker: claims due outbox rows, POSTs each notification to the webhook, signed,
and records the outcome; failed rows are retried with exponential backoff and jitter until
``notifications.max_attempts``, then given up (kept and counted).

At least once: a row is marked delivered only after a 2xx answer, so a crash between the POST
and the mark sends it again (the receiver drops the duplicate by its ``webhook-id``). Every
replica runs a worker; a claimed row is leased to one of them for ``lease_s`` (longer than a
POST), so two never deliver the same row at the same time, and a row leased by a process that
died is taken again once its lease runs out. Rows written before a restart are delivered after
it: the outbox is in the audit database, and the first claim runs at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from gateway import metrics
from gateway.audit.outbox import NotificationQueue, Outbox, Pending
from gateway.config import NotificationSettings
from gateway.notify.message import encode, notification
from gateway.notify.recipient import RecipientCipher, RecipientUnreadable
from gateway.notify.signing import Signer, signing_key

log = logging.getLogger("gateway.notify")

# (organisation BIN, practitioner id) -> their names in the register (None when unknown).
NameLookup = Callable[[str | None, str | None], Awaitable[tuple[str | None, str | None]]]
# Rows claimed (and POSTed concurrently) at once by one worker.
CLAIM_BATCH = 32


def backoff_s(attempts: int, base_s: float, cap_s: float, rng: Callable[[], float]) -> float:
    """The wait after ``attempts`` failed attempts: exponential from ``base_s``, capped at
    ``cap_s``, with jitter over its upper half (never less than half the step)."""
    step = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    return step / 2 + rng() * step / 2


async def no_names(org_bin: str | None, practitioner_id: str | None) -> tuple[None, None]:
    """A lookup that knows no names."""
    return None, None


class NotificationWorker:
    """One replica's delivery loop over the outbox."""

    def __init__(
        self,
        queue: NotificationQueue,
        settings: NotificationSettings,
        *,
        names: NameLookup = no_names,
        client: httpx.AsyncClient | None = None,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """A worker for the configured webhook; call ``start`` (and ``stop``) in the app."""
        if not settings.webhook_url or not settings.secret:
            raise ValueError("notifications need webhook_url and secret")
        self.queue = queue
        self.settings = settings
        self.cipher = RecipientCipher.from_settings(settings)
        self.signer = Signer(signing_key(settings.secret))
        self.names = names
        self.owner = owner or uuid.uuid4().hex
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_ms / 1000)
        self._clock = clock
        self._rng = rng
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, outbox: Outbox | None = None) -> None:
        """Start the loop; an ``outbox`` wakes it at once when a commit queued a notification."""
        if outbox is not None:
            outbox.listen(self.wake)
        self._task = asyncio.create_task(self.run())

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop the loop (a POST in flight is abandoned: its row is sent again later)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    async def run(self) -> None:
        """Deliver what is due, then wait for a wake-up or the poll interval; forever."""
        while True:
            claimed = 0
            try:
                claimed = await self.deliver_due()
            except Exception:  # the store may be down for a while: the next round tries again
                log.exception("notification delivery round failed")
            if claimed >= CLAIM_BATCH:
                continue  # more may be due already
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_interval_s)
            self._wakeup.clear()

    async def deliver_due(self) -> int:
        """Claim the rows due now and try each once; returns how many were claimed."""
        now = self._clock()
        pending = await self.queue.claim_notifications(
            self.owner, now, now + self.settings.lease_s, CLAIM_BATCH
        )
        await asyncio.gather(*(self._deliver(item) for item in pending))
        return len(pending)

    async def _deliver(self, pending: Pending) -> None:
        event = pending.event
        try:
            iin = self.cipher.open(event.event_id, pending.recipient)
        except RecipientUnreadable:
            # Another key sealed it (or the row was altered): no retry can read it.
            await self._failed(pending, "recipient unreadable", give_up=True)
            return
        try:
            organization, practitioner = await self.names(event.org_bin, event.practitioner_id)
        except Exception:  # names are a courtesy: the notification goes without them
            organization = practitioner = None
        body = encode(notification(event, iin, organization, practitioner))
        headers = self.signer.headers(event.event_id, body)
        try:
            response = await self._client.post(
                self.settings.webhook_url or "",
                content=body,
                headers=headers,
                timeout=self.settings.timeout_ms / 1000,
            )
            error = None if 200 <= response.status_code < 300 else f"http {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        if error is None:
            await self.queue.notification_delivered(event.event_id, self._clock())
            metrics.NOTIFICATION_ATTEMPTS.labels(outcome="delivered").inc()
            return
        await self._failed(pending, error, give_up=False)

    async def _failed(self, pending: Pending, error: str, *, give_up: bool) -> None:
        attempts = pending.attempts + 1
        give_up = give_up or attempts >= self.settings.max_attempts
        retry_at = None
        if not give_up:
            wait = backoff_s(
                attempts, self.settings.backoff_base_s, self.settings.backoff_cap_s, self._rng
            )
            retry_at = self._clock() + wait
        await self.queue.notification_failed(
            pending.event.event_id, self.owner, retry_at, error, self._clock()
        )
        outcome = "given_up" if give_up else "failed"
        metrics.NOTIFICATION_ATTEMPTS.labels(outcome=outcome).inc()
        # The event id only: never the patient.
        log.warning(
            "notification %s not delivered (%s), attempt %d: %s",
            pending.event.event_id,
            error,
            attempts,
            "given up" if give_up else "will retry",
        )


def outbox_for(settings: NotificationSettings) -> Outbox | None:
    """The outbox the audit store writes notifications into: None (with a warning) when no
    webhook is configured, so that nothing waits in it for a delivery that never comes."""
    if not settings.webhook_url:
        log.warning(
            "notifications.webhook_url is not set: break-glass and emergency reads are audited "
            "but not notified to the patient (ACCESS.md)"
        )
        return None
    return Outbox(RecipientCipher.from_settings(settings).seal)
