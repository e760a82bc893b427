"""Circuit breaker per source: stop asking a source that keeps failing, then probe it once.

closed -> open after `failure_threshold` consecutive failures, or when at least `min_calls` of
the last `window` calls ended and `failure_ratio` of them failed. open -> half-open after
`open_s`. half-open lets exactly one probe through: its success closes, its failure reopens.
Outcomes of calls that began before the last transition are ignored, so a slow call from an
earlier state cannot close (or reopen) the circuit by accident.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gateway import metrics


class BreakerState(StrEnum):
    """The three states; values are what `/readyz` and logs show."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a source's circuit opens and for how long."""

    failure_threshold: int = 5
    open_s: float = 10.0
    window: int = 20
    min_calls: int = 10
    failure_ratio: float = 0.5


class Permit:
    """Leave to make one upstream call; report its outcome exactly once with `release`."""

    __slots__ = ("_breaker", "_done", "epoch", "probe")

    def __init__(self, breaker: CircuitBreaker, epoch: int, probe: bool) -> None:
        self._breaker = breaker
        self._done = False
        self.epoch = epoch
        self.probe = probe

    def release(self, success: bool) -> None:
        """Report whether the source answered; later calls are ignored."""
        if not self._done:
            self._done = True
            self._breaker._record(self, success)


class CircuitBreaker:
    """The breaker of one source."""

    def __init__(
        self,
        source: str,
        settings: BreakerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._opened_at = 0.0
        self._consecutive = 0
        self._recent: deque[bool] = deque(maxlen=self.settings.window)
        self._probe_out = False
        self._publish()

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit whose wait is over reads as half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.settings.open_s
        ):
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def rejects_now(self) -> bool:
        """True when a call would be refused at once (checks without taking the probe)."""
        state = self.state
        return state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._probe_out)

    def acquire(self) -> Permit | None:
        """A permit for one call, or None while the circuit is open or the probe is out."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit(self, self._epoch, probe=False)
        if state is BreakerState.HALF_OPEN and not self._probe_out:
            self._probe_out = True
            return Permit(self, self._epoch, probe=True)
        return None

    def _record(self, permit: Permit, success: bool) -> None:
        if permit.epoch != self._epoch:
            return  # began before the last transition: says nothing about the source now
        if permit.probe:
            self._probe_out = False
            self._move(BreakerState.CLOSED if success else BreakerState.OPEN)
            return
        if self._state is not BreakerState.CLOSED:
            return
        self._recent.append(success)
        if success:
            self._consecutive = 0
            return
        self._consecutive += 1
        failures = self._recent.count(False)
        too_many_in_row = self._consecutive >= self.settings.failure_threshold
        too_many_in_window = (
            len(self._recent) >= self.settings.min_calls
            and failures / len(self._recent) >= self.settings.failure_ratio
        )
        if too_many_in_row or too_many_in_window:
            self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        self._state = state
        self._epoch += 1
        if state is BreakerState.OPEN:
            self._opened_at = self._clock()
        if state is BreakerState.CLOSED:
            self._consecutive = 0
            self._recent.clear()
        self._publish()

    def _publish(self) -> None:
        value = metrics.BREAKER_STATE_VALUES[self._state.value]
        metrics.BREAKER_STATE.labels(source=self.source).set(value)
