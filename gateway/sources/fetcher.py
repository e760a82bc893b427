"""One fetch from a source system, the way every adapter call goes: cache, then resilience.

fresh cached copy -> served, no upstream call. Otherwise the callers of one key share one
flight (in this process by a task map; across replicas by a short Redis lock while the others
poll for the value), which calls the loader under the request deadline (capped by the source's
timeout), retrying idempotent calls on timeout, connect, 5xx and 429 with full-jitter backoff
within the source's retry budget, behind the source's circuit breaker. A success is kept for
`max(ttl_s, max_stale_s)`; an error never is. On failure, a cached copy no older than
`max_stale_s` is served marked stale; else the caller gets the error as a value.

Values are kept as they are in this process's memory (the whole cache of the memory backend;
in front of Redis, the latest ones): a value just fetched is served from memory, never
encoded and decoded again. Only the shared store (Redis) holds bytes: a value is encoded once,
in the background after the answer, and decoded once per replica; a copy read from it is
decoded only when it is fresh, or when it is served stale. With `ttl_s` 0 nothing is written
to the shared store (no other replica could use it fresh): the copy in memory still serves
stale-if-error, at no cost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from gateway import metrics
from gateway.deadline import Deadline
from gateway.records import Screened, decode_record, encode_record
from gateway.sources.breaker import BreakerSettings, BreakerState, CircuitBreaker
from gateway.sources.cache import (
    CacheEntry,
    CacheKey,
    CacheStore,
    Held,
    MemoryStore,
    RedisStore,
    SealedStore,
)
from gateway.sources.crypto import (
    PURPOSE_SUBJECTS,
    PURPOSE_VALUES,
    CacheCipher,
    derive_key,
    parse_encryption_key,
    random_key,
    subject_hash,
)
from gateway.sources.errors import SourceError, error_from_exception
from gateway.sources.resilience import (
    RetryBudget,
    RetrySettings,
    backoff_delay,
    is_retryable,
)
from gateway.sources.singleflight import SingleFlight
from gateway.telemetry import Span, current_tracer, failed, started

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CIRCUIT_OPEN = "circuit_open"
# Kinds that say the source is unwell; others (404, bad_response, ...) mean it did answer.
_BREAKER_FAILURES = frozenset({"timeout", "connect", "rate_limited"})
PROBE_TIMEOUT_S = 1.5  # a half-open probe's deadline when the source gives no timeout
LOCAL_ITEMS = 4096  # values kept in this process in front of a shared store
# How a load was answered, as its span says (`ehp.cache`).
HIT, MISS, STALE = "hit", "miss", "stale"


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """What a fetch gives: `ok` when `value` may be used (fresh, or a stale copy with `stale`);
    `error` is set whenever the source failed this time, even if a stale copy was served."""

    value: T | None
    ok: bool
    stale: bool
    fetched_at: datetime | None
    error: SourceError | None


@dataclass(frozen=True, slots=True)
class Codec(Generic[T]):
    """How values become cache bytes and back."""

    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


RECORD_CODEC: Codec[Any] = Codec(encode_record, decode_record)


@dataclass(frozen=True, slots=True)
class _Outcome:
    value: Any = None
    fetched_at: datetime | None = None
    error: SourceError | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def finished(value: R) -> asyncio.Future[R]:
    """A future that already holds ``value`` (awaiting it does not suspend)."""
    future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class Fetcher:
    """The cache and resilience layer shared by all source adapters of one gateway process."""

    def __init__(
        self,
        store: CacheStore,
        *,
        subject_secret: bytes,
        max_stale_s: float,
        breaker: BreakerSettings | None = None,
        retry: RetrySettings | None = None,
        namespace: str = "ehp",
        lock_ttl_ms: int = 2000,
        peer_poll_s: float = 0.05,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _utc_now,
        sources: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.max_stale_s = max_stale_s
        self.namespace = namespace
        self.breaker_settings = breaker or BreakerSettings()
        self.retry_settings = retry or RetrySettings()
        self.lock_ttl_ms = lock_ttl_ms
        self.peer_poll_s = peer_poll_s
        self._subject_secret = subject_secret
        self._rng = rng or random.Random()  # jitter, not secrecy
        self._clock = clock
        self._flights: SingleFlight[_Outcome] = SingleFlight()
        self._children: dict[tuple[int, str], Any] = {}
        # Values as they are: the memory backend's store itself, or the latest values in
        # front of a shared store (which holds bytes).
        if isinstance(store, MemoryStore):
            self.local, self.shared = store, None
        else:
            self.local, self.shared = MemoryStore(LOCAL_ITEMS), store
        self._breakers: dict[str, CircuitBreaker] = {}
        self._budgets: dict[str, RetryBudget] = {}
        self._writes: set[asyncio.Task[None]] = set()
        for source in sources:
            self._breaker(source)

    @classmethod
    def create(
        cls,
        backend: str = "memory",
        redis_url: str | None = None,
        encryption_key: bytes | str | None = None,
        max_stale_s: int = 86400,
        max_items: int = 10000,
        breaker: BreakerSettings | None = None,
        retry: RetrySettings | None = None,
        *,
        subject_key: bytes | str | None = None,
        namespace: str = "ehp",
        redis_timeout_s: float = 0.15,
        sources: tuple[str, ...] = (),
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> Fetcher:
        """Build from plain settings (`[cache]` of CONFIG.md; `subject_key` is `cache.key_salt`).

        Redis needs `encryption_key` (health data at rest in a shared store is sealed) and a
        subject key shared by all replicas: `subject_key`, or else one derived from the
        encryption key. A memory cache without either uses a random per-process key.
        """
        master = parse_encryption_key(encryption_key) if encryption_key else None
        if isinstance(subject_key, str):
            subject_key = subject_key.encode("utf-8")
        if subject_key:
            subject_secret = subject_key
        elif master is not None:
            subject_secret = derive_key(master, PURPOSE_SUBJECTS)
        else:
            subject_secret = random_key()
        store: CacheStore
        if backend == "memory":
            store = MemoryStore(max_items)
        elif backend == "redis":
            if not redis_url or master is None:
                raise ValueError("cache.backend 'redis' needs cache.redis_url and encryption_key")
            cipher = CacheCipher(derive_key(master, PURPOSE_VALUES))
            store = SealedStore(RedisStore(redis_url, op_timeout_s=redis_timeout_s), cipher)
        else:
            raise ValueError(f"cache.backend: expected 'memory' or 'redis', got {backend!r}")
        return cls(
            store,
            subject_secret=subject_secret,
            max_stale_s=max_stale_s,
            breaker=breaker,
            retry=retry,
            namespace=namespace,
            sources=sources,
            rng=rng,
            clock=clock,
        )

    def subject_hash(self, *parts: str) -> str:
        """The keyed hash of an IIN or of query parameters (also fit for logs)."""
        return subject_hash(self._subject_secret, *parts)

    def key(self, source: str, kind: str, *parts: str) -> CacheKey:
        """The cache key for `kind` data of `source` about the subject named by `parts`."""
        return CacheKey(source, kind, self.subject_hash(*parts))

    def _counter(self, family: Any, source: str) -> Any:
        """The labelled child of a metric for one source, looked up once (labels() is slow)."""
        child = self._children.get((id(family), source))
        if child is None:
            child = self._children[(id(family), source)] = family.labels(source=source)
        return child

    def breaker_states(self) -> dict[str, str]:
        """Circuit state per source seen so far: "closed", "half_open" or "open"."""
        return {name: breaker.state.value for name, breaker in sorted(self._breakers.items())}

    async def fetch(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[T]],
        *,
        source: str | None = None,
        ttl_s: float,
        deadline: Deadline,
        codec: Codec[T],
        timeout_s: float | None = None,
        idempotent: bool = True,
    ) -> Fetched[T]:
        """Serve `key` from the cache or through `loader`, never raising a source failure;
        a span of its own when tracing is on."""
        source = source or key.source
        tracer = current_tracer()
        if tracer is None:
            return await self._fetch(
                key, loader, source, ttl_s, deadline, codec, timeout_s, idempotent, None
            )
        with started(tracer, f"load {source}", _load_attributes(key)) as span:
            return await self._fetch(
                key, loader, source, ttl_s, deadline, codec, timeout_s, idempotent, span
            )

    async def _fetch(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[T]],
        source: str,
        ttl_s: float,
        deadline: Deadline,
        codec: Codec[T],
        timeout_s: float | None,
        idempotent: bool,
        span: Span | None,
    ) -> Fetched[T]:
        store_key = key.render(self.namespace)
        cached = await self._read(store_key, codec, ttl_s, deadline)
        if isinstance(cached, Held) and cached.age_s(self._clock()) < ttl_s:
            self._counter(metrics.CACHE_HITS, source).inc()
            _note_load(span, HIT, None)
            return Fetched(cached.value, True, False, cached.fetched_at, None)
        self._counter(metrics.CACHE_MISSES, source).inc()

        breaker = self._breaker(source)
        if breaker.rejects_now():
            outcome = _Outcome(error=SourceError(source, CIRCUIT_OPEN, "circuit open"))
        elif breaker.state is BreakerState.HALF_OPEN:
            # The source was just failing: probe it in the background with its own timeout,
            # so no caller (an emergency crew) waits on it; they get the stale copy or
            # circuit_open now, and the next callers the outcome of the probe.
            self._probe(store_key, loader, source, ttl_s, codec, timeout_s, idempotent)
            outcome = _Outcome(error=SourceError(source, CIRCUIT_OPEN, "circuit half-open"))
        else:

            def load() -> Awaitable[_Outcome]:
                return self._load(
                    store_key, loader, source, ttl_s, deadline, codec, timeout_s, idempotent
                )

            if self._leads_alone(store_key, ttl_s):
                # `_call` bounds each attempt and each retry's wait by this deadline: a timer
                # of our own would be one more.
                outcome = await self._flights.do(store_key, load)
            else:  # joining another request's flight, or waiting on the shared store's lock
                try:
                    async with asyncio.timeout(deadline.remaining()):
                        outcome = await self._flights.do(store_key, load)
                except TimeoutError:
                    outcome = _Outcome(error=SourceError(source, "timeout", "request deadline"))
        if outcome.error is None:
            _note_load(span, MISS, None)
            return Fetched(outcome.value, True, False, outcome.fetched_at, None)
        fetched = self._fallback(source, cached, outcome.error)
        _note_load(span, STALE if fetched.stale else MISS, outcome.error.kind)
        return fetched

    def start(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[T]],
        then: Callable[[Fetched[T]], R],
        *,
        source: str | None = None,
        ttl_s: float,
        deadline: Deadline,
        codec: Codec[T],
        timeout_s: float | None = None,
    ) -> asyncio.Future[R]:
        """`fetch` begun now, as a future of ``then(fetched)``.

        Finished at once when memory holds a fresh copy. When this call leads a new flight
        (memory only, or TTL 0; circuit closed; no tracing) the future is completed by a
        callback of the flight: no task of its own per upstream call. Otherwise a task
        running `fetch`.
        """
        ready = self.fresh_now(key, source=source, ttl_s=ttl_s, codec=codec)
        if ready is not None:
            return finished(then(ready))
        source = source or key.source
        store_key = key.render(self.namespace)
        if (
            self._leads_alone(store_key, ttl_s)
            and self._breaker(source).state is BreakerState.CLOSED
            and current_tracer() is None
        ):
            self._counter(metrics.CACHE_MISSES, source).inc()
            stale = self.local.get_now(store_key)  # served if the source fails
            flight = self._flights.start(
                store_key,
                lambda: self._load(
                    store_key, loader, source, ttl_s, deadline, codec, timeout_s, idempotent=True
                ),
            )
            result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
            flight.add_done_callback(
                lambda landed: self._settle(result, landed, source, stale, then)
            )
            return result
        return asyncio.ensure_future(
            self._fetch_then(key, loader, then, source, ttl_s, deadline, codec, timeout_s)
        )

    def _leads_alone(self, store_key: str, ttl_s: float) -> bool:
        """Whether a load of `store_key` now would start a flight with no peer to wait for:
        none in flight here, and no other replica's value or lock to look for (memory only,
        or TTL 0: nothing is shared)."""
        return (self.shared is None or ttl_s <= 0) and store_key not in self._flights

    async def _fetch_then(
        self,
        key: CacheKey,
        loader: Callable[[], Awaitable[T]],
        then: Callable[[Fetched[T]], R],
        source: str,
        ttl_s: float,
        deadline: Deadline,
        codec: Codec[T],
        timeout_s: float | None,
    ) -> R:
        fetched = await self.fetch(
            key,
            loader,
            source=source,
            ttl_s=ttl_s,
            deadline=deadline,
            codec=codec,
            timeout_s=timeout_s,
        )
        return then(fetched)

    def _settle(
        self,
        result: asyncio.Future[R],
        landed: asyncio.Task[_Outcome],
        source: str,
        stale: Held | None,
        then: Callable[[Fetched[Any]], R],
    ) -> None:
        """Complete `start`'s future from its flight, as `_fetch` completes its answer."""
        if result.done():  # the caller gave up on it
            return
        if landed.cancelled():
            result.cancel()
            return
        try:
            outcome = landed.result()
            if outcome.error is None:
                fetched = Fetched(outcome.value, True, False, outcome.fetched_at, None)
            else:
                fetched = self._fallback(source, stale, outcome.error)
            result.set_result(then(fetched))
        except Exception as exc:  # the flight or `then` failed: the caller's await raises it
            result.set_exception(exc)

    def _probe(
        self,
        store_key: str,
        loader: Callable[[], Awaitable[Any]],
        source: str,
        ttl_s: float,
        codec: Codec[Any],
        timeout_s: float | None,
        idempotent: bool,
    ) -> None:
        """Start the half-open probe as a task of its own (tracked like cache writes)."""
        deadline = Deadline.after(timeout_s if timeout_s is not None else PROBE_TIMEOUT_S)
        probe = asyncio.ensure_future(
            self._flights.do(
                store_key,
                lambda: self._load(
                    store_key, loader, source, ttl_s, deadline, codec, timeout_s, idempotent
                ),
            )
        )
        self._writes.add(probe)  # type: ignore[arg-type]
        probe.add_done_callback(self._writes.discard)  # type: ignore[arg-type]

    def _fallback(self, source: str, cached: _Cached, error: SourceError) -> Fetched[Any]:
        """The stale copy if it is young enough (decoded now, if it came as bytes), else the
        error."""
        if cached is not None and cached.age_s(self._clock()) <= self.max_stale_s:
            held = cached if isinstance(cached, Held) else cached.decoded()
            if held is not None:
                metrics.CACHE_STALE_SERVED.labels(source=source).inc()
                return Fetched(held.value, True, True, held.fetched_at, error)
        return Fetched(None, False, False, None, error)

    def fresh_now(
        self, key: CacheKey, *, source: str | None = None, ttl_s: float, codec: Codec[T]
    ) -> Fetched[T] | None:
        """A fresh copy that is at hand without waiting (in this process's memory), else None.

        Lets a warm read skip the task and awaits a `fetch` costs; when the copy is absent
        or old (or only in the shared store), the caller goes through `fetch`.
        """
        held = self.local.get_now(key.render(self.namespace))
        if held is None or held.age_s(self._clock()) >= ttl_s:
            return None
        source = source or key.source
        self._counter(metrics.CACHE_HITS, source).inc()
        tracer = current_tracer()
        if tracer is not None:
            span = tracer.start_span(f"load {source}", attributes=_load_attributes(key))
            _note_load(span, HIT, None)
            span.end()
        return Fetched(held.value, True, False, held.fetched_at, None)

    async def _read(
        self, store_key: str, codec: Codec[Any], ttl_s: float, deadline: Deadline
    ) -> _Cached:
        """The copy in memory if it is fresh; else the newer of it and the shared store's (that
        one decoded when fresh, left as bytes when it can only serve stale); None when there
        is neither (absent, unreadable, store down)."""
        held = self.local.get_now(store_key)
        if (
            self.shared is None
            or ttl_s <= 0
            or (held is not None and held.age_s(self._clock()) < ttl_s)
        ):
            return held  # with TTL 0 nothing is shared (`_load`): the store has no copy to give
        data = await self.shared.get(store_key, deadline.remaining())
        # A flight of this process may have landed while the store answered: its value is in
        # memory now, and the source must not be asked again for it.
        held = self.local.get_now(store_key)
        if held is not None and held.age_s(self._clock()) < ttl_s:
            return held
        if data is None:
            return held
        try:
            stored = _Stored(CacheEntry.stamp(data), data, codec)
        except ValueError:
            metrics.CACHE_REJECTED.labels(reason="undecodable").inc()
            return held
        if stored.age_s(self._clock()) >= ttl_s:  # decoded only if it must be served stale
            return held if held is not None and held.fetched_at >= stored.fetched_at else stored
        fresh = stored.decoded()  # another replica refreshed it
        if fresh is None:
            return held
        self._keep_local(store_key, fresh, ttl_s)
        return fresh

    async def _load(
        self,
        store_key: str,
        loader: Callable[[], Awaitable[Any]],
        source: str,
        ttl_s: float,
        deadline: Deadline,
        codec: Codec[Any],
        timeout_s: float | None,
        idempotent: bool,
    ) -> _Outcome:
        """The flight's work: wait for a peer replica or call the source; then keep a success
        in memory at once, and in the shared store in the background."""
        lock_key = store_key + ":lock"
        token = None
        # Other replicas can use a value only while it is fresh: with ttl_s 0, no lock.
        if self.shared is not None and ttl_s > 0:
            token = await self.shared.acquire_lock(lock_key, self.lock_ttl_ms)
            if token is None:
                peer = await self._await_peer(store_key, codec, ttl_s, deadline)
                if peer is not None:
                    return peer
        outcome = await self._call(source, loader, deadline, timeout_s, idempotent)
        if outcome.error is None and outcome.fetched_at is not None:
            outcome = _Outcome(_immutable(outcome.value), outcome.fetched_at)
            held = Held(outcome.fetched_at, outcome.value)
            self._keep_local(store_key, held, ttl_s)
            if self.shared is not None and ttl_s > 0:
                self._background(self._share(store_key, held, codec, ttl_s, lock_key, token))
                return outcome
        if token is not None:
            self._background(self.shared.release_lock(lock_key, token))  # type: ignore[union-attr]
        return outcome

    def _keep_local(self, store_key: str, held: Held, ttl_s: float) -> None:
        """Keep a value in memory while it may be served: fresh for ttl_s, stale up to
        max_stale_s old."""
        keep_s = max(ttl_s, self.max_stale_s) - held.age_s(self._clock())
        if keep_s > 0:
            self.local.set_now(store_key, held, keep_s)

    async def _share(
        self,
        store_key: str,
        held: Held,
        codec: Codec[Any],
        ttl_s: float,
        lock_key: str,
        token: str | None,
    ) -> None:
        """Encode a value once and write it to the shared store; then release the lock."""
        assert self.shared is not None
        try:
            blob = CacheEntry(held.fetched_at, codec.encode(held.value)).pack()
        except Exception:  # a value the codec cannot write is served, just not shared
            log.exception("cannot encode a value for the shared cache (%s)", store_key)
        else:
            await self.shared.set(store_key, blob, max(ttl_s, self.max_stale_s))
        if token is not None:
            await self.shared.release_lock(lock_key, token)

    def _background(self, work: Awaitable[None]) -> None:
        """Run shared-store work after the answer, tracked so that `flush` can wait for it."""
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _await_peer(
        self, store_key: str, codec: Codec[Any], ttl_s: float, deadline: Deadline
    ) -> _Outcome | None:
        """Poll briefly for the value another replica is fetching; None if it does not come.

        Waits at most half the remaining deadline (and the lock's life), so there is still
        time to call the source ourselves if the other replica fails or dies.
        """
        until = time.monotonic() + min(self.lock_ttl_ms / 1000.0, deadline.remaining() / 2)
        while time.monotonic() + self.peer_poll_s < until:
            await asyncio.sleep(self.peer_poll_s)
            cached = await self._read(store_key, codec, ttl_s, deadline)
            if isinstance(cached, Held) and cached.age_s(self._clock()) < ttl_s:
                return _Outcome(cached.value, cached.fetched_at)
        return None

    async def _call(
        self,
        source: str,
        loader: Callable[[], Awaitable[Any]],
        deadline: Deadline,
        timeout_s: float | None,
        idempotent: bool,
    ) -> _Outcome:
        """Call the loader with deadline, breaker, and budgeted retries.

        The breaker hears one outcome per fetch, after its retries: counting each attempt
        would let a source failing 30 % of attempts trip it though retries serve nearly all.
        """
        breaker = self._breaker(source)
        budget = self._budget(source)
        settings = self.retry_settings
        budget.deposit()
        permit = breaker.acquire()
        if permit is None:
            return _Outcome(error=SourceError(source, CIRCUIT_OPEN, "circuit open"))
        error: SourceError | None = None
        try:
            for attempt in range(settings.max_attempts):
                if attempt:
                    assert error is not None
                    delay = self._retry_delay(source, error, attempt - 1, deadline, budget)
                    if delay is None:
                        break
                    metrics.RETRIES.labels(source=source).inc()
                    await asyncio.sleep(delay)
                limit = deadline.within(timeout_s)
                if limit <= 0:
                    error = error or SourceError(source, "timeout", "request deadline")
                    break
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(limit):
                        value = await loader()
                except TimeoutError:
                    error = SourceError(
                        source, "timeout", f"no answer within {limit * 1000:.0f} ms"
                    )
                except SourceError as exc:
                    error = exc
                except Exception as exc:
                    log.warning("loader for %s raised %s", source, type(exc).__name__)
                    error = error_from_exception(source, exc)
                else:
                    permit.release(True)
                    self._counter(metrics.UPSTREAM_LATENCY, source).observe(
                        time.perf_counter() - started
                    )
                    return _Outcome(value, self._clock())
                self._counter(metrics.UPSTREAM_LATENCY, source).observe(
                    time.perf_counter() - started
                )
                metrics.UPSTREAM_ERRORS.labels(source=source, kind=error.kind).inc()
                if not idempotent or not is_retryable(error.kind):
                    break
        except asyncio.CancelledError:
            permit.release(False)
            raise
        assert error is not None
        permit.release(not (error.kind in _BREAKER_FAILURES or error.kind.startswith("http_5")))
        return _Outcome(error=error)

    def _retry_delay(
        self,
        source: str,
        error: SourceError,
        retry: int,
        deadline: Deadline,
        budget: RetryBudget,
    ) -> float | None:
        """How long to wait before the next try, or None to give up now."""
        settings = self.retry_settings
        retry_after = getattr(error, "retry_after_s", None)
        if error.kind == "rate_limited" and retry_after is not None:
            delay = float(retry_after)  # the source said when; earlier would be refused again
        else:
            delay = backoff_delay(retry, settings, self._rng)
        if delay + settings.min_attempt_s > deadline.remaining():
            return None
        if not budget.try_spend():
            metrics.RETRY_BUDGET_EXHAUSTED.labels(source=source).inc()
            return None
        return delay

    def _breaker(self, source: str) -> CircuitBreaker:
        breaker = self._breakers.get(source)
        if breaker is None:
            breaker = CircuitBreaker(source, self.breaker_settings)
            self._breakers[source] = breaker
        return breaker

    def _budget(self, source: str) -> RetryBudget:
        budget = self._budgets.get(source)
        if budget is None:
            budget = RetryBudget.from_settings(self.retry_settings)
            self._budgets[source] = budget
        return budget

    async def flush(self) -> None:
        """Wait for flights and background cache writes in progress."""
        await self._flights.wait_idle()
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def close(self) -> None:
        """Finish pending work and release the store's connections."""
        await self.flush()
        await self.store.close()


