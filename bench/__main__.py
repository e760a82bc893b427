"""``python -m bench [--quick] [--profile]``: the side-by-side benchmark of issue 8.

Starts the emulators (every answer delayed by ``--latency-ms``) over a 1,000-person population
and the gateway (``python -m gateway serve``: one uvicorn worker, uvloop + httptools) pinned to
CPU 0, then runs S1 (cold passport latency), S2 (upstream calls), S3 (warm throughput beside
a bare Starlette floor, wrk pinned to CPU 1) and S4 (emergency with a hung source); then a
second stack over 100,000 people for S5 (stats). Writes ``bench/results/report.md`` and
``report.json``. ``--quick`` shortens every run to a smoke test; ``--profile`` also records
py-spy profiles of the gateway under the warm (S3) and cold (S1) loads.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import time
from pathlib import Path

from bench.report import Run, render, write_report
from bench.scenarios import (
    profile,
    s1_cold,
    s2_calls,
    s3_warm,
    s4_emergency_hung,
    s5_stats,
    s6_cold_throughput,
)
from bench.scenarios.load import GATEWAY_CPU, LOAD_CPU, Sequence, pinned, run_wrk
from bench.stack import REPO, BenchStack, bench_stack
from tests.e2e.test_passport import FULL_PASSPORT

RESULTS = REPO / "bench" / "results"
README = REPO / "bench" / "README.md"
SECTION = "## Side by side (issue 8)"
LATEST = "### Latest report"
EMERGENCY_DEADLINE_MS = 800  # gateway.config PolicySettings default, named in the config below


def _settings(args: argparse.Namespace) -> dict:
    quick = args.quick
    return {
        "population": 1000,
        "stats population": args.stats_population or (1000 if quick else 100_000),
        "source latency ms": args.latency_ms,
        "S1 people": 8 if quick else 60,
        "S3 people": 20 if quick else 50,
        "S3 seconds": 3 if quick else 15,
        "S4 people": 25 if quick else 200,
        "S5 repeats": 1 if quick else 5,
        "S6 seconds": 3 if quick else 15,
        "emergency deadline ms": EMERGENCY_DEADLINE_MS,
        "gateway CPU": GATEWAY_CPU,
        "load CPU": LOAD_CPU,
    }


def _profiles(stack: BenchStack, people: dict[str, list[str]], seconds: int) -> dict:
    """py-spy under the warm load (wrk) and under cold passports one at a time."""
    out: dict[str, list[dict]] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    requests = s3_warm._requests(stack, people["S3"])
    warm = profile.Recording(stack.gateway_pid, seconds, RESULTS / "profile-s3-warm.txt")
    run_wrk(stack.url, requests, s3_warm.CONNECTIONS, seconds + 1)
    raw = warm.wait()
    out["S3 warm, self time"] = profile.aggregate(raw)
    out["S3 warm, inclusive time"] = profile.inclusive(raw)
    out["S3 warm, by package"] = profile.by_package(raw)
    # Native frames show the garbage collector, which a Python-only profile spreads around.
    native = profile.Recording(
        stack.gateway_pid, seconds, RESULTS / "profile-s3-native.txt", native=True
    )
    run_wrk(stack.url, requests, s3_warm.CONNECTIONS, seconds + 1)
    share = profile.gc_share(native.wait())
    out["S3 warm, native: garbage collector"] = [
        {
            "function": "gc_collect_main (CPython)",
            "inclusive_pct": share["GC share of busy %"],
            "self_pct": share["GC share of busy %"],
        }
    ]
    cold = profile.Recording(stack.gateway_pid, seconds, RESULTS / "profile-s1-cold.txt")
    sequence = Sequence(stack.url)
    with pinned(LOAD_CPU):
        for iin in people["profile"]:
            if not cold.running():
                break
            sequence.post(
                stack.patient_token(iin), {"query": FULL_PASSPORT, "variables": {"iin": iin}}
            )
    sequence.close()
    raw = cold.wait()
    out["S1 cold, self time"] = profile.aggregate(raw)
    out["S1 cold, inclusive time"] = profile.inclusive(raw)
    out["S1 cold, by package"] = profile.by_package(raw)
    return out


def _split(people: list[str], sizes: dict[str, int]) -> dict[str, list[str]]:
    """Disjoint groups of people, so each scenario's reads are cold where they must be."""
    groups, start = {}, 0
    for name, size in sizes.items():
        groups[name] = people[start : start + size]
        start += size
    return groups


def _checkpoint(result: Run) -> None:
    """Write the report so far, so a failing later scenario does not lose the earlier ones."""
    result.machine.load_after = os.getloadavg()
    write_report(result, RESULTS)


