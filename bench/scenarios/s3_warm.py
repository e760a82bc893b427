"""S3: warm full passports at 32 connections, beside the floor (bench/scenarios/floor.py).

The people's data are read once (cache filled) and once more (their answers kept for the
floor); then wrk on the load CPU rotates through their passports, each with its own patient
token. The floor serves the very same answers from a bare Starlette endpoint pinned to the
gateway's CPU and is driven the same way. Goal: >= 300 req/s and >= 0.5 x the floor.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.report import Measurement
from bench.scenarios.load import (
    GATEWAY_CPU,
    LoadResult,
    Meter,
    Usage,
    load_figures,
    run_wrk,
    upstream_total,
)
from bench.stack import REPO, BenchStack, free_port
from tests.e2e.test_passport import FULL_PASSPORT

GOAL_RPS = 300
GOAL_SHARE = 0.5
CONNECTIONS = 32


@dataclass
class WarmRun:
    """The gateway's and the floor's load runs."""

    gateway: LoadResult
    gateway_usage: Usage
    upstream_per_request: float
    floor: LoadResult
    floor_usage: Usage
    body_bytes: float
    people: int


def _requests(stack: BenchStack, people: list[str]) -> list[tuple[str, dict]]:
    return [
        (stack.patient_token(iin), {"query": FULL_PASSPORT, "variables": {"iin": iin}})
        for iin in people
    ]


def _prerender(stack: BenchStack, requests: list[tuple[str, dict]]) -> dict[str, str]:
    """Fill the cache, then keep each person's warm answer as the gateway served it."""
    answers: dict[str, str] = {}
    with httpx.Client(timeout=30) as client:
        for _ in range(2):
            for token, body in requests:
                response = client.post(
                    f"{stack.url}/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code != 200 or response.json().get("errors"):
                    raise RuntimeError(f"S3 warm-up failed: {response.text[:300]}")
                answers[body["variables"]["iin"]] = response.text
    return answers


@contextlib.contextmanager
def floor_server(answers: dict[str, str]) -> Iterator[tuple[str, int]]:
    """The floor app in its own process on the gateway's CPU; yields its URL and pid."""
    with tempfile.TemporaryDirectory(prefix="ehp-floor-") as work:
        bodies = Path(work) / "bodies.json"
        bodies.write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
        port = free_port()
        command = [
            "taskset",
            "-c",
            str(GATEWAY_CPU),
            sys.executable,
            "-m",
            "bench.scenarios.floor",
            f"--bodies={bodies}",
            f"--port={port}",
        ]
        process = subprocess.Popen(command, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the floor server did not start") from None
                    time.sleep(0.1)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


def run(stack: BenchStack, people: list[str], duration_s: int) -> WarmRun:
    """Warm the people's passports, load the gateway, then load the floor the same way."""
    requests = _requests(stack, people)
    answers = _prerender(stack, requests)
    run_wrk(stack.url, requests, CONNECTIONS, 2)  # warm the interpreter and the connections
    stack.reset_requests()
    meter = Meter.of(stack)
    meter.start()
    gateway = run_wrk(stack.url, requests, CONNECTIONS, duration_s)
    gateway_usage = meter.stop()
    upstream = upstream_total(stack) / max(1, gateway.requests)
    with floor_server(answers) as (url, pid):
        run_wrk(url, requests, CONNECTIONS, 2)
        floor_meter = Meter(pid, [])
        floor_meter.start()
        floor = run_wrk(url, requests, CONNECTIONS, duration_s)
        floor_usage = floor_meter.stop()
    size = sum(len(a.encode("utf-8")) for a in answers.values()) / max(1, len(answers))
    return WarmRun(gateway, gateway_usage, upstream, floor, floor_usage, size, len(people))


def measurements(warm: WarmRun) -> list[Measurement]:
    """The S3 rows of the report: the gateway, then the floor."""
    g, f = warm.gateway, warm.floor
    share = g.rps / f.rps if f.rps else 0.0
    gateway = Measurement(
        scenario="S3",
        title=f"warm full passport, c={CONNECTIONS}",
        **load_figures(g, warm.gateway_usage),
        upstream_calls_per_request=warm.upstream_per_request,
        goal=f">= {GOAL_RPS} req/s and >= {GOAL_SHARE} x floor",
        measured=f"{g.rps:,.0f} req/s = {share:.2f} x floor ({f.rps:,.0f} req/s); "
        f"p99 {g.p99_ms:.1f} ms vs floor {f.p99_ms:.1f} ms",
        goal_met=g.rps >= GOAL_RPS and share >= GOAL_SHARE,
        details={
            "people rotated": warm.people,
            "mean answer bytes": round(warm.body_bytes),
            "share of floor": share,
            "gateway CPU ms per request": 10 * warm.gateway_usage.gateway_cpu_pct / g.rps
            if g.rps
            else 0.0,
        },
    )
    floor = Measurement(
        scenario="S3 floor",
        title="same JSON, bare Starlette",
        **{**load_figures(f, warm.floor_usage), "emulator_cpu_pct": None},
        upstream_calls_per_request=None,
    )
    return [gateway, floor]
