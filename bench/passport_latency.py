"""S1/S2: a cold full passport at concurrency 1 with every source answering in 50 ms.

Each request is for a person not read before (nothing of theirs cached), as that person.
Reports latency percentiles, the ratio to the slowest source (goal <= 1.3), and upstream
calls per passport (DPS token calls excluded) read from the emulators' own counters.
"Slowest source" is given two ways: the configured latency, and the measured floor (the
very requests the gateway made for that passport, replayed at once without a gateway;
``bench/source_floor.py``), which adds the sources' own work to their set latency.

    .venv/bin/python -m bench.passport_latency --people 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx

from bench.source_floor import SourceReplayer
from bench.stack import bench_stack
from tests.e2e.test_passport import FULL_PASSPORT


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    """Run the scenario and print a markdown table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--warm-directory", type=int, default=20, help="people read first")
    args = parser.parse_args()
    with bench_stack(latency_ms=args.latency_ms) as stack:
        people = [iin for iin, p in sorted(stack.truth["people"].items()) if p["ehrRegions"]]
        warmup, measured = people[: args.warm_directory], people[args.warm_directory :]
        measured = measured[: args.people]
        # One loop and one pooled client for the replays, as the gateway pools its own.
        with httpx.Client(timeout=30) as client, asyncio.Runner() as runner:
            replay_client = httpx.AsyncClient(timeout=30)

            def read(iin: str) -> float:
                started = time.perf_counter()
                response = client.post(
                    f"{stack.url}/graphql",
                    json={"query": FULL_PASSPORT, "variables": {"iin": iin}},
                    headers={"Authorization": f"Bearer {stack.patient_token(iin)}"},
                )
                elapsed = time.perf_counter() - started
                body = response.json()
                if response.status_code != 200 or body.get("errors"):
                    raise RuntimeError(f"passport failed: {body.get('errors')}")
                return elapsed

            for iin in warmup:  # organisations and GPs of the register become known
                read(iin)
            timings, floors = [], []
            counts: dict[str, int] = {}
            replayer = SourceReplayer(stack.urls)
            for iin in measured:
                stack.reset_requests()
                timings.append(read(iin))
                asked = {
                    name: [r for r in log["recent"] if not r["path"].endswith("/oauth/token")]
                    for name, log in stack.request_logs().items()
                }
                for name, requests in asked.items():
                    counts[name] = counts.get(name, 0) + len(requests)
                floors.append(runner.run(replayer.replay(replay_client, asked)))
            runner.run(replay_client.aclose())
    calls = sum(counts.values())
    p50 = statistics.median(timings) * 1000
    result = {
        "scenario": f"S1 cold full passport, concurrency 1, sources at {args.latency_ms:g} ms",
        "requests": len(timings),
        "p50_ms": round(p50, 1),
        "p95_ms": round(percentile(timings, 0.95) * 1000, 1),
        "p99_ms": round(percentile(timings, 0.99) * 1000, 1),
        "ratio_to_slowest_source": round(p50 / args.latency_ms, 2),
        "floor_p50_ms": round(statistics.median(floors) * 1000, 1),
        "ratio_to_measured_floor": round(
            statistics.median(t / f for t, f in zip(timings, floors, strict=True)), 2
        ),
        "upstream_calls_per_passport": round(calls / len(timings), 2),
        "calls_by_source": {k: round(v / len(timings), 2) for k, v in counts.items()},
    }
    print("| metric | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