def run(args: argparse.Namespace) -> Run:
    """Every scenario on its stack; the filled-in run (written out after each scenario)."""
    settings = _settings(args)
    result = Run.begin(args.quick, settings)
    only = {name.strip().upper() for name in args.only.split(",")} if args.only else None
    if only is None or only & {"S1", "S2", "S3", "S4"}:
        _first_stack(args, settings, result)
    if (only is None and not args.skip_stats) or (only and "S5" in only):
        print(f"S5: stats over {settings['stats population']:,} people ...", flush=True)
        with bench_stack(
            population=settings["stats population"],
            latency_ms=args.latency_ms,
            gateway_cpu=GATEWAY_CPU,
        ) as stack:
            stats = s5_stats.run(stack, settings["S5 repeats"])
            result.measurements.extend(s5_stats.measurements(stats))
        _checkpoint(result)
    if only is None or "S6" in only:
        _cold_stack(args, settings, result)
    result.machine.load_after = os.getloadavg()
    return result


def _cold_stack(args: argparse.Namespace, settings: dict, result: Run) -> None:
    """S6 on a stack whose sources all have ``ttl_s = 0``, once per ``--transports`` entry."""
    transports = [t for t in args.transports.split(",") if t] or [None]
    stacks: dict[frozenset[str], list[s6_cold_throughput.Variant]] = {}
    for variant in s6_cold_throughput.VARIANTS:  # one stack per set of warm sources
        stacks.setdefault(variant.warm_sources, []).append(variant)
    for transport, (warm, variants) in itertools.product(transports, stacks.items()):
        # The experiment hook of bench_stack: the transport set before the gateway starts.
        prelude = f"import gateway.sources.http as h; h.TRANSPORT = {transport!r}"
        with bench_stack(
            latency_ms=args.latency_ms,
            gateway_cpu=GATEWAY_CPU,
            python_prelude=prelude if transport else "",
            source_ttl_s=0,
            warm_sources=warm,
            # Queueing on the gateway's one core (or a busy machine) must not open breakers:
            # S6 measures the work of answered requests, not resilience (that is S4).
            source_timeout_ms=s6_cold_throughput.SOURCE_TIMEOUT_MS,
            policy={"request_deadline_ms": s6_cold_throughput.REQUEST_DEADLINE_MS},
        ) as stack:
            people = s1_cold.cold_people(stack)
            for variant in variants:
                label = variant.key + (f" [{transport}]" if transport else "")
                print(f"{label}: {variant.title} ...", flush=True)
                out = None
                if args.profile:
                    RESULTS.mkdir(parents=True, exist_ok=True)
                    out = RESULTS / f"profile-{variant.key.lower()}{transport or ''}.txt"
                load = s6_cold_throughput.run_variant(
                    stack, variant, people, settings["S6 seconds"], out
                )
                row = s6_cold_throughput.measurement(load)
                row.scenario = label
                result.measurements.append(row)
                if load.components:
                    result.profiles[f"{label} cold, event loop by component"] = load.components
                _checkpoint(result)


def _first_stack(args: argparse.Namespace, settings: dict, result: Run) -> None:
    """S1 to S4 (and the profiles) on one stack with the configured TTLs."""
    latency = args.latency_ms
    policy = {"emergency_deadline_ms": EMERGENCY_DEADLINE_MS}
    with bench_stack(latency_ms=latency, gateway_cpu=GATEWAY_CPU, policy=policy) as stack:
        people = _split(
            s1_cold.cold_people(stack),
            {
                "warmup": 20,
                "S1": settings["S1 people"],
                "S3": settings["S3 people"],
                "S4": settings["S4 people"],
                "profile": 400,
            },
        )
        print("S1/S2: cold passports ...", flush=True)
        cold = s1_cold.run(stack, people["warmup"], people["S1"], latency)
        result.measurements.append(s1_cold.measurement(cold))
        result.measurements.append(s2_calls.measurement(cold, len(stack.urls)))
        _checkpoint(result)
        print("S3: warm passports and the floor ...", flush=True)
        warm = s3_warm.run(stack, people["S3"], settings["S3 seconds"])
        result.measurements.extend(s3_warm.measurements(warm))
        _checkpoint(result)
        if args.profile:
            print("profiles (py-spy) ...", flush=True)
            result.profiles = _profiles(stack, people, 3 if args.quick else 10)
            _checkpoint(result)
        print("S4: emergency with a hung source ...", flush=True)
        hung = s4_emergency_hung.run(stack, people["S4"], EMERGENCY_DEADLINE_MS, latency)
        result.measurements.extend(s4_emergency_hung.measurements(hung))
        _checkpoint(result)


