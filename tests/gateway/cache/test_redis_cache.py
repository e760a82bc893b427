"""The shared cache on the real Redis at 127.0.0.1:6379: sharing, sealing, locks, outages."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis_asyncio

from gateway import metrics
from gateway.deadline import Deadline
from gateway.sources.errors import SourceError
from gateway.sources.fetcher import RECORD_CODEC, Fetcher
from gateway.sources.resilience import RetrySettings
from tests.servers import free_port

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"
IIN = "900101300123"
MARKER = "PLAINTEXT-MARKER-7f3a"


class Loader:
    """A source stand-in that counts its calls."""

    def __init__(self, value: object, delay_s: float = 0.0) -> None:
        self.value = value
        self.delay_s = delay_s
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """A key namespace used by this test alone, deleted afterwards."""
    name = f"ehptest-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{name}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def secrets_pair() -> tuple[str, str]:
    """An encryption key (base64) and a key salt shared by the replicas of one test."""
    return base64.b64encode(os.urandom(32)).decode(), os.urandom(16).hex()


def replica(
    namespace: str,
    secrets_pair: tuple[str, str],
    url: str = REDIS_URL,
    clock: Callable[[], datetime] | None = None,
) -> Fetcher:
    encryption_key, salt = secrets_pair
    return Fetcher.create(
        backend="redis",
        redis_url=url,
        encryption_key=encryption_key,
        max_stale_s=3600,
        subject_key=salt,
        namespace=namespace,
        retry=RetrySettings(max_attempts=1),
        **({"clock": clock} if clock is not None else {}),
    )


async def fetch(
    fetcher: Fetcher,
    loader: Loader,
    subject: str = IIN,
    deadline_s: float = 2.0,
    ttl_s: float = 300,
):
    return await fetcher.fetch(
        fetcher.key("lis", "orders", subject),
        loader,
        ttl_s=ttl_s,
        deadline=Deadline.after(deadline_s),
        codec=RECORD_CODEC,
    )


async def scan(namespace: str) -> dict[bytes, bytes]:
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        found = {}
        async for key in client.scan_iter(match=f"{namespace}:*"):
            value = await client.get(key)
            if value is not None:
                found[key] = value
        return found
    finally:
        await client.aclose()


async def test_value_fetched_by_one_replica_is_a_hit_in_another(namespace, secrets_pair) -> None:
    one, two = replica(namespace, secrets_pair), replica(namespace, secrets_pair)
    try:
        first_loader, second_loader = Loader({"glucose": "5.4"}), Loader({"glucose": "9.9"})
        first = await fetch(one, first_loader)
        await one.flush()  # the shared write happens after the answer
        second = await fetch(two, second_loader)
        assert first_loader.calls == 1 and second_loader.calls == 0
        assert second.ok and not second.stale and second.value == {"glucose": "5.4"}
        assert second.fetched_at == first.fetched_at
    finally:
        await one.close()
        await two.close()


async def test_redis_holds_no_plaintext_and_no_iin(namespace, secrets_pair) -> None:
    fetcher = replica(namespace, secrets_pair)
    try:
        await fetch(fetcher, Loader({"note": MARKER, "iin": IIN}))
        await fetcher.flush()
    finally:
        await fetcher.close()
    stored = await scan(namespace)
    assert len(stored) == 1
    for key, value in stored.items():
        assert IIN.encode() not in key
        assert MARKER.encode() not in value and IIN.encode() not in value


async def test_moved_or_tampered_ciphertext_in_redis_is_a_miss(namespace, secrets_pair) -> None:
    fetcher = replica(namespace, secrets_pair)
    reader = replica(namespace, secrets_pair)  # another replica: nothing of its own in memory
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        await fetch(fetcher, Loader("A's results"), subject="A")
        await fetch(fetcher, Loader("B's results"), subject="B")
        await fetcher.flush()
        key_a = fetcher.key("lis", "orders", "A").render(namespace)
        key_b = fetcher.key("lis", "orders", "B").render(namespace)
        sealed_a = await client.get(key_a)
        assert sealed_a is not None
        await client.set(key_b, sealed_a, px=60_000)
        reload_b = Loader("B's results")
        moved = await fetch(reader, reload_b, subject="B")
        assert moved.value == "B's results" and reload_b.calls == 1
        await client.set(key_a, sealed_a[:-1] + bytes([sealed_a[-1] ^ 1]), px=60_000)
        reload_a = Loader("A's results")
        tampered = await fetch(reader, reload_a, subject="A")
        assert tampered.value == "A's results" and reload_a.calls == 1
    finally:
        await client.aclose()
        await fetcher.close()
        await reader.close()


async def test_replicas_fetching_at_once_call_the_source_once(namespace, secrets_pair) -> None:
    one, two = replica(namespace, secrets_pair), replica(namespace, secrets_pair)
    try:
        loader = Loader({"orders": 2}, delay_s=0.1)
        first, second = await asyncio.gather(fetch(one, loader), fetch(two, loader))
        assert loader.calls == 1  # the other replica waited for the value in Redis
        assert first.value == second.value == {"orders": 2}
        assert second.fetched_at == first.fetched_at
    finally:
        await one.close()
        await two.close()


async def test_a_replica_takes_a_fresher_copy_from_redis_over_its_own_stale_one(
    namespace, secrets_pair
) -> None:
    start = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    clocks = {"a": start, "b": start}

    def at(name: str) -> Fetcher:
        return replica(namespace, secrets_pair, clock=lambda: clocks[name])

    one, two = at("a"), at("b")
    try:
        await fetch(one, Loader("morning"))
        await one.flush()
        clocks["a"] = clocks["b"] = start + timedelta(seconds=400)  # past the 300 s ttl
        await fetch(two, Loader("noon"))  # replica b refreshes the shared copy
        await two.flush()
        untouched = Loader("evening")
        served = await fetch(one, untouched)  # a's own copy is stale, Redis has b's
        assert untouched.calls == 0
        assert served.value == "noon" and not served.stale
    finally:
        await one.close()
        await two.close()


async def test_with_ttl_zero_nothing_is_shared_and_no_replica_waits(
    namespace, secrets_pair
) -> None:
    one, two = replica(namespace, secrets_pair), replica(namespace, secrets_pair)
    try:
        loader = Loader({"orders": 2}, delay_s=0.2)
        started = time.monotonic()
        await asyncio.gather(fetch(one, loader, ttl_s=0), fetch(two, loader, ttl_s=0))
        elapsed = time.monotonic() - started
        await one.flush()
        await two.flush()
        assert loader.calls == 2  # neither could use the other's value: it is never fresh
        assert elapsed < 0.35  # so neither waited for the other's lock (min 2 s, deadline/2)
        assert await scan(namespace) == {}  # nothing encoded, nothing written, no lock left
    finally:
        await one.close()
        await two.close()


async def test_stale_copy_from_redis_is_served_when_the_source_fails(
    namespace, secrets_pair
) -> None:
    one = replica(namespace, secrets_pair)
    try:
        original = await fetch(one, Loader("cached"))
        await one.flush()
    finally:
        await one.close()
    later = replica(
        namespace, secrets_pair, clock=lambda: original.fetched_at + timedelta(seconds=600)
    )
    try:
        served = await fetch(later, Loader(SourceError("lis", "connect", "refused")))
        assert served.ok and served.stale and served.value == "cached"
        assert served.fetched_at == original.fetched_at
    finally:
        await later.close()


async def test_redis_down_degrades_to_the_source(namespace, secrets_pair) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    fetcher = replica(namespace, secrets_pair, url=closed)
    degraded_before = (
        metrics.REGISTRY.get_sample_value("ehp_cache_redis_degraded_total", {"operation": "get"})
        or 0.0
    )
    try:
        loader = Loader({"dispensations": 1})
        first = await fetch(fetcher, loader)
        second = await fetch(fetcher, loader, subject="another person")
        again = await fetch(fetcher, loader)  # this process kept the first value
        await fetcher.flush()
        assert first.ok and second.ok and first.value == {"dispensations": 1}
        assert again.ok and again.value == first.value
        assert loader.calls == 2  # no shared cache to hit, and no error for the caller
        degraded_after = metrics.REGISTRY.get_sample_value(
            "ehp_cache_redis_degraded_total", {"operation": "get"}
        )
        assert degraded_after is not None and degraded_after > degraded_before
    finally:
        await fetcher.close()


async def test_redis_that_never_answers_costs_one_short_timeout(namespace, secrets_pair) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # accept, then never answer a command

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fetcher = replica(namespace, secrets_pair, url=f"redis://127.0.0.1:{port}/0")
    try:
        loader = Loader("from the source")
        first = await fetch(fetcher, loader, deadline_s=1.0)
        second = await fetch(fetcher, loader, subject="another person", deadline_s=1.0)
        assert first.ok and second.ok and loader.calls == 2
        assert connections  # the store really tried this Redis and gave up on it
    finally:
        await fetcher.close()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
