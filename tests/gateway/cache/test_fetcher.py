"""The fetch path end to end on the memory store: freshness, stale-if-error, single-flight,
budgeted retries, Retry-After, deadlines and the circuit breaker."""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

from gateway import metrics
from gateway.deadline import Deadline
from gateway.sources.breaker import BreakerSettings
from gateway.sources.cache import MemoryStore, SealedStore
from gateway.sources.crypto import CacheCipher
from gateway.sources.errors import SourceError
from gateway.sources.fetcher import RECORD_CODEC, Codec, Fetcher
from gateway.sources.resilience import RetrySettings

IIN = "900101300123"
FAST_RETRY = RetrySettings(base_s=0.001, cap_s=0.005)
NO_BREAKER = BreakerSettings(failure_threshold=10**6, min_calls=10**6)


class Clock:
    """Wall clock for cache ages that the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Loader:
    """A source stand-in: answers from a script of values and errors, counting calls."""

    def __init__(self, *script: object, delay_s: float = 0.0) -> None:
        self.script = list(script)
        self.calls = 0
        self.delay_s = delay_s

    async def __call__(self) -> object:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        step = self.script[min(self.calls, len(self.script)) - 1]
        if isinstance(step, BaseException):
            raise step
        return step


def make(clock: Clock | None = None, **kwargs: object) -> Fetcher:
    options: dict[str, object] = {"max_stale_s": 3600, "retry": FAST_RETRY, "rng": random.Random(3)}
    options.update(kwargs)
    return Fetcher.create(clock=clock or Clock(), **options)  # type: ignore[arg-type]


def sample(name: str, source: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"source": source, **labels}) or 0.0


async def fetch(
    fetcher: Fetcher,
    loader: Loader,
    *,
    subject: str = IIN,
    source: str = "lis",
    ttl_s: float = 300,
    deadline_s: float = 2.0,
    **kwargs: object,
):
    key = fetcher.key(source, "orders", subject)
    return await fetcher.fetch(
        key,
        loader,
        ttl_s=ttl_s,
        deadline=Deadline.after(deadline_s),
        codec=RECORD_CODEC,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_fresh_hit_makes_no_upstream_call() -> None:
    clock = Clock()
    fetcher = make(clock)
    loader = Loader({"glucose": "5.4"})
    first = await fetch(fetcher, loader)
    hits_before = sample("ehp_cache_hits_total", "lis")
    clock.advance(299)
    second = await fetch(fetcher, loader)
    assert loader.calls == 1
    assert first.ok and not first.stale and first.value == {"glucose": "5.4"}
    assert second.ok and not second.stale and second.value == {"glucose": "5.4"}
    assert second.fetched_at == first.fetched_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert sample("ehp_cache_hits_total", "lis") == hits_before + 1


async def test_expired_entry_is_fetched_again() -> None:
    clock = Clock()
    fetcher = make(clock)
    loader = Loader("first", "second")
    assert (await fetch(fetcher, loader)).value == "first"
    clock.advance(300)
    again = await fetch(fetcher, loader)
    assert loader.calls == 2
    assert again.value == "second" and not again.stale
    assert again.fetched_at == datetime(2026, 11, 25, 9, 5, tzinfo=UTC)


async def test_an_error_is_never_cached() -> None:
    fetcher = make()
    loader = Loader(SourceError("lis", "http_404", "PATIENT_NOT_FOUND"), "found")
    failed = await fetch(fetcher, loader)
    assert not failed.ok and failed.value is None and failed.error is not None
    assert failed.error.kind == "http_404"
    assert loader.calls == 1  # a 404 is an answer, not a reason to retry
    assert len(fetcher.store) == 0  # type: ignore[arg-type]
    ok = await fetch(fetcher, loader)
    assert ok.ok and ok.value == "found" and loader.calls == 2


async def test_stale_copy_is_served_when_the_source_fails() -> None:
    clock = Clock()
    fetcher = make(clock, retry=RetrySettings(max_attempts=1))
    original = await fetch(fetcher, Loader(["allergy: penicillin"]))
    clock.advance(1800)
    stale_before = sample("ehp_cache_stale_served_total", "lis")
    failing = Loader(SourceError("lis", "connect", "refused"))
    served = await fetch(fetcher, failing)
    assert failing.calls == 1
    assert served.ok and served.stale
    assert served.value == ("allergy: penicillin",)  # the record codec reads lists back as tuples
    assert served.fetched_at == original.fetched_at
    assert served.error is not None and served.error.kind == "connect"
    assert sample("ehp_cache_stale_served_total", "lis") == stale_before + 1


async def test_copy_older_than_max_stale_is_not_served() -> None:
    clock = Clock()
    fetcher = make(clock, retry=RetrySettings(max_attempts=1))
    await fetch(fetcher, Loader("old"))
    clock.advance(3601)
    served = await fetch(fetcher, Loader(SourceError("lis", "http_503", "")))
    assert not served.ok and not served.stale
    assert served.value is None and served.fetched_at is None
    assert served.error is not None and served.error.kind == "http_503"


async def test_fifty_concurrent_fetches_make_one_upstream_call() -> None:
    fetcher = make()
    loader = Loader({"orders": 3}, delay_s=0.03)
    results = await asyncio.gather(*(fetch(fetcher, loader) for _ in range(50)))
    assert loader.calls == 1
    assert all(r.ok and r.value == {"orders": 3} for r in results)
    assert len({r.fetched_at for r in results}) == 1


async def test_retries_recover_a_flaky_source() -> None:
    fetcher = make(
        retry=RetrySettings(base_s=0.001, cap_s=0.005, budget_floor=1000), breaker=NO_BREAKER
    )
    rng = random.Random(42)
    first_attempt_ok = 0

    def flaky(n: int) -> Loader:
        nonlocal first_attempt_ok
        outcomes = [rng.random() >= 0.3 for _ in range(3)]
        first_attempt_ok += outcomes[0]
        return Loader(*(n if ok else SourceError("lis", "http_503", "") for ok in outcomes))

    loaders = [flaky(n) for n in range(200)]
    results = [await fetch(fetcher, loaders[n], subject=f"subject-{n}") for n in range(200)]
    recovered = sum(r.ok for r in results)
    # Without retries only the first attempts would count (about 70%).
    assert first_attempt_ok < 160
    assert recovered >= 190
    assert all(r.value == n for n, r in enumerate(results) if r.ok)


async def test_retry_budget_caps_extra_calls_to_a_failing_source() -> None:
    source = "budgeted"
    fetcher = make(
        retry=RetrySettings(
            max_attempts=3, base_s=0.001, cap_s=0.002, budget_ratio=0.2, budget_floor=5
        ),
        breaker=NO_BREAKER,
    )
    retries_before = sample("ehp_upstream_retries_total", source)
    exhausted_before = sample("ehp_retry_budget_exhausted_total", source)
    loader = Loader(SourceError(source, "timeout", "slow"))
    for n in range(100):
        result = await fetch(fetcher, loader, subject=f"s{n}", source=source)
        assert not result.ok
    extra = loader.calls - 100
    assert extra > 0  # retries were made
    assert extra <= 5 + 0.2 * 100  # but never more than the floor plus 20% (300 without a budget)
    assert sample("ehp_upstream_retries_total", source) - retries_before == extra
    assert sample("ehp_retry_budget_exhausted_total", source) - exhausted_before > 0


async def test_non_idempotent_call_is_not_retried() -> None:
    fetcher = make()
    loader = Loader(SourceError("lis", "http_502", ""), "never")
    result = await fetch(fetcher, loader, idempotent=False)
    assert not result.ok and loader.calls == 1


async def test_retry_after_is_honoured_when_it_fits_the_deadline() -> None:
    fetcher = make()
    loader = Loader(SourceError("lis", "rate_limited", "", retry_after_s=0.05), "later")
    started = time.monotonic()
    result = await fetch(fetcher, loader, deadline_s=2.0)
    assert result.ok and result.value == "later" and loader.calls == 2
    assert time.monotonic() - started >= 0.05  # waited as told, not the 1-5 ms backoff


async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    fetcher = make()
    loader = Loader(SourceError("lis", "rate_limited", "", retry_after_s=30), "too late")
    result = await fetch(fetcher, loader, deadline_s=1.0)
    assert not result.ok and loader.calls == 1
    assert result.error is not None and result.error.kind == "rate_limited"


async def test_hanging_source_returns_within_the_deadline() -> None:
    fetcher = make(breaker=NO_BREAKER)
    hang = asyncio.Event()

    async def hanging() -> str:
        await hang.wait()
        return "never"

    started = time.monotonic()
    result = await asyncio.wait_for(
        fetcher.fetch(
            fetcher.key("ambulance", "calls", IIN),
            hanging,
            ttl_s=60,
            deadline=Deadline.after(0.1),
            codec=RECORD_CODEC,
        ),
        timeout=5,
    )
    assert time.monotonic() - started < 0.1 + 0.5
    assert not result.ok and result.error is not None and result.error.kind == "timeout"


async def test_source_timeout_caps_each_attempt_and_timeouts_are_retried() -> None:
    fetcher = make(breaker=NO_BREAKER)
    loader = Loader("slow answer", delay_s=10)
    result = await asyncio.wait_for(
        fetch(fetcher, loader, deadline_s=3.0, timeout_s=0.03), timeout=5
    )
    assert not result.ok and result.error is not None and result.error.kind == "timeout"
    assert loader.calls == 3


async def test_breaker_opens_skips_the_source_then_a_probe_closes_it() -> None:
    source = "breaker-lis"
    fetcher = make(
        retry=RetrySettings(max_attempts=1),
        breaker=BreakerSettings(failure_threshold=3, open_s=0.05),
    )
    failing = Loader(SourceError(source, "connect", "refused"))
    for n in range(3):
        await fetch(fetcher, failing, subject=f"p{n}", source=source)
    assert failing.calls == 3
    assert fetcher.breaker_states()[source] == "open"
    assert metrics.REGISTRY.get_sample_value("ehp_breaker_state", {"source": source}) == 2
    while_open = await fetch(fetcher, failing, subject="p9", source=source)
    assert failing.calls == 3  # not called while open
    assert while_open.error is not None and while_open.error.kind == "circuit_open"
    await asyncio.sleep(0.06)
    assert fetcher.breaker_states()[source] == "half_open"
    healthy = Loader("back")
    # The caller that finds the circuit half-open does not wait for the probe...
    first = await fetch(fetcher, healthy, subject="p9", source=source)
    assert first.error is not None and first.error.kind == "circuit_open"
    await fetcher.flush()  # ...which runs on its own and closes the circuit
    assert healthy.calls == 1
    assert fetcher.breaker_states()[source] == "closed"
    after = await fetch(fetcher, healthy, subject="p9", source=source)
    assert after.ok and after.value == "back" and healthy.calls == 1  # the probe's answer


async def test_half_open_lets_exactly_one_probe_through() -> None:
    source = "breaker-dps"
    fetcher = make(
        retry=RetrySettings(max_attempts=1),
        breaker=BreakerSettings(failure_threshold=1, open_s=0.03),
    )
    await fetch(fetcher, Loader(SourceError(source, "timeout", "")), source=source)
    await asyncio.sleep(0.04)
    slow = Loader("probe answer", delay_s=0.05)
    started = time.monotonic()
    results = await asyncio.gather(
        *(fetch(fetcher, slow, subject=f"q{n}", source=source) for n in range(5))
    )
    assert time.monotonic() - started < 0.05  # nobody waited for the slow probe
    assert {r.error.kind for r in results if r.error is not None} == {"circuit_open"}
    await fetcher.flush()
    assert slow.calls == 1  # exactly one probe went out
    assert fetcher.breaker_states()[source] == "closed"


async def test_stale_copy_is_served_while_the_circuit_is_open() -> None:
    clock = Clock()
    source = "breaker-amb"
    fetcher = make(
        clock,
        retry=RetrySettings(max_attempts=1),
        breaker=BreakerSettings(failure_threshold=1, open_s=60),
    )
    await fetch(fetcher, Loader("cached calls"), source=source)
    clock.advance(400)
    await fetch(fetcher, Loader(SourceError(source, "connect", "")), subject="other", source=source)
    untouched = Loader("fresh calls")
    served = await fetch(fetcher, untouched, source=source)
    assert untouched.calls == 0
    assert served.ok and served.stale and served.value == "cached calls"


async def test_memory_bound_evicts_least_recently_used() -> None:
    fetcher = make(max_items=3)
    loaders = {name: Loader(name) for name in "abcd"}
    for name in "abc":
        await fetch(fetcher, loaders[name], subject=name)
    await fetch(fetcher, loaders["a"], subject="a")  # a hit: a becomes the most recent
    await fetch(fetcher, loaders["d"], subject="d")  # evicts b
    await fetch(fetcher, loaders["b"], subject="b")  # fetched again (evicts c)
    await fetch(fetcher, loaders["a"], subject="a")  # still cached
    assert {n: loaders[n].calls for n in "abcd"} == {"a": 1, "b": 2, "c": 1, "d": 1}


async def test_tampered_or_moved_ciphertext_is_a_miss() -> None:
    inner = MemoryStore(max_items=10)
    cipher, secret = CacheCipher(os.urandom(32)), os.urandom(32)

    def replica() -> Fetcher:  # replicas share the sealed store; each keeps its own values
        return Fetcher(
            SealedStore(inner, cipher), subject_secret=secret, max_stale_s=3600, retry=FAST_RETRY
        )

    writer = replica()
    await fetch(writer, Loader("A's results"), subject="A")
    await fetch(writer, Loader("B's results"), subject="B")
    await writer.flush()  # the shared write happens after the answer
    key_a = writer.key("lis", "orders", "A").render("ehp")
    key_b = writer.key("lis", "orders", "B").render("ehp")
    sealed_a = await inner.get(key_a)
    assert sealed_a is not None
    await inner.set(key_b, sealed_a, ttl_s=60)  # A's ciphertext under B's key
    person_b = Loader("B's results")
    moved = await fetch(replica(), person_b, subject="B")
    assert moved.value == "B's results" and person_b.calls == 1
    tampered = bytearray(sealed_a)
    tampered[-3] ^= 0x04
    await inner.set(key_a, bytes(tampered), ttl_s=60)
    person_a = Loader("A's results")
    again = await fetch(replica(), person_a, subject="A")
    assert again.value == "A's results" and person_a.calls == 1


async def test_an_entry_of_another_format_in_the_shared_store_is_refetched() -> None:
    # A replica whose codec cannot read what another wrote (an older format, a codec change)
    # asks the source again rather than misreading it.
    inner = MemoryStore(max_items=10)
    cipher, secret = CacheCipher(os.urandom(32)), os.urandom(32)
    older = Codec(encode=lambda v: v.encode(), decode=lambda b: b.decode())
    strict = Codec(encode=lambda v: v.encode(), decode=lambda b: b.decode("ascii"))
    rejected_before = metrics.REGISTRY.get_sample_value(
        "ehp_cache_rejected_total", {"reason": "undecodable"}
    )

    async def read(codec: Codec, loader: Loader):
        fetcher = Fetcher(SealedStore(inner, cipher), subject_secret=secret, max_stale_s=3600)
        key = fetcher.key("lis", "orders", IIN)
        fetched = await fetcher.fetch(
            key, loader, ttl_s=60, deadline=Deadline.after(1), codec=codec
        )
        await fetcher.flush()
        return fetched

    written = Loader("Глюкоза")  # encodes as UTF-8, which the strict decoder refuses
    reread = Loader("Глюкоза")
    first, second = await read(older, written), await read(strict, reread)
    assert first.value == second.value == "Глюкоза"
    assert written.calls == 1 and reread.calls == 1
    rejected = metrics.REGISTRY.get_sample_value(
        "ehp_cache_rejected_total", {"reason": "undecodable"}
    )
    assert rejected == (rejected_before or 0.0) + 1


async def test_a_value_just_fetched_is_served_from_memory_never_encoded() -> None:
    def refuse(_value: object) -> bytes:
        raise AssertionError("the memory cache encoded a value")

    def never(_data: bytes) -> object:
        raise AssertionError("the memory cache decoded a value")

    fetcher = make()
    key = fetcher.key("lis", "orders", IIN)
    loader = Loader(["a result"])
    codec = Codec(encode=refuse, decode=never)
    first = await fetcher.fetch(key, loader, ttl_s=60, deadline=Deadline.after(1), codec=codec)
    second = await fetcher.fetch(key, loader, ttl_s=60, deadline=Deadline.after(1), codec=codec)
    assert first.value == second.value == ("a result",)  # shared by readers: immutable
    assert loader.calls == 1


async def test_with_ttl_zero_every_read_asks_the_source_and_a_failure_gets_the_last_copy() -> None:
    clock = Clock()
    fetcher = make(clock, retry=RetrySettings(max_attempts=1))
    first = await fetch(fetcher, Loader("morning"), ttl_s=0)
    clock.advance(60)
    second = await fetch(fetcher, Loader("noon"), ttl_s=0)
    clock.advance(60)
    failed = await fetch(fetcher, Loader(SourceError("lis", "connect", "refused")), ttl_s=0)
    assert (first.value, second.value) == ("morning", "noon")
    assert not second.stale
    assert failed.ok and failed.stale and failed.value == "noon"
    assert failed.fetched_at == second.fetched_at


async def test_unexpected_loader_exception_becomes_bad_response() -> None:
    fetcher = make()
    result = await fetch(fetcher, Loader(KeyError("resourceType")))
    assert not result.ok and result.error is not None and result.error.kind == "bad_response"


async def test_expired_deadline_does_not_call_the_source() -> None:
    fetcher = make()
    loader = Loader("late")
    result = await fetch(fetcher, loader, deadline_s=0.0)
    assert not result.ok and loader.calls == 0


def test_redis_backend_requires_an_encryption_key() -> None:
    import pytest

    with pytest.raises(ValueError, match="encryption_key"):
        Fetcher.create(backend="redis", redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="backend"):
        Fetcher.create(backend="memcached")


def test_replicas_with_the_same_key_salt_compute_the_same_keys() -> None:
    one = Fetcher.create(subject_key="salt")
    two = Fetcher.create(subject_key="salt")
    other = Fetcher.create()
    assert one.key("lis", "orders", IIN) == two.key("lis", "orders", IIN)
    assert one.key("lis", "orders", IIN) != other.key("lis", "orders", IIN)
    assert IIN not in one.key("lis", "orders", IIN).render("ehp")


async def test_a_waiter_with_a_shorter_deadline_leaves_on_time() -> None:
    fetcher = make()
    loader = Loader("slow but sure", delay_s=0.2)
    leader = asyncio.create_task(fetch(fetcher, loader, deadline_s=2.0))
    await asyncio.sleep(0.01)
    hurried = await fetch(fetcher, loader, deadline_s=0.05)
    assert not hurried.ok and hurried.error is not None and hurried.error.kind == "timeout"
    assert not leader.done()  # the hurried caller did not cancel the shared call
    patient = await leader
    assert patient.ok and patient.value == "slow but sure" and loader.calls == 1


async def test_metrics_render_in_the_prometheus_text_format() -> None:
    fetcher = make()
    await fetch(fetcher, Loader("x"), source="metrics-lis")
    metrics.REQUESTS.labels(role="doctor", outcome="ok").inc()
    body, content_type = metrics.render_metrics()
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert 'ehp_cache_misses_total{source="metrics-lis"} 1.0' in text
    assert 'ehp_upstream_latency_seconds_count{source="metrics-lis"} 1.0' in text
    assert 'ehp_breaker_state{source="metrics-lis"} 0.0' in text
    assert 'ehp_requests_total{outcome="ok",role="doctor"}' in text


async def test_a_fetch_rescued_by_its_retry_counts_as_one_success_for_the_breaker() -> None:
    source = "breaker-retried"
    fetcher = make(breaker=BreakerSettings(failure_threshold=2, open_s=60))
    for n in range(5):  # every first attempt fails, every retry succeeds
        flaky = Loader(SourceError(source, "http_503", "busy"), "ok")
        fetched = await fetch(fetcher, flaky, subject=f"q{n}", source=source)
        assert fetched.ok and flaky.calls == 2
    # Five failed attempts, but five successful fetches: the circuit stays closed.
    assert fetcher.breaker_states()[source] == "closed"


def start(fetcher: Fetcher, loader: Loader, *, ttl_s: float = 300, deadline_s: float = 2.0):
    """`Fetcher.start` of the test's key, each answer tagged by the `then` step."""
    key = fetcher.key("lis", "orders", IIN)
    return fetcher.start(
        key,
        loader,
        lambda fetched: ("then", fetched),
        ttl_s=ttl_s,
        deadline=Deadline.after(deadline_s),
        codec=RECORD_CODEC,
    )


