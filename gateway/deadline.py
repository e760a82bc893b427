"""The deadline of one request: the moment (on the monotonic clock) it must be answered by."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment (on the monotonic clock) by which a request must be answered."""

    expires_at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline `seconds` from now."""
        return cls(time.monotonic() + seconds)

    @classmethod
    def after_ms(cls, milliseconds: float) -> Deadline:
        """A deadline `milliseconds` from now."""
        return cls.after(milliseconds / 1000.0)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once no time is left."""
        return self.remaining() <= 0.0

    def within(self, limit_s: float | None) -> float:
        """Seconds left, capped by a per-call limit such as a source's `timeout_ms`."""
        left = self.remaining()
        return left if limit_s is None else min(left, limit_s)

    def earliest(self, other: Deadline) -> Deadline:
        """The earlier of this deadline and ``other``."""
        return self if self.expires_at <= other.expires_at else other
