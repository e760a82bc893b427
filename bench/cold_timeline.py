"""Where the time of one cold passport goes, step by step (S1's critical path).

``python -m bench.cold_timeline [--people 50] [--latency-ms 50]`` starts the emulators (every
answer delayed by ``--latency-ms``) and the gateway app in this process, reads ten passports
to load the register directory and the DPS token, then reads ``--people`` passports never read
before, one at a time, as the patient. For each it notes when (ms after the request started):

- the gateway entered the GraphQL view, and the passport field opened its read (the decision);
- each upstream call was sent and its answer was back (around ``gateway.sources.http.fetch``
  in the four adapters that call it);
- every load had settled, the audit write began and ended, and the answer was complete.

It prints the median of each moment as a markdown table and a JSON line. The instrumentation
wraps functions of this process only for the measurement; nothing is changed in the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.stack import BENCH_DIR, free_port, write_config
from emulators.serve import ensure_population, start_emulators
from gateway import view
from gateway.app import create_app
from gateway.auth.issuer import DemoIssuer
from gateway.config import load_settings
from gateway.resolvers.reads import PatientRead
from gateway.schema import query
from gateway.sources import ambulance, dps, fhir_client, lis
from tests.e2e.test_passport import FULL_PASSPORT

ADAPTER_MODULES = (fhir_client, lis, dps, ambulance)
WARM_UP = 10


class Timeline:
    """Moments of the request in flight, relative to its start."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.moments: list[tuple[str, float]] = []

    def note(self, what: str) -> None:
        """Record ``what`` happening now."""
        self.moments.append((what, (time.perf_counter() - self.started) * 1000))


CURRENT = Timeline()


def _instrument() -> None:
    """Wrap the functions whose moments are noted (this process only)."""

    def around(name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            CURRENT.note(f"{name} start")
            try:
                return await function(*args, **kwargs)
            finally:
                CURRENT.note(f"{name} end")

        return wrapped

    for module in ADAPTER_MODULES:
        fetch = module.fetch

        async def upstream(client: Any, source: str, *args: Any, _f: Any = fetch, **kw: Any) -> Any:
            CURRENT.note(f"send {source}")
            reply = await _f(client, source, *args, **kw)
            CURRENT.note(f"answer {source}")
            return reply

        module.fetch = upstream  # type: ignore[attr-defined]
    view.PassportView.handle = around("view", view.PassportView.handle)  # type: ignore[method-assign]
    query.open_read = around("decision", query.open_read)  # type: ignore[attr-defined]
    PatientRead.settled = around("loads", PatientRead.settled)  # type: ignore[method-assign]
    view.write_audit = around("audit", view.write_audit)  # type: ignore[attr-defined]


async def _measure(urls: dict[str, str], work: Path, issuer: DemoIssuer, iins: list[str]) -> list:
    global CURRENT
    settings = load_settings(write_config(work, urls, issuer, free_port()))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    timelines = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        for n, iin in enumerate(iins):
            token = issuer.issue("patient", f"bench-{iin}", iin=iin)
            CURRENT = Timeline()
            response = await client.post(
                "/graphql",
                json={"query": FULL_PASSPORT, "variables": {"iin": iin}},
                headers={"authorization": f"Bearer {token}"},
            )
            CURRENT.note("answer complete")
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"passport of person {n} failed: {body.get('errors')}")
            if n >= WARM_UP:
                timelines.append(CURRENT.moments)
    return timelines


def _medians(timelines: list[list[tuple[str, float]]]) -> dict[str, float]:
    """The median time of each moment; repeated moments (two DPS calls) by their last."""
    by_moment: dict[str, list[float]] = {}
    for moments in timelines:
        last: dict[str, float] = {}
        for what, at in moments:
            last[what] = at
        for what, at in last.items():
            by_moment.setdefault(what, []).append(at)
    medians = {what: statistics.median(values) for what, values in by_moment.items()}
    return dict(sorted(medians.items(), key=lambda item: item[1]))


def main(argv: list[str] | None = None) -> int:
    """Measure and print the median timeline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--population", type=int, default=1000)
    args = parser.parse_args(argv)
    data_dir = BENCH_DIR / f"population-7-{args.population}"
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_population(data_dir, args.population, 7)
    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    iins = list(truth["people"])[200 : 200 + WARM_UP + args.people]
    work = Path(tempfile.mkdtemp(prefix="ehp-timeline-"))
    issuer = DemoIssuer.create(work / "keys")
    _instrument()
    with start_emulators(data_dir, free_port(7), latency_ms=args.latency_ms) as emulators:
        timelines = asyncio.run(_measure(emulators.urls, work, issuer, iins))
    medians = _medians(timelines)
    print(f"| moment (median of {len(timelines)} cold passports) | ms after the request |")
    print("|---|---:|")
    for what, at in medians.items():
        print(f"| {what} | {at:.1f} |")
    print(json.dumps({"latency_ms": args.latency_ms, "people": len(timelines), **medians}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
