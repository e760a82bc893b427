"""Cache keys, cache entries and the stores behind them: bounded memory, Redis, sealed Redis.

The memory store holds values as they are (``Held``: no encoding, nothing to decode); the
shared stores hold opaque bytes (``CacheEntry``) under string keys with an expiry. The
memory store is our own
OrderedDict LRU rather than aiocache's SimpleMemoryCache: that one has no size bound and
schedules a loop timer per key, and bounding it would need a second recency index mirroring
its private dict; an OrderedDict gives O(1) LRU and lazy expiry in a few lines. The Redis store
uses aiocache's RedisCache (over `redis.asyncio`) with short socket and operation timeouts, and
degrades to "no shared cache" while Redis is unreachable: it logs once, counts a metric and
answers like an empty cache, so a Redis outage never becomes an error for the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import redis.exceptions
from aiocache import RedisCache
from aiocache.serializers import NullSerializer

from gateway import metrics
from gateway.sources.crypto import CacheCipher, CacheTampered

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HASH = re.compile(r"[0-9a-f]{32,128}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STAMP_BYTES = 8


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What a cached value is: source system, kind of data, and a keyed hash of the subject."""

    source: str
    kind: str
    subject_hash: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.source) or not _NAME.fullmatch(self.kind):
            raise ValueError("cache key source and kind must be short plain names")
        # Lower-case hex only: an IIN (12 digits) or any clear identifier cannot slip in.
        if not _HASH.fullmatch(self.subject_hash):
            raise ValueError("cache key subject must be a keyed hash (hex), never an identifier")

    def render(self, namespace: str) -> str:
        """The store key, e.g. `ehp:v1:lis:orders:3f1c...`."""
        return f"{namespace}:v1:{self.source}:{self.kind}:{self.subject_hash}"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A value as stored: when it was fetched from the source, and its encoded bytes."""

    fetched_at: datetime
    payload: bytes

    def pack(self) -> bytes:
        """Bytes for the store: 8-byte microsecond timestamp, then the payload."""
        micros = (self.fetched_at - _EPOCH) // timedelta(microseconds=1)
        return micros.to_bytes(_STAMP_BYTES, "big", signed=True) + self.payload

    @classmethod
    def unpack(cls, data: bytes) -> CacheEntry:
        """Read an entry written by `pack`; ValueError if it is too short."""
        return cls(cls.stamp(data), data[_STAMP_BYTES:])

    @staticmethod
    def stamp(data: bytes) -> datetime:
        """When the value of packed bytes was fetched, without copying the payload."""
        if len(data) < _STAMP_BYTES:
            raise ValueError("cache entry too short")
        micros = int.from_bytes(data[:_STAMP_BYTES], "big", signed=True)
        return _EPOCH + timedelta(microseconds=micros)

    def age_s(self, now: datetime) -> float:
        """Seconds since the value was fetched."""
        return (now - self.fetched_at).total_seconds()


@dataclass(frozen=True, slots=True)
class Held:
    """A value as the memory store keeps it: when it was fetched, and the value itself."""

    fetched_at: datetime
    value: Any

    def age_s(self, now: datetime) -> float:
        """Seconds since the value was fetched."""
        return (now - self.fetched_at).total_seconds()


class CacheStore(Protocol):
    """Bytes under string keys, with expiry, plus a short lock for single-flight across replicas."""

    shared: bool  # True when other processes read and write the same store

    async def get(self, key: str, timeout_s: float | None = None) -> bytes | None:
        """The bytes under `key`, or None (absent, expired, or store unreachable)."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` under `key` for `ttl_s` seconds; failures are swallowed."""
        ...

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """A token when this caller should fetch; None when another replica already is."""
        ...

    async def release_lock(self, key: str, token: str) -> None:
        """Release a lock taken with `acquire_lock` if it is still ours."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryStore:
    """Process-local store of any values (bytes under ``SealedStore``, ``Held`` values under
    the fetcher), bounded to `max_items` with least-recently-used eviction."""

    shared = False

    def __init__(self, max_items: int) -> None:
        if max_items < 1:
            raise ValueError("cache.max_items must be at least 1")
        self.max_items = max_items
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str, timeout_s: float | None = None) -> Any:
        """The value under `key` if present and not expired; marks it recently used."""
        return self.get_now(key)

    def get_now(self, key: str) -> Any:
        """`get` without awaiting: the store is this process's memory."""
        item = self._items.get(key)
        if item is None:
            return None
        expires_at, value = item
        if expires_at <= time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: Any, ttl_s: float) -> None:
        """Store and mark recently used; evict the least recently used beyond the bound."""
        self.set_now(key, value, ttl_s)

    def set_now(self, key: str, value: Any, ttl_s: float) -> None:
        """`set` without awaiting."""
        self._items[key] = (time.monotonic() + ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """Always granted: within one process the single-flight map already dedupes."""
        return "local"

    async def release_lock(self, key: str, token: str) -> None:
        """Nothing to release."""

    async def close(self) -> None:
        """Drop everything."""
        self._items.clear()


class RedisStore:
    """Shared store in Redis through aiocache, with bounded operations and graceful degradation."""

    shared = True
    _RELEASE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0"
    )
    _UNREACHABLE = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)

    def __init__(self, url: str, op_timeout_s: float = 0.15, retry_after_s: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"redis", "rediss"}:
            raise ValueError("cache.redis_url must start with redis:// or rediss://")
        db = (parts.path or "/0").strip("/") or "0"
        pool_kwargs: dict[str, object] = {"socket_timeout": op_timeout_s}
        if parts.username:
            pool_kwargs["username"] = unquote(parts.username)
        self.op_timeout_s = op_timeout_s
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self._degraded = False
        self._cache = RedisCache(
            serializer=NullSerializer(encoding=None),  # bytes in, bytes out
            endpoint=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(db),
            password=unquote(parts.password) if parts.password else None,
            ssl=parts.scheme == "rediss",
            timeout=op_timeout_s,
            create_connection_timeout=op_timeout_s,
            connection_pool_kwargs=pool_kwargs,
        )

    @property
    def degraded(self) -> bool:
        """True while Redis is treated as unreachable."""
        return self._degraded

    def _skip(self, operation: str, timeout_s: float | None) -> float | None:
        """The timeout for an operation, or None when it must be skipped."""
        if self._degraded and time.monotonic() < self._down_until:
            metrics.REDIS_DEGRADED.labels(operation=operation).inc()
            return None
        limit = self.op_timeout_s if timeout_s is None else min(self.op_timeout_s, timeout_s)
        # aiocache reads a timeout of 0 as "no timeout": never hand it one.
        return limit if limit > 0.001 else None

    def _failed(self, operation: str, exc: BaseException) -> None:
        metrics.REDIS_DEGRADED.labels(operation=operation).inc()
        self._down_until = time.monotonic() + self.retry_after_s
        if not self._degraded:
            self._degraded = True
            log.warning(
                "shared cache unreachable (%s: %s); serving without it",
                type(exc).__name__,
                exc,
            )

    def _succeeded(self) -> None:
        if self._degraded:
            self._degraded = False
            log.warning("shared cache reachable again")

    async def get(self, key: str, timeout_s: float | None = None) -> bytes | None:
        """The bytes under `key`, or None when absent or Redis is unreachable."""
        limit = self._skip("get", timeout_s)
        if limit is None:
            return None
        try:
            value = await self._cache.get(key, timeout=limit)
        except self._UNREACHABLE as exc:
            self._failed("get", exc)
            return None
        self._succeeded()
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """SET with PX expiry; skipped while Redis is unreachable."""
        limit = self._skip("set", None)
        if limit is None:
            return
        try:
            await self._cache.set(key, value, ttl=float(ttl_s), timeout=limit)
        except self._UNREACHABLE as exc:
            self._failed("set", exc)
            return
        self._succeeded()

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """`SET key token NX PX ttl_ms`; a token when taken or when Redis is unreachable."""
        token = secrets.token_hex(8)
        limit = self._skip("lock", None)
        if limit is None:
            return token  # no shared lock to be had: fetch ourselves
        try:
            await self._cache.add(key, token, ttl=ttl_ms / 1000.0, timeout=limit)
        except ValueError:
            return None  # another replica holds it
        except self._UNREACHABLE as exc:
            self._failed("lock", exc)
            return token
        self._succeeded()
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """Delete the lock only if it still holds our token (it may have expired and moved on)."""
        limit = self._skip("unlock", None)
        if limit is None:
            return
        try:
            await self._cache.raw("eval", self._RELEASE, 1, key, token, timeout=limit)
        except self._UNREACHABLE as exc:
            self._failed("unlock", exc)

    async def close(self) -> None:
        """Close the connection pool."""
        # The client itself, not aiocache's close(), which calls redis-py's deprecated close().
        with contextlib.suppress(*self._UNREACHABLE):
            await self._cache.client.aclose()


class SealedStore:
    """Wraps a store so values are AES-GCM sealed to their key; bad ciphertext reads as a miss."""

    def __init__(self, inner: CacheStore, cipher: CacheCipher) -> None:
        self.inner = inner
        self.shared = inner.shared
        self._cipher = cipher

    async def get(self, key: str, timeout_s: float | None = None) -> bytes | None:
        """Open the sealed value; None when absent or when it does not verify for this key."""
        sealed = await self.inner.get(key, timeout_s)
        if sealed is None:
            return None
        try:
            return self._cipher.open(key, sealed)
        except CacheTampered:
            metrics.CACHE_REJECTED.labels(reason="unauthenticated").inc()
            log.warning("cached value under %s failed authentication; ignored", key)
            return None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Seal and store."""
        await self.inner.set(key, self._cipher.seal(key, value), ttl_s)

    async def acquire_lock(self, key: str, ttl_ms: int) -> str | None:
        """Delegate to the inner store."""
        return await self.inner.acquire_lock(key, ttl_ms)

    async def release_lock(self, key: str, token: str) -> None:
        """Delegate to the inner store."""
        await self.inner.release_lock(key, token)

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()