async def test_start_serves_a_fresh_copy_at_once_and_leads_one_flight_otherwise() -> None:
    fetcher = make()
    loader = Loader("orders", delay_s=0.05)
    first, second = start(fetcher, loader), start(fetcher, loader)  # the second one follows
    tag, fetched = await first
    assert tag == "then" and fetched.ok and fetched.value == "orders"
    assert (await second)[1].value == "orders" and loader.calls == 1
    again = start(fetcher, loader)
    assert again.done() and again.result()[1].value == "orders" and loader.calls == 1


async def test_a_caller_giving_up_on_start_does_not_cancel_the_flight() -> None:
    fetcher = make()
    loader = Loader("orders", delay_s=0.05)
    leader = start(fetcher, loader)
    follower = asyncio.ensure_future(fetch(fetcher, loader))
    await asyncio.sleep(0.01)
    leader.cancel()
    fetched = await follower
    assert fetched.ok and fetched.value == "orders" and loader.calls == 1


async def test_start_serves_the_stale_copy_when_the_source_fails() -> None:
    clock = Clock()
    fetcher = make(clock, breaker=NO_BREAKER)
    assert (await start(fetcher, Loader("old orders"), ttl_s=0))[1].value == "old orders"
    clock.advance(60)
    failing = Loader(SourceError("lis", "connect", "refused"))
    _, fetched = await start(fetcher, failing, ttl_s=0)  # TTL 0: a leader, no task of its own
    assert fetched.ok and fetched.stale and fetched.value == "old orders"
    assert fetched.error is not None and fetched.error.kind == "connect"


class SlowFirstReadStore(MemoryStore):
    """A shared store whose first answer is slow (a loaded Redis: read now, answered late)."""

    def __init__(self) -> None:
        super().__init__(max_items=10)
        self.reads = 0

    async def get(self, key: str, timeout_s: float | None = None) -> object:
        self.reads += 1
        value = await super().get(key, timeout_s)
        if self.reads == 1:
            await asyncio.sleep(0.1)
        return value


async def test_a_read_slowed_by_the_shared_store_takes_the_value_another_request_just_fetched() -> (
    None
):
    # The slow reader's flight check comes after the store answers; by then the other
    # request's flight has landed in memory: the source is asked once, not twice.
    store = SlowFirstReadStore()
    fetcher = Fetcher(
        SealedStore(store, CacheCipher(os.urandom(32))),
        subject_secret=os.urandom(32),
        max_stale_s=3600,
        retry=FAST_RETRY,
    )
    loader = Loader("orders", delay_s=0.01)
    slow = asyncio.ensure_future(fetch(fetcher, loader))
    await asyncio.sleep(0.005)
    quick = await fetch(fetcher, loader)
    assert quick.value == "orders" and not slow.done()
    assert (await slow).value == "orders" and loader.calls == 1
