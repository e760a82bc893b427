"""Emulator throughput: each emulator alone on CPU 1, a load generator on CPU 0.

``python -m bench.emulators [--population N] [--duration S] [--connections C]``
prints a markdown table of simple-request throughput, latency and the server's own
CPU use, so benchmarks of the gateway can show the emulators are not the bottleneck.
Uses ``wrk`` when installed, else an asyncio + httpx loop (slower: it measures itself too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.stack import cpu_seconds
from emulators.serve import Credentials, base_url, ensure_population

REPO = Path(__file__).resolve().parent.parent
SERVER_CPU = "1"
LOAD_CPU = "0"


@dataclass
class Target:
    """One emulator under load: the paths to rotate through and the headers to send."""

    system: str
    description: str
    paths: list[str]
    headers: dict[str, str]


@dataclass
class Result:
    """What one run measured."""

    system: str
    description: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu: float


def _start(system: str, port: int, data_dir: Path) -> subprocess.Popen:
    command = [
        "taskset",
        "-c",
        SERVER_CPU,
        sys.executable,
        "-m",
        "emulators",
        "run-one",
        f"--system={system}",
        f"--port={port}",
        f"--data-dir={data_dir}",
    ]
    proc = subprocess.Popen(command, cwd=REPO)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base_url(system, port)}/__requests", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{system} did not start") from None
            time.sleep(0.1)


def _targets(truth: dict, credentials: Credentials) -> list[Target]:
    people = truth["people"]
    iins = list(people)[:200]
    fhir = {"Authorization": f"Bearer {credentials.fhir_token}"}
    targets = [Target("register", "Patient?identifier=", [], fhir)]
    targets[0].paths = [f"/fhir/Patient?identifier=urn:kz:iin%7C{iin}" for iin in iins]
    for region in ("astana", "almaty", "shymkent"):
        local = [iin for iin, p in people.items() if region in p["ehrRegions"]][:200]
        paths = [f"/fhir/Condition?patient.identifier=urn:kz:iin%7C{iin}" for iin in local]
        targets.append(Target(f"ehr-{region}", "Condition?patient.identifier=", paths, fhir))
    in_lis = [iin for iin in iins if people[iin]["inLis"]]
    targets.append(
        Target(
            "lis",
            "GET /api/v2/patients/{iin}/orders",
            [f"/api/v2/patients/{iin}/orders" for iin in in_lis],
            {"X-Api-Key": credentials.lis_key},
        )
    )
    targets.append(
        Target(
            "dps",
            "GET /v1/patients/{iin}/prescriptions",
            [f"/v1/patients/{iin}/prescriptions?status=all" for iin in iins],
            {},  # the bearer token is fetched once the process is up
        )
    )
    basic = httpx.BasicAuth(credentials.ambulance_user, credentials.ambulance_password)
    authorization = next(basic.auth_flow(httpx.Request("GET", "http://x"))).headers
    targets.append(
        Target(
            "ambulance",
            "GET /api/calls?iin=",
            [f"/api/calls?iin={iin}" for iin in iins],
            {"Authorization": authorization["Authorization"]},
        )
    )
    return targets


def _dps_token(url: str, credentials: Credentials) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials.dps_client_id,
        "client_secret": credentials.dps_secret,
    }
    return httpx.post(f"{url}/oauth/token", data=form).json()["access_token"]


_WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format(nil, paths[i])
end
"""


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _run_wrk(url: str, target: Target, duration: int, connections: int) -> tuple:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % ", ".join(f'"{p}"' for p in target.paths))
    command = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
    for name, value in target.headers.items():
        command += ["-H", f"{name}: {value}"]
    command += ["--latency", "-s", script.name, url]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(errors_match.group(1)) if errors_match else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"), errors


def _run_httpx(url: str, target: Target, duration: int, connections: int) -> tuple:
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, offset: int, stop_at: float) -> None:
        nonlocal errors
        i = offset
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            answer = await client.get(target.paths[i % len(target.paths)])
            latencies.append((time.perf_counter() - started) * 1000)
            errors += answer.status_code >= 400
            i += 1

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=url, headers=target.headers, limits=limits) as c:
            started = time.monotonic()
            stop_at = started + duration
            await asyncio.gather(*(worker(c, n, stop_at) for n in range(connections)))
            return time.monotonic() - started

    elapsed = asyncio.run(main())
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    return len(latencies) / elapsed, p50, p99, errors


def measure(data_dir: Path, duration: int, connections: int, port_base: int) -> list[Result]:
    """Load each emulator in turn, alone on the server CPU; return what was measured."""
    import json

    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    credentials = Credentials()
    systems = ["register", "ehr-astana", "ehr-almaty", "ehr-shymkent", "lis", "dps", "ambulance"]
    ports = {system: port_base + i for i, system in enumerate(systems)}
    urls = {system: base_url(system, port) for system, port in ports.items()}
    runner = _run_wrk if shutil.which("wrk") else _run_httpx
    results = []
    for target in _targets(truth, credentials):
        proc = _start(target.system, ports[target.system], data_dir)
        try:
            if target.system == "dps":
                token = _dps_token(urls["dps"], credentials)
                target.headers = {"Authorization": f"Bearer {token}"}
            root = f"http://127.0.0.1:{ports[target.system]}"
            runner(root, target, 1, connections)  # warm up caches and the page cache
            before = cpu_seconds(proc.pid)
            started = time.monotonic()
            rps, p50, p99, errors = runner(root, target, duration, connections)
            cpu = (cpu_seconds(proc.pid) - before) / (time.monotonic() - started)
        finally:
            proc.terminate()
            proc.wait()
        results.append(Result(target.system, target.description, rps, p50, p99, errors, cpu * 100))
    return results


def machine() -> str:
    """One line naming the machine the figures come from."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def table(results: list[Result], tool: str, duration: int, connections: int) -> str:
    """The markdown report of one benchmark run."""
    lines = [
        f"Machine: {machine()}. Server pinned to CPU {SERVER_CPU}, {tool} on CPU {LOAD_CPU}, "
        f"{connections} connections, {duration} s per emulator.",
        "",
        "| emulator | request | req/s | p50 ms | p99 ms | errors | server CPU |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.system} | `{r.description}` | {r.requests_per_s:,.0f} | {r.p50_ms:.1f} |"
            f" {r.p99_ms:.1f} | {r.errors} | {r.server_cpu:.0f}% |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) a population, measure every emulator, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulators")
    parser.add_argument("--population", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--port-base", type=int, default=9201)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / (
        f"ehp-population-seed{args.seed}-size{args.population}"
    )
    ensure_population(data_dir, args.population, args.seed)
    results = measure(data_dir, args.duration, args.connections, args.port_base)
    tool = "wrk" if shutil.which("wrk") else "httpx load loop"
    print(table(results, tool, args.duration, args.connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
