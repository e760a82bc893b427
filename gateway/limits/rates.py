"""Request rate and burst per principal and per client address (ACCESS.md "Limits").

Two moving windows per caller, counted by the ``limits`` package in memory or in the
``[cache]`` Redis (so replicas share the counts): at most ``burst`` requests in any one
second, and at most ``requests_per_minute`` in any minute (``rate_window_s`` shortens the
window for tests, the count scaled with it). The burst window is tried first, so a flood is
cut within the second; a refusal says when the oldest request counted leaves the window
(``Retry-After``). When the shared store does not answer, the request is let through and
counted in ``ehp_limits_degraded_total``: a Redis outage must not stop the gateway.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from gateway import metrics
from gateway.config import LimitsSettings, LimitsStorage
from gateway.errors import RateLimited

log = logging.getLogger(__name__)
BURST_WINDOW_S = 1
KEY_PREFIX = "ehp:limits"
REDIS_TIMEOUT_S = 0.2  # a limit check must not hold a request up when Redis is slow
PRINCIPAL, ADDRESS = "principal", "address"


class RequestRates:
    """The rate and burst limits of every caller, checked once per request and key."""

    def __init__(
        self,
        storage: Storage,
        requests_per_minute: int,
        burst: int,
        window_s: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        per_window = max(1, round(requests_per_minute * window_s / 60))
        windows = (
            ("burst", burst, RateLimitItemPerSecond(burst, BURST_WINDOW_S, namespace=KEY_PREFIX)),
            ("rate", requests_per_minute, RateLimitItemPerSecond(per_window, window_s, KEY_PREFIX)),
        )
        # A limit set to 0 is off (tests and benchmarks of other things).
        self.windows: tuple[tuple[str, RateLimitItem], ...] = tuple(
            (name, item) for name, setting, item in windows if setting > 0
        )
        self.clock = clock

    @classmethod
    def open(cls, settings: LimitsSettings, redis_url: str | None) -> RequestRates | None:
        """The limits of ``[limits]``, stored as ``storage`` says (Redis: the cache's); None
        when both are off (0)."""
        if settings.requests_per_minute == 0 and settings.burst == 0:
            return None
        storage: Storage
        if settings.storage is LimitsStorage.REDIS:
            assert redis_url is not None  # config checked it
            storage = RedisStorage(
                "async+" + redis_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        else:
            storage = MemoryStorage()
        return cls(storage, settings.requests_per_minute, settings.burst, settings.rate_window_s)

    async def admit(self, kind: str, caller: str) -> None:
        """Count one request of ``caller`` (a principal's ``sub`` or a client address);
        RateLimited when one of its windows is full."""
        for window, item in self.windows:
            name = f"{kind}_{window}"
            try:
                if await self.limiter.hit(item, kind, caller):
                    continue
                stats = await self.limiter.get_window_stats(item, kind, caller)
            except StorageError:
                metrics.LIMITS_DEGRADED.labels(limit=name).inc()
                log.warning("rate limits unavailable (%s); request let through", name)
                return
            metrics.RATE_LIMITED.labels(limit=name).inc()
            wait = max(1, math.ceil(stats.reset_time - self.clock()))
            raise RateLimited(
                "too many requests ({window} of the {kind}); retry later",
                wait,
                window=window,
                kind=kind,
            )

    async def close(self) -> None:
        """Release the store's connections."""
        if isinstance(self.storage, RedisStorage):
            await self.storage.bridge.storage.aclose()  # the redis.asyncio client
