"""Managers' aggregates over a large population: p50 of each stats query, cold and warm.

``python -m bench.stats [--population 100000] [--repeat 12] [--days 91]``

Starts the emulators over the population (generated once into the bench directory) and the
gateway as its own process (``bench.stack``), then times each stats query over HTTP as a
national manager: **cold** (a new period every time, so every view is fetched from the
source systems: the national view plus one per region, in parallel) and **warm** (the same
query again, served from the gateway's cache). Prints a markdown table of p50 / p90 in ms,
the rows returned and how many were suppressed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

import httpx

from bench.stack import bench_stack

DISPENSATIONS = """query($from: Date!, $to: Date!, $g: DispensationGrouping!) {
  stats { dispensations(from: $from, to: $to, groupBy: $g) { key count suppressed } } }"""
CALLS = """query($from: Date!, $to: Date!, $g: CallGrouping!) {
  stats { ambulanceCalls(from: $from, to: $to, groupBy: $g) { key count suppressed } } }"""
PREVALENCE = """query($icd10: String!) {
  stats { prevalence(icd10: $icd10) { key count suppressed } } }"""
CATEGORIES = ("I10", "E11", "E78", "I25", "J45", "J44", "N18", "I48", "E03", "K29", "Z34", "E10")


def _period(index: int, today: date, days: int) -> dict[str, str]:
    """A distinct period of ``days`` days per index (so a cold query is never a cache hit)."""
    end = today - timedelta(days=index)
    return {"from": (end - timedelta(days=days - 1)).isoformat(), "to": end.isoformat()}


def _time_query(
    client: httpx.Client, url: str, token: str, query: str, variables: dict
) -> tuple[float, list[dict] | None]:
    started = time.perf_counter()
    response = client.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if body.get("errors"):  # counted, not fatal: a slow source shows as errors in the table
        return elapsed, None
    return elapsed, next(iter(body["data"]["stats"].values()))


def _scenarios(today: date, days: int) -> list[tuple[str, Callable[[int], tuple[str, dict]]]]:
    out: list[tuple[str, Callable[[int], tuple[str, dict]]]] = []
    for group in ("ATC", "REGION", "MONTH", "PROGRAM", "PHARMACY"):
        out.append(
            (
                f"dispensations by {group}",
                lambda i, g=group: (DISPENSATIONS, {**_period(i, today, days), "g": g}),
            )
        )
    for group in ("DIAGNOSIS", "OUTCOME", "STATION", "MONTH"):
        out.append(
            (
                f"ambulanceCalls by {group}",
                lambda i, g=group: (CALLS, {**_period(i, today, days), "g": g}),
            )
        )
    out.append(("prevalence", lambda i: (PREVALENCE, {"icd10": CATEGORIES[i % len(CATEGORIES)]})))
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--days", type=int, default=91, help="length of each period")
    args = parser.parse_args()
    with bench_stack(population=args.population) as stack, httpx.Client(timeout=60) as client:
        token = stack.issuer.issue("manager", "bench-manager", ttl_s=4 * 3600)
        today = date.fromisoformat(stack.truth["today"])
        print(
            f"population {args.population:,}, periods of {args.days} days, "
            f"{args.repeat} runs per query, k = 5\n"
        )
        print("| query | cold p50 ms | cold p90 ms | warm p50 ms | rows | suppressed | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, make in _scenarios(today, args.days):
            repeat = len(CATEGORIES) if name == "prevalence" else args.repeat
            cold, warm = [], []
            rows: list[dict] = []
            errors = 0
            for i in range(repeat):
                query, variables = make(i)
                elapsed, answer = _time_query(client, stack.url, token, query, variables)
                cold.append(elapsed)
                if answer is None:
                    errors += 1
                    continue
                rows = answer
                warm.append(_time_query(client, stack.url, token, query, variables)[0])
            hidden = sum(1 for row in rows if row["suppressed"])
            warm_p50 = f"{statistics.median(warm):.1f}" if warm else "-"
            print(
                f"| {name} | {statistics.median(cold):.0f} | {_p(cold, 0.9):.0f} | "
                f"{warm_p50} | {len(rows)} | {hidden} | {errors} |"
            )


if __name__ == "__main__":
    main()
