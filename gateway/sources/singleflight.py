"""Single-flight: concurrent callers asking for the same key in this process share one call.

Like Go's `golang.org/x/sync/singleflight`: the first caller starts the work as a task, later
callers with the same key await that same task. Each caller waits through `asyncio.shield`, so a
caller that gives up (its own deadline, a cancelled request) does not cancel the work for the
others; the work is bounded by its own deadline and finishes on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """A map from key to the one call in flight for it."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: Hashable) -> bool:
        """Whether a call for `key` is in flight."""
        return key in self._flights

    async def do(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Await the call in flight for `key`, starting `work()` if there is none."""
        task = self._flights.get(key)
        if task is None:
            task = self.start(key, work)
        return await asyncio.shield(task)

    def start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """Start `work()` as the call in flight for `key` (there must be none); its task.

        Whoever holds the task must not await it directly (their cancellation would cancel
        it for everyone): shield it, or follow it with a done callback.
        """
        assert key not in self._flights, "a call for this key is in flight"
        task = asyncio.ensure_future(work())
        self._flights[key] = task
        task.add_done_callback(lambda done: self._landed(key, done))
        return task

    def _landed(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            # Retrieved here so a failure nobody waited for is not logged as "never retrieved".
            task.exception()

    async def wait_idle(self) -> None:
        """Wait until every call in flight has finished (for shutdown)."""
        while self._flights:
            await asyncio.gather(*self._flights.values(), return_exceptions=True)
