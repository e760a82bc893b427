"""S4: ``emergency`` with one source hung (it accepts the connection and never answers).

Cold reads (a different person each time) at concurrency 1 by an emergency crew while
``ehr-astana`` hangs. The first requests wait out the emergency deadline until the source's
circuit breaker opens (5 consecutive timeouts by ``BreakerSettings``' defaults); later ones
are refused at once by the open breaker. Goals: p99 <= deadline + 50 ms before the breaker
opens, <= 100 ms once it is open.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.report import Measurement
from bench.scenarios.load import (
    LOAD_CPU,
    LoadResult,
    Meter,
    Sequence,
    Usage,
    pinned,
    upstream_total,
)
from bench.stack import BenchStack

HUNG = "ehr-astana"
HUNG_SOURCE = "ehr-astana"  # the gateway's name for it (emulators.serve.sources_toml)
GOAL_MARGIN_MS = 50
GOAL_OPEN_MS = 100
EMERGENCY = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
  identity { iin fullName birthDate sex }
  bloodGroup
  allergies { substance { code display } criticality }
  activeProblems { code { code } }
  currentMedications { code { code } name }
  implants { code }
  pregnancy { status }
  weightKg
  sources { source ok stale error }
} }
"""


@dataclass
class HungRun:
    """The requests before and after the breaker opened."""

    deadline_ms: float
    closed: LoadResult
    open: LoadResult
    usage: Usage
    upstream_per_request: float
    errors_seen: dict[str, int]
    slow_while_open: int
    closed_latencies_ms: list[float]


def _hung_error(answer: dict) -> str:
    data = (answer.get("data") or {}).get("emergency") or {}
    for status in data.get("sources", []):
        if status["source"] == HUNG_SOURCE:
            return status["error"] or "ok"
    return "not asked"


def run(stack: BenchStack, people: list[str], deadline_ms: float, latency_ms: float) -> HungRun:
    """Hang the source, read ``people``'s emergency data one by one, then lift the fault."""
    token = stack.issuer.issue(
        "emergency", "bench-crew", org_bin="000000000000", practitioner_id="P-bench", ttl_s=4 * 3600
    )
    url = stack.urls[HUNG]
    closed, opened = Sequence(stack.url), Sequence(stack.url)
    errors_seen: dict[str, int] = {}
    stack.reset_requests()
    meter = Meter.of(stack)
    httpx.post(f"{url}/__faults", json={"hang": True}).raise_for_status()
    try:
        with pinned(LOAD_CPU):
            meter.start()
            for iin in people:
                sequence = opened if errors_seen.get("circuit_open") else closed
                body = {"query": EMERGENCY, "variables": {"iin": iin, "reason": "bench S4"}}
                kind = _hung_error(sequence.post(token, body))
                errors_seen[kind] = errors_seen.get(kind, 0) + 1
            usage = meter.stop()
    finally:
        httpx.post(f"{url}/__faults", json={"latency_ms": latency_ms}).raise_for_status()
    upstream = upstream_total(stack) / max(1, len(people))
    slow = sum(1 for ms in opened.latencies_ms if ms > GOAL_OPEN_MS)
    before_open = [round(ms, 1) for ms in closed.latencies_ms]
    closed.close()
    opened.close()
    return HungRun(
        deadline_ms,
        closed.result(),
        opened.result(),
        usage,
        upstream,
        errors_seen,
        slow,
        before_open,
    )


def measurements(hung: HungRun) -> list[Measurement]:
    """Two rows: before the breaker opened, and once it is open."""
    rows = []
    phases = (
        (
            "S4 closed",
            "emergency, source hung, breaker closed",
            hung.closed,
            hung.deadline_ms + GOAL_MARGIN_MS,
        ),
        ("S4 open", "emergency, source hung, breaker open", hung.open, GOAL_OPEN_MS),
    )
    for scenario, title, r, limit in phases:
        rows.append(
            Measurement(
                scenario=scenario,
                title=title,
                requests=r.requests,
                duration_s=r.duration_s,
                rps=None,
                p50_ms=r.p50_ms if r.requests else None,
                p95_ms=r.p95_ms if r.requests else None,
                p99_ms=r.p99_ms if r.requests else None,
                max_ms=r.max_ms if r.requests else None,
                errors=r.errors,
                upstream_calls_per_request=hung.upstream_per_request,
                gateway_cpu_pct=hung.usage.gateway_cpu_pct,
                gateway_peak_rss_mb=hung.usage.gateway_peak_rss_mb,
                emulator_cpu_pct=hung.usage.emulator_cpu_pct,
                goal=f"p99 <= {limit:g} ms",
                measured=f"p99 {r.p99_ms:.1f} ms over {r.requests} requests"
                if r.requests
                else "no request in this phase",
                goal_met=r.p99_ms <= limit if r.requests else None,
            )
        )
    rows[0].details = {
        "emergency deadline ms": hung.deadline_ms,
        f"{HUNG_SOURCE} reported as": hung.errors_seen,
        "requests over 100 ms while open (half-open probes)": hung.slow_while_open,
        "each request before the breaker opened, ms": hung.closed_latencies_ms,
    }
    return rows
