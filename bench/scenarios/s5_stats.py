"""S5: managers' ``stats`` over a large population (100,000 people): p50 of each query.

Each query is timed cold (a period not asked before, so every view comes from the sources)
and warm (the same query again). The queries are those of ``bench/stats.py``. Goal: cold
p50 <= 1 s for every query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from bench.report import Measurement
from bench.scenarios.load import (
    LOAD_CPU,
    LoadResult,
    Meter,
    Sequence,
    Usage,
    load_figures,
    pinned,
    upstream_total,
)
from bench.stack import BenchStack
from bench.stats import CALLS, CATEGORIES, DISPENSATIONS, PREVALENCE

GOAL_MS = 1000
# One whole month per ask (managers' periods are whole months that are over). A month is shared
# by every grouping, so views common to all of them (the month's totals, each grouping's
# national view) may already be cached when a later grouping asks it "cold".


@dataclass
class StatsRun:
    """Cold and warm timings of every query."""

    population: int
    cold: LoadResult
    warm: LoadResult
    usage: Usage
    upstream_per_request: float
    cold_p50_by_query: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # query -> first error message


def _period(index: int, today: date) -> dict[str, str]:
    """A whole month distinct per index (``index`` months before the last one that is over)."""
    end = date(today.year, today.month, 1) - timedelta(days=1)
    for _ in range(index):
        end = date(end.year, end.month, 1) - timedelta(days=1)
    return {"from": date(end.year, end.month, 1).isoformat(), "to": end.isoformat()}


def queries(today: date) -> list[tuple[str, Callable[[int], dict]]]:
    """Every stats query: a name and a maker of its request body for repetition ``i``."""
    out: list[tuple[str, Callable[[int], dict]]] = []
    for group in ("ATC", "REGION", "MONTH", "PROGRAM", "PHARMACY"):
        out.append(
            (
                f"dispensations by {group}",
                lambda i, g=group: {
                    "query": DISPENSATIONS,
                    "variables": {**_period(i, today), "g": g},
                },
            )
        )
    for group in ("DIAGNOSIS", "OUTCOME", "STATION", "MONTH"):
        out.append(
            (
                f"ambulanceCalls by {group}",
                lambda i, g=group: {"query": CALLS, "variables": {**_period(i, today), "g": g}},
            )
        )
    out.append(
        (
            "prevalence",
            lambda i: {
                "query": PREVALENCE,
                "variables": {"icd10": CATEGORIES[i % len(CATEGORIES)]},
            },
        )
    )
    return out


def run(stack: BenchStack, repeat: int) -> StatsRun:
    """Time each query ``repeat`` times cold, each followed by the same query warm."""
    token = stack.issuer.issue("manager", "bench-manager", ttl_s=4 * 3600)
    today = date.fromisoformat(stack.truth["today"])
    cold, warm = Sequence(stack.url, timeout_s=120), Sequence(stack.url, timeout_s=120)
    by_query: dict[str, float] = {}
    failures: dict[str, str] = {}
    stack.reset_requests()
    meter = Meter.of(stack)
    with pinned(LOAD_CPU):
        meter.start()
        for name, make in queries(today):
            times = min(repeat, len(CATEGORIES)) if name == "prevalence" else repeat
            answered: list[float] = []
            for i in range(times):
                answer = cold.post(token, make(i))
                if answer.get("errors"):
                    failures.setdefault(name, answer["errors"][0].get("message", "?"))
                else:
                    answered.append(cold.latencies_ms[-1])
                warm.post(token, make(i))
            if answered:  # failures (timeouts, open breakers) are not timings of the query
                by_query[name] = sorted(answered)[len(answered) // 2]
        usage = meter.stop()
    upstream = upstream_total(stack) / max(1, len(cold.latencies_ms))
    cold.close()
    warm.close()
    population = len(stack.truth["people"])
    return StatsRun(population, cold.result(), warm.result(), usage, upstream, by_query, failures)


def measurements(stats: StatsRun) -> list[Measurement]:
    """Two rows: cold and warm."""
    timed = stats.cold_p50_by_query or {"no query answered": float("inf")}
    worst_name, worst = max(timed.items(), key=lambda item: item[1])
    rows = []
    for scenario, r in (("S5 cold", stats.cold), ("S5 warm", stats.warm)):
        rows.append(
            Measurement(
                scenario=scenario,
                title=f"stats over {stats.population:,} people, one-month periods",
                **load_figures(r, stats.usage, rate=False),
                upstream_calls_per_request=stats.upstream_per_request
                if scenario == "S5 cold"
                else None,
            )
        )
    rows[0].goal = f"cold p50 <= {GOAL_MS} ms for every query"
    asked = len(set(stats.failures) | set(stats.cold_p50_by_query))
    rows[0].measured = (
        f"worst answered query p50 {worst:.0f} ms ({worst_name}); "
        f"{len(stats.failures)} of {asked} queries failed at least once"
    )
    rows[0].goal_met = worst <= GOAL_MS and not stats.failures
    rows[0].details = {
        "cold p50 ms by query (answered requests only)": {
            k: round(v) for k, v in stats.cold_p50_by_query.items()
        },
        "upstream calls per cold query (warm repeats included in the count)": (
            stats.upstream_per_request
        ),
    }
    if stats.failures:
        rows[0].details["failed queries (first error)"] = stats.failures
    return rows
