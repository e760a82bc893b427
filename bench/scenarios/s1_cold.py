"""S1: a cold full passport at concurrency 1, every source answering in the set latency.

Each passport is of a person not read before (nothing of theirs cached), read by that
person. After each one the emulators' request logs are read and reset, so S2 can attribute
every upstream call to its passport. Goal: p50 latency / slowest source <= 1.20 (issue 14;
issue 8 asked 1.25).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.report import Measurement
from bench.scenarios.load import (
    LOAD_CPU,
    LoadResult,
    Meter,
    Sequence,
    Usage,
    load_figures,
    pinned,
)
from bench.stack import BenchStack
from tests.e2e.test_passport import FULL_PASSPORT

GOAL_RATIO = 1.20
_IIN = re.compile(r"\d{12}")
_NUMBER = re.compile(r"/\d+(?=/|$)")


@dataclass
class ColdRun:
    """The timings of the cold passports and the upstream calls each one caused."""

    latency_ms: float
    result: LoadResult
    usage: Usage
    # One Counter per passport: endpoint label ("dps GET /v1/patients/{iin}/...") -> calls.
    calls: list[Counter[str]] = field(default_factory=list)


def endpoint(system: str, method: str, path: str) -> str:
    """A label naming one kind of upstream call, with identifiers blanked out."""
    return f"{system} {method} {_NUMBER.sub('/{id}', _IIN.sub('{iin}', path))}"


def _drain(client: httpx.Client, urls: dict[str, str]) -> Counter[str]:
    """The calls each emulator logged since the last drain, then reset its log."""
    calls: Counter[str] = Counter()
    for system, url in urls.items():
        log = client.get(f"{url}/__requests").json()
        for entry in log["recent"]:
            calls[endpoint(system, entry["method"], entry["path"])] += 1
        client.delete(f"{url}/__requests")
    return calls


def cold_people(stack: BenchStack) -> list[str]:
    """People held by at least one regional EHR, in a fixed order (the scenarios split them)."""
    return [iin for iin, p in sorted(stack.truth["people"].items()) if p["ehrRegions"]]


def run(stack: BenchStack, warmup: list[str], people: list[str], latency_ms: float) -> ColdRun:
    """Read ``warmup`` (untimed), then time one cold passport of each of ``people``."""
    sequence = Sequence(stack.url)
    meter = Meter.of(stack)
    calls: list[Counter[str]] = []
    with pinned(LOAD_CPU), httpx.Client(timeout=10) as control:
        # The register's organisations and GPs, and the DPS token, become known.
        for iin in warmup:
            sequence.post(stack.patient_token(iin), _body(iin))
        _drain(control, stack.urls)
        sequence.reset()
        meter.start()
        for iin in people:
            answer = sequence.post(stack.patient_token(iin), _body(iin))
            if answer.get("errors"):
                raise RuntimeError(f"S1 passport failed: {answer['errors'][:2]}")
            calls.append(_drain(control, stack.urls))
        usage = meter.stop()
    sequence.close()
    return ColdRun(latency_ms, sequence.result(), usage, calls)


def _body(iin: str) -> dict:
    return {"query": FULL_PASSPORT, "variables": {"iin": iin}}


def measurement(cold: ColdRun) -> Measurement:
    """The S1 row of the report."""
    r = cold.result
    ratio = r.p50_ms / cold.latency_ms
    calls = sum(sum(c.values()) for c in cold.calls) / max(1, len(cold.calls))
    return Measurement(
        scenario="S1",
        title="cold full passport, c=1",
        # One at a time with log reads in between: a rate would mean nothing.
        **load_figures(r, cold.usage, rate=False),
        upstream_calls_per_request=calls,
        goal=f"p50 / slowest source ({cold.latency_ms:g} ms) <= {GOAL_RATIO:.2f}",
        measured=f"{ratio:.2f} (p50 {r.p50_ms:.1f} ms; p95 ratio {r.p95_ms / cold.latency_ms:.2f})",
        goal_met=ratio <= GOAL_RATIO,
        details={
            "every source latency ms": cold.latency_ms,
            "p50 ratio": ratio,
            "p95 ratio": r.p95_ms / cold.latency_ms,
            "gateway overhead at p50 ms": r.p50_ms - cold.latency_ms,
        },
    )
