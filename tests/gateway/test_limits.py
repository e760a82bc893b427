"""Request rates and the distinct-patients ceiling: thresholds, resets, shared counts in Redis,
and what happens when Redis does not answer. tests/e2e/test_rate_limits.py has them over HTTP."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis
from limits.aio.storage import MemoryStorage

from gateway import metrics
from gateway.auth.principal import Principal, Role
from gateway.config import LimitsSettings, LimitsStorage
from gateway.errors import RateLimited
from gateway.limits import ADDRESS, PRINCIPAL, PatientCeiling, RequestRates
from gateway.limits.patients import MemoryPatientSets, RedisPatientSets
from tests.gateway.cache.test_redis_cache import REDIS_URL

DOCTOR = Principal("doctor-1", Role.DOCTOR, practitioner_id="P0100007", org_bin="100140000001")
IINS = ["900101300001", "900101300002", "900101300003", "900101300004"]
SECRET = b"limits-test-key-" + b"0" * 16


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


# --- request rates ------------------------------------------------------------------------


async def test_the_burst_trips_at_its_threshold_and_resets_within_the_second() -> None:
    rates = RequestRates(MemoryStorage(), requests_per_minute=1000, burst=3)
    caller = secrets.token_hex(4)
    for _ in range(3):
        await rates.admit(PRINCIPAL, caller)
    before = sample("ehp_rate_limited_total", limit="principal_burst")
    with pytest.raises(RateLimited) as refused:
        await rates.admit(PRINCIPAL, caller)
    assert refused.value.code == "RATE_LIMITED" and refused.value.retry_after_s == 1
    assert sample("ehp_rate_limited_total", limit="principal_burst") == before + 1
    await rates.admit(PRINCIPAL, "someone else")  # counted per caller
    await rates.admit(ADDRESS, caller)  # and per kind: an address is another key
    await asyncio.sleep(1.05)
    await rates.admit(PRINCIPAL, caller)


async def test_the_rate_trips_at_its_threshold_and_resets_after_its_window() -> None:
    # 60 a minute over a 2 s window: 2 requests per 2 s.
    rates = RequestRates(MemoryStorage(), requests_per_minute=60, burst=100, window_s=2)
    caller = secrets.token_hex(4)
    await rates.admit(ADDRESS, caller)
    await rates.admit(ADDRESS, caller)
    with pytest.raises(RateLimited, match="rate of the address") as refused:
        await rates.admit(ADDRESS, caller)
    assert 1 <= refused.value.retry_after_s <= 2
    await asyncio.sleep(refused.value.retry_after_s + 0.05)
    await rates.admit(ADDRESS, caller)


def test_the_window_scales_the_per_minute_count() -> None:
    rates = RequestRates(MemoryStorage(), requests_per_minute=120, burst=30, window_s=60)
    assert [(name, item.amount, item.get_expiry()) for name, item in rates.windows] == [
        ("burst", 30, 1),
        ("rate", 120, 60),
    ]
    short = RequestRates(MemoryStorage(), requests_per_minute=120, burst=30, window_s=2)
    assert short.windows[1][1].amount == 4


@pytest.mark.redis
async def test_two_gateways_share_their_counts_in_redis() -> None:
    settings = LimitsSettings(
        requests_per_minute=60, burst=100, rate_window_s=3, storage=LimitsStorage.REDIS
    )
    first, second = (RequestRates.open(settings, REDIS_URL) for _ in range(2))
    caller = secrets.token_hex(4)
    try:
        await first.admit(PRINCIPAL, caller)
        await second.admit(PRINCIPAL, caller)
        await first.admit(PRINCIPAL, caller)
        with pytest.raises(RateLimited):
            await second.admit(PRINCIPAL, caller)
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_lets_requests_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = LimitsSettings(storage=LimitsStorage.REDIS)
    rates = RequestRates.open(settings, "redis://127.0.0.1:1/0")  # nothing listens there
    before = sample("ehp_limits_degraded_total", limit="principal_burst")
    with caplog.at_level(logging.WARNING):
        await rates.admit(PRINCIPAL, "caller")
    await rates.close()
    assert sample("ehp_limits_degraded_total", limit="principal_burst") == before + 1
    assert "rate limits unavailable" in caplog.text


# --- the distinct-patients ceiling --------------------------------------------------------


class Clock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


async def test_the_ceiling_counts_distinct_patients_and_resets_at_local_midnight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 23:59:58 in Kazakhstan (UTC+5) is 18:59:58 UTC.
    clock = Clock(datetime(2026, 12, 3, 18, 59, 58, tzinfo=UTC))
    ceiling = PatientCeiling(MemoryPatientSets(clock), 2, SECRET, clock=clock)
    await ceiling.admit(DOCTOR, IINS[0])
    await ceiling.admit(DOCTOR, IINS[1])
    await ceiling.admit(DOCTOR, IINS[0])  # a patient already read today is no new one
    before = sample("ehp_patient_ceiling_reached_total", role="DOCTOR")
    with (
        caplog.at_level(logging.WARNING, logger="gateway.privacy"),
        pytest.raises(RateLimited) as refused,
    ):
        await ceiling.admit(DOCTOR, IINS[2])
    assert refused.value.retry_after_s == 2  # until local midnight
    assert sample("ehp_patient_ceiling_reached_total", role="DOCTOR") == before + 1
    (alert,) = [r for r in caplog.records if r.name == "gateway.privacy"]
    assert "privacy-officer alert" in alert.getMessage() and "P0100007" in alert.getMessage()
    assert not any(iin in alert.getMessage() for iin in IINS)
    other = Principal("doctor-2", Role.DOCTOR)
    await ceiling.admit(other, IINS[2])  # per clinician
    clock.now += 2  # 00:00:00 local: a new day
    await ceiling.admit(DOCTOR, IINS[2])
    await ceiling.admit(DOCTOR, IINS[3])


async def test_short_windows_count_the_same_way() -> None:
    clock = Clock(datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC))
    ceiling = PatientCeiling(MemoryPatientSets(clock), 1, SECRET, window_s=4, clock=clock)
    await ceiling.admit(DOCTOR, IINS[0])
    with pytest.raises(RateLimited) as refused:
        await ceiling.admit(DOCTOR, IINS[1])
    assert 1 <= refused.value.retry_after_s <= 4
    clock.now += refused.value.retry_after_s
    await ceiling.admit(DOCTOR, IINS[1])


@pytest.mark.redis
async def test_replicas_share_one_ceiling_in_redis_and_no_iin_is_stored() -> None:
    doctor = Principal(f"doctor-{secrets.token_hex(4)}", Role.DOCTOR)
    first = PatientCeiling(RedisPatientSets(REDIS_URL), 2, SECRET, window_s=5)
    second = PatientCeiling(RedisPatientSets(REDIS_URL), 2, SECRET, window_s=5)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await first.admit(doctor, IINS[0])
        await second.admit(doctor, IINS[1])
        await second.admit(doctor, IINS[0])
        with pytest.raises(RateLimited):
            await first.admit(doctor, IINS[2])
        keys = [key async for key in client.scan_iter(match="ehp:limits:patients:*")]
        members = [member for key in keys for member in await client.smembers(key)]
        stored = b"".join([*keys, *members])
        assert keys and not any(iin.encode() in stored for iin in IINS)
        assert doctor.subject.encode() not in stored
    finally:
        await first.close()
        await second.close()
        await client.aclose()


async def test_an_unreachable_store_lets_the_read_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ceiling = PatientCeiling(RedisPatientSets("redis://127.0.0.1:1/0"), 1, SECRET)
    before = sample("ehp_limits_degraded_total", limit="distinct_patients")
    with caplog.at_level(logging.WARNING):
        await ceiling.admit(DOCTOR, IINS[0])
        await ceiling.admit(DOCTOR, IINS[1])
    await ceiling.close()
    assert sample("ehp_limits_degraded_total", limit="distinct_patients") == before + 2
    assert "ceiling unavailable" in caplog.text


def test_zero_turns_a_limit_off() -> None:
    off = LimitsSettings(requests_per_minute=0, burst=0, distinct_patients_per_day=0)
    assert RequestRates.open(off, None) is None
    assert PatientCeiling.open(off, None, SECRET) is None
    only_burst = RequestRates.open(LimitsSettings(requests_per_minute=0, burst=5), None)
    assert only_burst is not None
    assert [name for name, _ in only_burst.windows] == ["burst"]
