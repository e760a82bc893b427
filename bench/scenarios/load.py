"""What every scenario needs to drive the gateway and watch its processes.

``run_wrk`` drives a server from the load CPU with ``wrk`` and ``bench/wrk/graphql.lua``;
``Sequence`` times requests one at a time from this process (pinned to the load CPU);
``Meter`` reads the CPU time and peak memory of the gateway and the emulators around a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.stack import BenchStack, cpu_seconds, peak_rss_mb

GATEWAY_CPU = 0
LOAD_CPU = 1
LUA_SCRIPT = Path(__file__).resolve().parent.parent / "wrk" / "graphql.lua"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


@contextlib.contextmanager
def pinned(cpu: int) -> Iterator[None]:
    """Run this process on one CPU for the block (so the driver stays off the gateway's core)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Usage:
    """CPU and memory the processes used over one measured window."""

    gateway_cpu_pct: float
    gateway_peak_rss_mb: float
    emulator_cpu_pct: float


class Meter:
    """CPU seconds of the gateway and the emulators between ``start`` and ``stop``."""

    def __init__(self, gateway_pid: int, emulator_pids: list[int]) -> None:
        self.gateway_pid = gateway_pid
        self.emulator_pids = emulator_pids
        self._started = 0.0
        self._gateway = 0.0
        self._emulators = 0.0

    @classmethod
    def of(cls, stack: BenchStack) -> Meter:
        """A meter of the stack's gateway and emulators."""
        return cls(stack.gateway_pid, list(stack.emulator_pids.values()))

    def start(self) -> None:
        """Begin the window."""
        self._started = time.monotonic()
        self._gateway = cpu_seconds(self.gateway_pid)
        self._emulators = sum(cpu_seconds(pid) for pid in self.emulator_pids)

    def stop(self) -> Usage:
        """End the window: each process group's CPU as a percentage of one core."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        gateway = cpu_seconds(self.gateway_pid) - self._gateway
        emulators = sum(cpu_seconds(pid) for pid in self.emulator_pids) - self._emulators
        return Usage(
            gateway_cpu_pct=100 * gateway / elapsed,
            gateway_peak_rss_mb=peak_rss_mb(self.gateway_pid),
            emulator_cpu_pct=100 * emulators / elapsed,
        )


@dataclass
class LoadResult:
    """What one load run measured (latencies in milliseconds)."""

    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.duration_s if self.duration_s else 0.0


def load_figures(result: LoadResult, usage: Usage, *, rate: bool = True) -> dict[str, Any]:
    """The report fields (``Measurement`` keywords) every load scenario takes from its run and
    its meter; ``rate=False`` where requests per second would mean nothing (one at a time)."""
    return {
        "requests": result.requests,
        "duration_s": result.duration_s,
        "rps": result.rps if rate else None,
        "p50_ms": result.p50_ms,
        "p95_ms": result.p95_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "errors": result.errors,
        "gateway_cpu_pct": usage.gateway_cpu_pct,
        "gateway_peak_rss_mb": usage.gateway_peak_rss_mb,
        "emulator_cpu_pct": usage.emulator_cpu_pct,
    }


def write_requests(path: Path, requests: list[tuple[str, dict]]) -> None:
    """The request file of ``graphql.lua``: one "token<TAB>compact JSON body" per line."""
    lines = [f"{token}\t{json.dumps(body, separators=(',', ':'))}" for token, body in requests]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_wrk(
    url: str, requests: list[tuple[str, dict]], connections: int, duration_s: int
) -> LoadResult:
    """Drive ``url`` with wrk (one thread, on the load CPU) rotating through ``requests``."""
    with tempfile.TemporaryDirectory(prefix="ehp-wrk-") as work:
        request_file = Path(work) / "requests.tsv"
        write_requests(request_file, requests)
        command = [
            "taskset",
            "-c",
            str(LOAD_CPU),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration_s}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(request_file),
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return LoadResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        errors=data["failed"] + data["socket_errors"] + data["timeouts"],
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


class Sequence:
    """Requests one at a time over one kept-alive connection, each timed."""

    def __init__(self, url: str, timeout_s: float = 30) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout_s)
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.started = time.monotonic()

    def post(self, token: str, body: dict) -> dict:
        """POST one GraphQL request, time it, count it as an error unless it fully succeeded."""
        started = time.perf_counter()
        response = self.client.post(
            f"{self.url}/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        try:
            answer = response.json()
        except ValueError:
            answer = {"errors": [{"message": response.text[:200]}]}
        if response.status_code != 200 or answer.get("errors"):
            self.errors += 1
        return answer

    def reset(self) -> None:
        """Forget the timings so far (after a warm-up)."""
        self.latencies_ms.clear()
        self.errors = 0
        self.started = time.monotonic()

    def result(self) -> LoadResult:
        """The timings so far."""
        values = self.latencies_ms or [0.0]
        return LoadResult(
            requests=len(self.latencies_ms),
            duration_s=time.monotonic() - self.started,
            errors=self.errors,
            p50_ms=statistics.median(values),
            p95_ms=percentile(values, 0.95),
            p99_ms=percentile(values, 0.99),
            max_ms=max(values),
        )

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


def upstream_total(stack: BenchStack) -> int:
    """Requests the emulators have served since their counters were last reset."""
    return sum(stack.request_counts().values())


def metric(url: str, name: str) -> dict[str, float]:
    """One metric of the gateway's ``/metrics``, by its label set (``{source="lis",...}``)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, _, value = line.rpartition(" ")
            out[series.removeprefix(name)] = float(value)
    return out


def served_requests(url: str) -> int:
    """GraphQL requests the gateway has answered so far (``ehp_requests_total``, all labels)."""
    return round(sum(metric(url, "ehp_requests_total").values()))


def settle(url: str, quiet_s: float = 0.3, limit_s: float = 30) -> int:
    """Wait until the gateway has answered every request in flight (wrk leaves some behind
    when it stops); the number answered so far."""
    deadline = time.monotonic() + limit_s
    count = served_requests(url)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = served_requests(url)
        if now == count:
            return now
        count = now
    return count
