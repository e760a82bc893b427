"""S2: upstream calls per cold full passport, from the emulators' own request logs (S1's run).

Goal: one call per source instance. The drug provision system serves prescriptions and
dispensations from two endpoints, so its floor is two calls: the report gives both the calls
and the distinct instances asked, and the calls by endpoint.
"""

from __future__ import annotations

from collections import Counter

from bench.report import Measurement
from bench.scenarios.s1_cold import ColdRun

# Endpoints a cold passport cannot avoid beyond one per instance (SOURCES.md: DPS has two).
UNAVOIDABLE_EXTRA = 1


def measurement(cold: ColdRun, instances: int) -> Measurement:
    """The S2 row of the report; ``instances`` is the number of source instances configured."""
    passports = max(1, len(cold.calls))
    totals = [sum(c.values()) for c in cold.calls] or [0]
    distinct = [len({label.split(" ", 1)[0] for label in c}) for c in cold.calls] or [0]
    by_endpoint: Counter[str] = Counter()
    for calls in cold.calls:
        by_endpoint.update(calls)
    mean_calls = sum(totals) / passports
    mean_distinct = sum(distinct) / passports
    floor = instances + UNAVOIDABLE_EXTRA
    return Measurement(
        scenario="S2",
        title="upstream calls per cold passport",
        requests=len(cold.calls),
        duration_s=cold.result.duration_s,
        rps=None,
        p50_ms=None,
        p95_ms=None,
        p99_ms=None,
        max_ms=None,
        errors=cold.result.errors,
        upstream_calls_per_request=mean_calls,
        gateway_cpu_pct=None,
        gateway_peak_rss_mb=None,
        emulator_cpu_pct=None,
        goal=f"calls = source instances ({instances}; {floor} with DPS's two endpoints)",
        measured=f"{mean_calls:.2f} calls (min {min(totals)}, max {max(totals)}) to "
        f"{mean_distinct:.2f} distinct instances",
        goal_met=mean_calls <= floor,
        details={
            "calls per passport by endpoint": {
                label: round(count / passports, 2) for label, count in sorted(by_endpoint.items())
            },
        },
    )
