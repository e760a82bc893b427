"""Single-flight: concurrent callers of one key share one call; others are independent."""

from __future__ import annotations

import asyncio

import pytest

from gateway.sources.singleflight import SingleFlight


async def test_fifty_concurrent_callers_share_one_call() -> None:
    flights: SingleFlight[str] = SingleFlight()
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return "record"

    results = await asyncio.gather(*(flights.do("k", work) for _ in range(50)))
    assert calls == 1
    assert results == ["record"] * 50
    assert len(flights) == 0  # landed flights are forgotten


async def test_different_keys_fly_separately_and_a_later_call_flies_again() -> None:
    flights: SingleFlight[str] = SingleFlight()
    calls: list[str] = []

    def work_for(key: str):
        async def work() -> str:
            calls.append(key)
            await asyncio.sleep(0.01)
            return key

        return work

    assert await asyncio.gather(flights.do("a", work_for("a")), flights.do("b", work_for("b"))) == [
        "a",
        "b",
    ]
    assert await flights.do("a", work_for("a")) == "a"
    assert calls == ["a", "b", "a"]


async def test_failure_reaches_every_waiter() -> None:
    flights: SingleFlight[str] = SingleFlight()

    async def work() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("source exploded")

    results = await asyncio.gather(
        *(flights.do("k", work) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_caller_giving_up_does_not_cancel_the_others() -> None:
    flights: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    impatient = asyncio.create_task(flights.do("k", work))
    patient = asyncio.create_task(flights.do("k", work))
    await asyncio.sleep(0)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    release.set()
    assert await patient == "done"
