"""The distinct-patients ceiling: how many people one nurse or doctor reads in a day outside a
care relationship (ACCESS.md "Limits").

A clinician's break-glass passport reads and ``emergency`` reads (neither proves a care
relationship) are counted per principal (the token's ``sub``) and local day (Kazakhstan's
midnight to midnight; ``patients_window_s`` shortens it for tests) as a set of keyed patient
hashes, never IINs. A patient already read that day is read again freely; a new one past
the ceiling is refused with RATE_LIMITED, logged as a privacy-officer alert and counted in
``ehp_patient_ceiling_reached_total``. The sets live in memory or in the ``[cache]`` Redis,
where one Lua script checks and adds atomically, so replicas share one count.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import redis.asyncio as redis

from gateway import metrics
from gateway.auth.principal import Principal
from gateway.clock import KAZAKHSTAN
from gateway.config import LimitsSettings, LimitsStorage
from gateway.errors import RateLimited

log = logging.getLogger("gateway.privacy")
KEY_PREFIX = "ehp:limits:patients"
REDIS_TIMEOUT_S = 0.2
MAX_MEMORY_SETS = 10_000
# SISMEMBER, then SCARD against the ceiling, then SADD: one step for every replica.
_ADMIT_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class PatientSets(Protocol):
    """Where each clinician's patients of the day are kept."""

    async def admit(self, key: str, patient: str, ceiling: int, ttl_s: int) -> bool:
        """Add ``patient`` to set ``key`` unless it holds ``ceiling`` others; False if full."""

    async def close(self) -> None:
        """Release connections."""


class MemoryPatientSets:
    """The sets of this process (one replica), dropped when their day is over."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sets: dict[str, tuple[float, set[str]]] = {}
        self._clock = clock

    async def admit(self, key: str, patient: str, ceiling: int, ttl_s: int) -> bool:
        """Add ``patient`` to set ``key`` unless it holds ``ceiling`` others; False if full."""
        now = self._clock()
        if len(self._sets) > MAX_MEMORY_SETS:  # now and then, forget the days that are over
            self._sets = {k: v for k, v in self._sets.items() if v[0] > now}
        expires, members = self._sets.get(key, (now + ttl_s, set()))
        if expires <= now:
            expires, members = now + ttl_s, set()
        if patient not in members:
            if len(members) >= ceiling:
                return False
            members.add(patient)
        self._sets[key] = (expires, members)
        return True

    async def close(self) -> None:
        """Nothing to release."""


class RedisPatientSets:
    """The sets in Redis, shared by every replica."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self.script = self.client.register_script(_ADMIT_SCRIPT)

    async def admit(self, key: str, patient: str, ceiling: int, ttl_s: int) -> bool:
        """Add ``patient`` to set ``key`` unless it holds ``ceiling`` others; False if full."""
        return bool(await self.script(keys=[key], args=[patient, ceiling, ttl_s]))

    async def close(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()


class PatientCeiling:
    """The ceiling of ``[limits] distinct_patients_per_day`` for nurses and doctors."""

    def __init__(
        self,
        sets: PatientSets,
        ceiling: int,
        secret: bytes,
        window_s: int = 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sets = sets
        self.ceiling = ceiling
        self.window_s = window_s
        self._secret = secret
        self._clock = clock

    @classmethod
    def open(
        cls, settings: LimitsSettings, redis_url: str | None, secret: bytes
    ) -> PatientCeiling | None:
        """The ceiling of ``[limits]``; ``secret`` keys the patient hashes (the same on every
        replica: the audit's patient key). None when it is off (0)."""
        if settings.distinct_patients_per_day == 0:
            return None
        sets: PatientSets
        if settings.storage is LimitsStorage.REDIS:
            assert redis_url is not None  # config checked it
            sets = RedisPatientSets(redis_url)
        else:
            sets = MemoryPatientSets()
        return cls(sets, settings.distinct_patients_per_day, secret, settings.patients_window_s)

    async def admit(self, principal: Principal, iin: str) -> None:
        """Count ``iin`` among the clinician's patients of the day; RateLimited past the
        ceiling (a patient already counted today is always admitted)."""
        window, left_s = self._window()
        who = self._hash("sub", principal.subject)
        key = f"{KEY_PREFIX}:{who}:{window}"
        try:
            admitted = await self.sets.admit(key, self._hash("iin", iin), self.ceiling, left_s)
        except (redis.RedisError, OSError):
            metrics.LIMITS_DEGRADED.labels(limit="distinct_patients").inc()
            log.warning("distinct-patient ceiling unavailable; read let through")
            return
        if admitted:
            return
        metrics.PATIENT_CEILING_REACHED.labels(role=principal.role.value).inc()
        log.warning(
            "privacy-officer alert: %s %s of organisation %s reached the ceiling of %d distinct "
            "patients outside a care relationship this day; a read of another was refused",
            principal.role.value.lower(),
            principal.practitioner_id or "(no practitioner id)",
            principal.org_bin or "(none)",
            self.ceiling,
        )
        raise RateLimited(
            "the ceiling of {ceiling} patients a day outside a care relationship is reached",
            left_s,
            ceiling=self.ceiling,
        )

    def _window(self) -> tuple[int, int]:
        """The current window's number (local days by default) and its seconds left."""
        now = self._clock()
        offset = datetime.fromtimestamp(now, UTC).astimezone(KAZAKHSTAN).utcoffset()
        local = now + (offset.total_seconds() if offset is not None else 0)
        window = int(local // self.window_s)
        return window, max(1, math.ceil((window + 1) * self.window_s - local))

    def _hash(self, purpose: str, value: str) -> str:
        message = f"{purpose}|{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    async def close(self) -> None:
        """Release the sets' connections."""
        await self.sets.close()
