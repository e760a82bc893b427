"""The benchmark's report writer, README section and profile aggregation, on canned numbers.

The benchmark itself (``python -m bench``) takes minutes and two CPUs; it is not run here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench import execution
from bench.__main__ import SECTION, update_readme
from bench.report import Machine, Measurement, Run, write_report
from bench.scenarios import profile, s2_calls
from bench.scenarios.load import LoadResult, Usage
from bench.scenarios.s1_cold import ColdRun
from bench.stack import write_config
from emulators.serve import SYSTEMS
from gateway.auth.issuer import DemoIssuer
from gateway.config import load_settings


def _row(scenario: str, rps: float | None, p99: float, met: bool | None) -> Measurement:
    return Measurement(
        scenario=scenario,
        title="canned",
        requests=1234,
        duration_s=10.0,
        rps=rps,
        p50_ms=10.0,
        p95_ms=20.0,
        p99_ms=p99,
        max_ms=40.0,
        errors=0,
        upstream_calls_per_request=8.0,
        gateway_cpu_pct=99.5,
        gateway_peak_rss_mb=120.0,
        emulator_cpu_pct=3.0,
        goal="a goal" if met is not None else "",
        measured="a figure",
        goal_met=met,
        details={"people rotated": 50},
    )


def _run() -> Run:
    machine = Machine(2, "Canned CPU", "3.11.7", (1.0, 2.0, 3.0), (4.0, 5.0, 6.0))
    rows = [_row("S1", None, 30.0, True), _row("S3", 456.7, 88.8, False)]
    hot = [{"function": "execute (graphql/x.py)", "inclusive_pct": 60.0, "self_pct": 12.5}]
    return Run("2026-11-25 10:00 UTC", False, {"population": 1000}, machine, rows, {"S3": hot})


def test_report_writer_writes_markdown_and_json(tmp_path: Path) -> None:
    markdown, data = write_report(_run(), tmp_path / "results")
    text = markdown.read_text(encoding="utf-8")
    assert "2 CPUs (Canned CPU)" in text
    assert "before: 1.00 / 2.00 / 3.00, after: 4.00 / 5.00 / 6.00" in text
    assert "| S1 | a goal | a figure | yes |" in text
    assert "| S3 | a goal | a figure | **no** |" in text
    assert (
        "| S3 canned | 1,234 | 456.7 | 10.0 | 20.0 | 88.8 | 40.0 | 0 | 8.00 | 100% | 120 | 3% |"
        in text
    )
    assert "| S1 canned | 1,234 | – |" in text  # no rate for a one-at-a-time scenario
    assert "| `execute (graphql/x.py)` | 60.0% | 12.5% |" in text
    saved = json.loads(data.read_text(encoding="utf-8"))
    assert saved["machine"]["cpus"] == 2
    assert [m["scenario"] for m in saved["measurements"]] == ["S1", "S3"]
    assert saved["measurements"][1]["rps"] == 456.7
    assert saved["measurements"][1]["goal_met"] is False


def test_readme_section_is_replaced_and_the_others_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Emulator throughput\n\nkeep me\n", encoding="utf-8")
    update_readme("first report\n", readme)
    update_readme("### Goals\nsecond report\n", readme)
    text = readme.read_text(encoding="utf-8")
    assert text.count(SECTION) == 1
    assert "keep me" in text and "first report" not in text
    assert "#### Goals\nsecond report" in text  # demoted under "Latest report"
    findings = text.replace("### Latest report", "### Findings\n\nby hand\n\n### Latest report")
    readme.write_text(findings + "\n## Later section\n\nalso kept\n", encoding="utf-8")
    update_readme("third report\n", readme)
    text = readme.read_text(encoding="utf-8")
    assert "also kept" in text and "third report" in text and "second report" not in text
    assert "### Findings\n\nby hand" in text and text.count(SECTION) == 1


def test_profile_shares_count_each_function_once_per_stack(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (app.py:1);handle (view.py:10);execute (graphql/executor.py:5) 6\n"
        "main (app.py:1);handle (view.py:12);handle (view.py:20) 2\n"
        "main (app.py:1);encode (view.py:40) 2\n"
        "_bootstrap (threading.py:1);_worker (concurrent/futures/thread.py:83) 90\n",
        encoding="utf-8",
    )
    rows = {r["function"]: r for r in profile.aggregate(raw)}
    # The idle thread-pool worker is left out: 10 busy samples in all.
    assert "_worker (concurrent/futures/thread.py)" not in rows
    assert rows["execute (graphql/executor.py)"]["self_pct"] == 60.0
    assert rows["handle (view.py)"]["inclusive_pct"] == 80.0  # recursion counted once
    assert rows["handle (view.py)"]["self_pct"] == 20.0
    callers = {r["function"]: r for r in profile.inclusive(raw)}
    assert callers["main (app.py)"]["inclusive_pct"] == 100.0
    assert callers["main (app.py)"]["self_pct"] == 0.0
    packages = {r["function"]: r for r in profile.by_package(raw)}
    assert packages["graphql"]["self_pct"] == 60.0


def test_calls_per_passport_and_distinct_instances() -> None:
    calls = [
        Counter({"dps GET /v1/p/{iin}/prescriptions": 1, "dps GET /v1/p/{iin}/dispensations": 1}),
        Counter({"register GET /fhir/Patient": 2, "lis GET /orders": 1}),
    ]
    timing = LoadResult(2, 1.0, 0, 70.0, 80.0, 80.0, 80.0)
    cold = ColdRun(50.0, timing, Usage(10.0, 100.0, 5.0), calls)
    row = s2_calls.measurement(cold, instances=7)
    assert row.upstream_calls_per_request == 2.5
    assert "2.50 calls (min 2, max 3) to 1.50 distinct instances" in row.measured
    assert row.goal_met is True


def test_the_execution_bench_runs_and_compares_like_with_like(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert execution.main(["--rounds", "1", "--requests", "20"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures["documents_us"]) == {"stock", "ours"}
    assert set(figures["completion_us"]) == {"graphql-core", "plans"}
    assert all(value > 0 for part in figures.values() for value in part.values())


def test_profile_components_go_by_the_innermost_known_frame(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    loop = "main (x.py:1);Runner.run (asyncio/runners.py:118)"
    raw.write_text(
        f"{loop};fetch (gateway/sources/http.py:9);send (httpx/_client.py:3) 4\n"
        f"{loop};_call (gateway/sources/fetcher.py:1);timeout (asyncio/timeouts.py:2) 2\n"
        f"{loop};_load (gateway/sources/fetcher.py:1);encode_record (gateway/records.py:4) 1\n"
        f"{loop};execute (graphql/execution/executor.py:1) 2\n"
        f"{loop} 1\n"
        "_bootstrap (threading.py:1);_append_batch (gateway/audit/sqlite_store.py:1) 5\n",
        encoding="utf-8",
    )
    shares = {r["function"]: r["self_pct"] for r in profile.components(raw)}
    # The audit writer's thread is left out: 10 samples of the event loop's thread.
    assert shares == {
        "HTTP client": 40.0,
        "cache, single-flight, resilience": 20.0,
        "GraphQL execution": 20.0,
        "record codec": 10.0,
        profile.OTHER: 10.0,
    }


def test_cold_stack_config_keeps_the_warm_sources_ttl(tmp_path):
    # S6a reads LIS and DPS at TTL 0 while the register keeps its own TTL (issue 14's setup).
    urls = {system: f"http://127.0.0.1:{9000 + n}" for n, system in enumerate(SYSTEMS)}
    issuer = DemoIssuer.create(tmp_path / "keys")
    path = write_config(tmp_path, urls, issuer, 8999, 0, None, frozenset({"register"}))
    ttl = {source.name: source.ttl_s for source in load_settings(path).sources}
    assert ttl.pop("register") == 3600
    assert ttl and set(ttl.values()) == {0}
