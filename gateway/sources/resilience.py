"""Deadlines and retries for calls to source systems: Deadline, retry budget, jittered backoff.

The retry budget is a token bucket per source, after Finagle's RetryBudget and gRPC's retry
throttling: every first attempt deposits `budget_ratio` tokens (0.2), every retry spends one,
and the balance starts at, and never exceeds, `budget_floor`. So over any run of N calls the
retries are at most `budget_floor + budget_ratio * N`: a failing source sees at most ~20% extra
load from us instead of a retry storm multiplying it by `max_attempts`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

_HTTP_5XX = re.compile(r"http_5\d\d")

# Kinds worth another try on an idempotent call: the source may answer next time.
RETRYABLE_KINDS = frozenset({"timeout", "connect", "rate_limited"})


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """How idempotent calls are retried: attempts, backoff, budget."""

    max_attempts: int = 3
    base_s: float = 0.05  # full-jitter backoff: uniform(0, min(cap, base * 2**retry))
    cap_s: float = 0.5
    budget_ratio: float = 0.2  # tokens deposited by each first attempt
    budget_floor: float = 10.0  # starting and maximum balance: a small burst of retries
    min_attempt_s: float = (
        0.02  # no retry unless at least this much deadline is left after the wait
    )


def is_retryable(kind: str) -> bool:
    """Whether a failure of this kind may succeed on another try."""
    return kind in RETRYABLE_KINDS or bool(_HTTP_5XX.fullmatch(kind))


def backoff_delay(retry: int, settings: RetrySettings, rng: random.Random) -> float:
    """Full-jitter exponential backoff before retry number `retry` (0 for the first retry)."""
    return rng.uniform(0.0, min(settings.cap_s, settings.base_s * (2**retry)))


@dataclass(slots=True)
class RetryBudget:
    """Token bucket limiting retries to a share of first attempts, per source."""

    ratio: float = 0.2
    floor: float = 10.0
    balance: float = field(init=False)

    def __post_init__(self) -> None:
        self.balance = self.floor

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryBudget:
        """A full budget with the settings' ratio and floor."""
        return cls(ratio=settings.budget_ratio, floor=settings.budget_floor)

    def deposit(self) -> None:
        """Credit one first attempt."""
        self.balance = min(self.floor, self.balance + self.ratio)

    def try_spend(self) -> bool:
        """Take one token for a retry; False when the budget is exhausted."""
        if self.balance >= 1.0:
            self.balance -= 1.0
            return True
        return False
