"""Deadlines, retry classification, jittered backoff, the retry budget and the circuit breaker."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateway.deadline import Deadline
from gateway.sources.breaker import BreakerSettings, BreakerState, CircuitBreaker
from gateway.sources.resilience import (
    RetryBudget,
    RetrySettings,
    backoff_delay,
    is_retryable,
)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_deadline_counts_down_and_expires() -> None:
    deadline = Deadline.after_ms(30)
    assert 0 < deadline.remaining() <= 0.03
    assert not deadline.expired
    assert deadline.within(0.01) == pytest.approx(0.01)
    await asyncio.sleep(0.04)
    assert deadline.expired
    assert deadline.remaining() == 0.0
    assert deadline.within(5.0) == 0.0


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [
        ("timeout", True),
        ("connect", True),
        ("rate_limited", True),
        ("http_503", True),
        ("http_500", True),
        ("http_404", False),
        ("http_400", False),
        ("unauthorized", False),
        ("bad_response", False),
        ("too_large", False),
        ("http_5031", False),
    ],
)
def test_which_failures_are_retried(kind: str, retryable: bool) -> None:
    assert is_retryable(kind) is retryable


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    settings = RetrySettings(base_s=0.05, cap_s=0.3)
    rng = random.Random(1)
    for retry, bound in [(0, 0.05), (1, 0.1), (2, 0.2), (3, 0.3), (8, 0.3)]:
        delays = [backoff_delay(retry, settings, rng) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # spread over the whole range, not a fixed wait
        assert min(delays) < bound * 0.2


def test_retry_budget_allows_a_floor_then_a_share_of_calls() -> None:
    budget = RetryBudget(ratio=0.2, floor=3.0)
    retries = 0
    for _ in range(100):
        budget.deposit()
        while budget.try_spend():  # a caller that would retry without end
            retries += 1
    assert retries <= 3 + 0.2 * 100
    assert retries >= 0.2 * 100 - 1


def test_retry_budget_balance_never_exceeds_the_floor() -> None:
    budget = RetryBudget(ratio=0.2, floor=2.0)
    for _ in range(1000):
        budget.deposit()
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


def test_breaker_opens_after_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("lis", BreakerSettings(failure_threshold=3, open_s=10), clock)
    for _ in range(2):
        permit = breaker.acquire()
        assert permit is not None
        permit.release(False)
    assert breaker.state is BreakerState.CLOSED
    permit = breaker.acquire()
    assert permit is not None
    permit.release(False)
    assert breaker.state is BreakerState.OPEN
    assert breaker.rejects_now()
    assert breaker.acquire() is None


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("lis", BreakerSettings(failure_threshold=3, min_calls=100))
    for success in [False, False, True, False, False, True]:
        permit = breaker.acquire()
        assert permit is not None
        permit.release(success)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_opens_on_failure_ratio_in_window() -> None:
    settings = BreakerSettings(failure_threshold=100, window=10, min_calls=10, failure_ratio=0.5)
    breaker = CircuitBreaker("dps", settings)
    for success in [True, False] * 5:  # never two failures in a row, but half of them fail
        permit = breaker.acquire()
        assert permit is not None
        permit.release(success)
    assert breaker.state is BreakerState.OPEN


def test_half_open_lets_one_probe_and_its_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("lis", BreakerSettings(failure_threshold=1, open_s=10), clock)
    breaker.acquire().release(False)  # type: ignore[union-attr]
    clock.now += 9.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.rejects_now()
    probe = breaker.acquire()
    assert probe is not None and probe.probe
    assert breaker.acquire() is None  # only one probe at a time
    assert breaker.rejects_now()
    probe.release(True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire() is not None


def test_failed_probe_reopens_for_another_full_wait() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("lis", BreakerSettings(failure_threshold=1, open_s=10), clock)
    breaker.acquire().release(False)  # type: ignore[union-attr]
    clock.now += 10
    probe = breaker.acquire()
    assert probe is not None
    probe.release(False)
    assert breaker.state is BreakerState.OPEN
    clock.now += 9
    assert breaker.acquire() is None
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN


def test_late_outcome_of_an_older_call_is_ignored() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("lis", BreakerSettings(failure_threshold=1, open_s=10), clock)
    slow = breaker.acquire()
    breaker.acquire().release(False)  # type: ignore[union-attr]
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    probe = breaker.acquire()
    assert probe is not None
    assert slow is not None
    slow.release(True)  # began while closed: must not be taken for the probe's answer
    assert breaker.state is BreakerState.HALF_OPEN
    probe.release(False)
    assert breaker.state is BreakerState.OPEN
