"""Managers' aggregates over a large population: each stats query cold and warm.

``python -m bench.stats [--population 100000] [--months 12] [--repeat 5] [--gateway-src DIR]``

Starts the emulators over the population (generated once into the bench directory), then for
each stats query a gateway process of its own, so that the first ask is truly cold (nothing in
the cache: every view of every month comes from the source systems) and the next ``repeat``
ones warm (views cached; suppression is worked out again each time). The period is the
``months`` whole months ending with the last month that is over. Prints a markdown table: cold
and warm latency, the source calls of the cold ask, the gateway's CPU for the cold ask and for
one warm one, rows, suppressed rows and shown rows whose patients are withheld.

``--gateway-src`` runs the gateway from another checkout's source tree (for before/after
comparisons: ``git archive <commit> gateway | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench.stack import BENCH_DIR, cpu_seconds, free_port, wait_ready, write_config
from emulators.population import today_in_almaty
from emulators.serve import ensure_population, start_emulators
from gateway.auth.issuer import DemoIssuer

DISPENSATIONS = """query($from: Date!, $to: Date!, $g: DispensationGrouping!) {
  stats { dispensations(from: $from, to: $to, groupBy: $g) { key count patients suppressed } } }"""
CALLS = """query($from: Date!, $to: Date!, $g: CallGrouping!) {
  stats { ambulanceCalls(from: $from, to: $to, groupBy: $g) { key count patients suppressed } } }"""
PREVALENCE = """query($icd10: String!) {
  stats { prevalence(icd10: $icd10) { key count patients suppressed } } }"""
CATEGORIES = ("I10", "E11", "E78", "I25", "J45", "J44", "N18", "I48", "E03", "K29", "Z34", "E10")
QUERIES = [
    *((f"dispensations by {g}", DISPENSATIONS, g) for g in ("ATC", "REGION", "MONTH")),
    *((f"dispensations by {g}", DISPENSATIONS, g) for g in ("PROGRAM", "PHARMACY")),
    *((f"ambulanceCalls by {g}", CALLS, g) for g in ("DIAGNOSIS", "OUTCOME", "STATION", "MONTH")),
]


def whole_months(today: date, months: int) -> dict[str, str]:
    """The ``months`` whole months ending with the last month that is over by ``today``."""
    end = date(today.year, today.month, 1) - timedelta(days=1)
    index = end.year * 12 + end.month - months
    start = date(index // 12, index % 12 + 1, 1)
    return {"from": start.isoformat(), "to": end.isoformat()}


@dataclass
class Timing:
    """One query on a fresh gateway."""

    cold_ms: float
    warm_ms: list[float]
    source_calls: int
    cold_cpu_s: float
    warm_cpu_s: float
    rows: int
    suppressed: int
    withheld: int  # shown rows whose patients are withheld
    error: str | None


@contextlib.contextmanager
def gateway_process(config: Path, source: Path | None) -> Iterator[tuple[str, int]]:
    """A gateway (``python -m gateway serve``) with an empty cache: its URL and pid."""
    port = int(json.loads(config.with_suffix(".port").read_text()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    process = subprocess.Popen(command, env=env, cwd=source or None)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def ask(client: httpx.Client, url: str, token: str, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = client.post(
        f"{url}/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
    ).json()
    return (time.perf_counter() - started) * 1000, answer


def source_calls(urls: dict[str, str]) -> int:
    """Requests the emulators served since the last reset (token requests left out)."""
    total = 0
    for url in urls.values():
        recent = httpx.get(f"{url}/__requests").json()
        total += recent["count"] - sum(
            1 for r in recent["recent"] if r["path"].endswith("/oauth/token")
        )
    return total


def time_query(
    config: Path, source: Path | None, urls: dict[str, str], token: str, body: dict, repeat: int
) -> Timing:
    """Cold once on a fresh gateway, then warm ``repeat`` times."""
    with gateway_process(config, source) as (url, pid), httpx.Client(timeout=120) as client:
        for emulator in urls.values():
            httpx.delete(f"{emulator}/__requests")
        cpu = cpu_seconds(pid)
        cold_ms, answer = ask(client, url, token, body)
        cold_cpu = cpu_seconds(pid) - cpu
        calls = source_calls(urls)
        warm, warm_cpu = [], []
        for _ in range(repeat):
            cpu = cpu_seconds(pid)
            warm.append(ask(client, url, token, body)[0])
            warm_cpu.append(cpu_seconds(pid) - cpu)
    if answer.get("errors"):
        return Timing(cold_ms, warm, calls, cold_cpu, 0.0, 0, 0, 0, answer["errors"][0]["message"])
    rows = next(iter(answer["data"]["stats"].values()))
    hidden = sum(1 for row in rows if row["suppressed"])
    withheld = sum(1 for row in rows if not row["suppressed"] and row["patients"] is None)
    warm_cpu_s = statistics.median(warm_cpu)
    return Timing(cold_ms, warm, calls, cold_cpu, warm_cpu_s, len(rows), hidden, withheld, None)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12, help="length of the period")
    parser.add_argument("--repeat", type=int, default=5, help="warm asks per query")
    parser.add_argument("--gateway-src", type=Path, default=None)
    args = parser.parse_args()
    data_dir = BENCH_DIR / f"population-7-{args.population}"
    today = today_in_almaty()  # the population is generated for today (ensure_population)
    ensure_population(data_dir, args.population, 7, today)
    period = whole_months(today, args.months)
    work = Path(tempfile.mkdtemp(prefix="ehp-bench-stats-"))
    issuer = DemoIssuer.create(work / "keys")
    token = issuer.issue("manager", "bench-manager", ttl_s=4 * 3600)
    with start_emulators(data_dir, free_port(7)) as emulators:
        port = free_port()
        config = write_config(work, emulators.urls, issuer, port)
        config.with_suffix(".port").write_text(str(port))
        print(
            f"population {args.population:,}, period {period['from']} .. {period['to']}, "
            f"{args.repeat} warm asks per query, k = 5, gateway "
            f"{args.gateway_src or 'of this checkout'}\n"
        )
        print(
            "| query | cold ms | warm p50 ms | source calls (cold) | gateway CPU cold s "
            "| CPU warm ms | rows | suppressed | patients withheld |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        bodies = [(n, {"query": q, "variables": {**period, "g": g}}) for n, q, g in QUERIES]
        bodies.append(("prevalence (E11)", {"query": PREVALENCE, "variables": {"icd10": "E11"}}))
        for name, body in bodies:
            t = time_query(config, args.gateway_src, emulators.urls, token, body, args.repeat)
            if t.error:
                cells = f"{t.cold_ms:.0f} | - | {t.source_calls} | - | - | error: {t.error} |"
                print(f"| {name} | {cells} |")
                continue
            print(
                f"| {name} | {t.cold_ms:.0f} | {statistics.median(t.warm_ms):.1f} | "
                f"{t.source_calls} | {t.cold_cpu_s:.2f} | {t.warm_cpu_s * 1000:.0f} | "
                f"{t.rows} | {t.suppressed} | {t.withheld} |"
            )


if __name__ == "__main__":
    main()