def _immutable(value: Any) -> Any:
    """A value fit to be shared by every reader of the cache: adapters' lists as tuples (the
    records inside are frozen already), as the record codec would read them back."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Screened) and isinstance(value.value, list):
        return Screened(tuple(value.value), value.dropped)
    return value


class _Stored:
    """A copy read from the shared store: its fetch time, its bytes decoded only when used."""

    __slots__ = ("_codec", "_data", "fetched_at")

    def __init__(self, fetched_at: datetime, data: bytes, codec: Codec[Any]) -> None:
        self.fetched_at = fetched_at
        self._data = data
        self._codec = codec

    def age_s(self, now: datetime) -> float:
        """Seconds since the value was fetched."""
        return (now - self.fetched_at).total_seconds()

    def decoded(self) -> Held | None:
        """The value, or None when the bytes cannot be decoded (an older format: refetch)."""
        try:
            return Held(self.fetched_at, self._codec.decode(CacheEntry.unpack(self._data).payload))
        except Exception:
            metrics.CACHE_REJECTED.labels(reason="undecodable").inc()
            return None


_Cached = Held | _Stored | None


def _load_attributes(key: CacheKey) -> dict[str, str]:
    """What a load's span says of it: the source and the item's family ("ehr", "patient",
    "care"...; the rest of a kind may hold a BIN or a digest, and the subject is never told)."""
    return {"ehp.source": key.source, "ehp.source.item": key.kind.split("-")[0]}


def _note_load(span: Span | None, cache: str, error_kind: str | None) -> None:
    """Say on a load's span how the cache answered and how the source did."""
    if span is None:
        return
    span.set_attribute("ehp.cache", cache)
    span.set_attribute("ehp.source.outcome", error_kind or "ok")
    if error_kind is not None:
        failed(span, error_kind)


__all__ = [
    "RECORD_CODEC",
    "BreakerSettings",
    "BreakerState",
    "CacheKey",
    "Codec",
    "Fetched",
    "Fetcher",
    "RetrySettings",
]