def update_readme(markdown: str, readme: Path = README) -> None:
    """Put this report under "Latest report" in the issue-8 section of ``bench/README.md``.

    The rest of the section (set-up, scenarios, findings: written by hand) is kept; a missing
    section is appended with the set-up text. Other sections are not touched.
    """
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Benchmarks\n"
    report = f"{LATEST}\n\n{_demote(markdown)}"
    start = text.find(SECTION)
    if start < 0:
        readme.write_text(f"{text.rstrip()}\n\n{SECTION}\n\n{_HOWTO}\n{report}", encoding="utf-8")
        return
    end = text.find("\n## ", start + len(SECTION))
    end = len(text) if end < 0 else end + 1
    section = text[start:end]
    cut = section.find(LATEST)
    head = section[:cut] if cut >= 0 else section.rstrip() + "\n\n"
    rest = text[end:]
    readme.write_text(
        text[:start] + head + report + ("\n" + rest if rest else ""), encoding="utf-8"
    )


def _demote(markdown: str) -> str:
    """Report headings one level down, under "Latest report"."""
    return "\n".join(
        "#" + line if line.startswith("### ") else line for line in markdown.split("\n")
    )


_HOWTO = """Set-up: the project's venv (`pip install -e .`), `wrk` (`apt-get install -y wrk`),
`taskset` (util-linux), and for `--profile` py-spy (`.venv/bin/pip install py-spy`). Then:

```sh
.venv/bin/python -m bench            # every scenario, about 3 to 5 minutes (+3.5 min the first
                                     # time: the 100,000-person population is generated)
.venv/bin/python -m bench --quick    # the same in short runs: a smoke test, figures indicative
.venv/bin/python -m bench --profile  # also py-spy profiles of the warm and cold paths
```

It writes `bench/results/report.md` and `report.json` (`--update-readme` also puts the
markdown below). The gateway runs as `python -m gateway serve` (one uvicorn worker, uvloop +
httptools) pinned to CPU 0 with `taskset`; `wrk` (1 thread, `bench/wrk/graphql.lua` POSTing
GraphQL with a bearer token per person) and the timing client run on CPU 1; the emulators
are not pinned. Every emulator delays every answer by 50 ms (`__faults` `latency_ms`).

- **S1** cold full passport (`tests/e2e/test_passport.py` `FULL_PASSPORT`), patient role,
  concurrency 1, a person never read before each time (20 people read first so the register's
  organisations and practitioners and the DPS token are known); ratio = p50 / 50 ms.
- **S2** upstream calls per S1 passport from the emulators' `__requests` logs, read and reset
  after each passport: calls, distinct instances, calls by endpoint.
- **S3** warm full passports of 50 people (each with their own token) at 32 connections,
  then the floor: `bench/scenarios/floor.py`, a bare Starlette endpoint on the same core
  serving the very bytes the gateway answered for each person, driven the same way.
- **S4** `emergency` (role EMERGENCY) of a new person each time, concurrency 1, with
  `ehr-astana` hung (`POST /__faults {"hang": true}`); split into the requests before the
  breaker opened (5 consecutive timeouts, `BreakerSettings`) and after.
- **S5** each `stats` query of `bench/stats.py` over 100,000 people, one whole month each, cold
  (a month not asked before in that grouping) and then the same query warm.
- **S6** cold reads under load (issue 14), the sources read at `ttl_s = 0`: (a)
  `labResults` and `dispensations` of 50 people rotated at 50 connections, one LIS and one
  DPS call each (the register keeps its TTL, as issue 14 measured it), (a-all) the same with
  the register at TTL 0 too, (b) the full passport of 300 people rotated at 32 connections,
  every source at TTL 0; gateway CPU ms per request (the goal),
  upstream calls per request by endpoint, the audit writer thread's share of the CPU, and
  with `--profile` the event loop's CPU by component. `--only S6` runs it alone,
  `--transports httpcore,aiohttp` once per HTTP transport.
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--profile", action="store_true", help="py-spy the warm and cold paths")
    parser.add_argument("--update-readme", action="store_true", help="copy into bench/README.md")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--stats-population", type=int, default=None)
    parser.add_argument("--skip-stats", action="store_true", help="leave S5 out")
    parser.add_argument(
        "--transports",
        default="",
        help="S6 once per HTTP transport (gateway.sources.http.TRANSPORT), e.g. httpcore,aiohttp",
    )
    parser.add_argument(
        "--only", default="", help="only these, e.g. S6 or S5,S6 (S1 to S4 run together)"
    )
    args = parser.parse_args(argv)
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.stderr.write(f"missing: {', '.join(missing)} (apt-get install -y wrk util-linux)\n")
        return 2
    if (os.cpu_count() or 1) < 2:
        sys.stderr.write("needs two CPUs: the gateway on CPU 0, the load on CPU 1\n")
        return 2
    started = time.monotonic()
    result = run(args)
    markdown_path, json_path = write_report(result, RESULTS)
    markdown = render(result)
    if args.update_readme:
        update_readme(markdown)
    print(markdown)
    print(f"wrote {markdown_path} and {json_path} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
