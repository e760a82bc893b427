"""Warm full-passport throughput of one gateway worker on one core (issue 5).

``python -m bench.warm_passport [--population N] [--people P] [--duration S] [--connections C]``

Starts the seven emulators (``emulators.serve.start_emulators``), then for each mode a
gateway ``python -m gateway serve`` pinned to CPU 0 (uvicorn picks uvloop + httptools when
installed), warms it with one passport per person, and drives it from CPU 1 with ``wrk``
(1 thread, a Lua script POSTing the full-passport query with each patient's own bearer
token, rotating through P people). Modes:

- ``warm``: the configured TTLs (300-3600 s), so every source item is a cache hit;
- ``uncached``: every source's ``ttl_s = 0``, so every passport asks all seven emulators
  (the "before" figure: what the gateway costs without its cache);
- ``traced``: ``warm`` with ``[telemetry] otlp_endpoint`` set to an OTLP/HTTP sink in this
  process, so each passport makes its spans and the gateway exports them (issue 15.4: the
  cost of tracing is ``traced`` against ``warm``);
- ``sampled``: ``traced`` with one trace in ten kept (the SDK's standard
  ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``, ``OTEL_TRACES_SAMPLER_ARG=0.1``).

``--language kk`` (or ru, en) sends that ``Accept-Language`` with every request: the cost of
saying every display in a language (without it, the gateway's default, Kazakh).

Prints a markdown table and one JSON line per mode. "Gateway CPU" is the gateway process's
own user + system time over the run, as a share of one core (``/proc/PID/stat``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.stack import UNLIMITED, cpu_seconds, free_port
from emulators.serve import ensure_population, sources_toml, start_emulators
from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer

REPO = Path(__file__).resolve().parent.parent
GATEWAY_CPU = "0"
LOAD_CPU = "1"
SEED = 7

PASSPORT = """query($iin: IIN!) { passport(iin: $iin) {
  iin
  identity { iin familyName givenName patronymic fullName birthDate sex age region }
  careTeam { attachedOrganization { bin name region } generalPractitioner { id name } }
  emergency { bloodGroup allergies { substance { code display } criticality }
              activeProblems { code { code } } implants { code } weightKg }
  allergies { substance { system code display } category criticality reactions
              provenance { source region } }
  lifestyle { exerciseMinutesPerWeek sleepHoursPerDay }
  diagnosticStudies { code { code display } category date conclusion }
  labResults { test { code display } value numericValue unit referenceRange flag resultedAt
               orderNumber }
  physiologicalState { pregnancy { status expectedDeliveryDate } bloodPressure heartRate }
  riskBehaviours { smoking alcoholAuditC drugUse }
  immunizations { vaccine { code } date doseNumber }
  screenings { code { code } date outcome }
  problems(includeResolved: true) { code { code display } status onset
                                    provenance { source region } }
  currentMedications { code { code } name dose { value unit } timesPerDay route since }
  anthropometrics { weightKg heightCm bmi waistCm measuredAt }
  encounters { kind start end organization { bin } diagnosis { code } }
  dispensations { drug { code } name quantity amountKzt program dispensedAt }
  sources { source ok stale fetchedAt error }
} }"""

LUA = """
local bodies = {%(bodies)s}
local tokens = {%(tokens)s}
local i = 0
request = function()
  i = (i %% #bodies) + 1
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[i],%(language)s
  }, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"socket_errors\\": %%d, " ..
    "\\"non2xx\\": %%d, \\"p50_us\\": %%d, \\"p90_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


@dataclass
class Result:
    """What one mode measured."""

    mode: str
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    gateway_cpu: float
    requests: int
    spans: int = 0  # spans exported (traced mode), over the warm-up and the run


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


class SpanSink:
    """An OTLP/HTTP collector stand-in on loopback that counts the spans it is sent."""

    def __init__(self) -> None:
        self.spans = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest.FromString(body)
                sink.spans += sum(
                    len(scope.spans)
                    for spans in request.resource_spans
                    for scope in spans.scope_spans
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()


def write_config(
    path: Path,
    urls: dict[str, str],
    issuer: DemoIssuer,
    port: int,
    uncached: bool,
    otlp_endpoint: str = "",
) -> None:
    """The gateway's TOML (CONFIG.md) for these emulators; `uncached` sets every ttl_s to 0,
    `otlp_endpoint` turns tracing on."""
    sources = sources_toml(urls)
    if uncached:
        sources = re.sub(r"(?m)^ttl_s = \d+$", "ttl_s = 0", sources)
    tables = {
        "server": {"host": "127.0.0.1", "port": port},
        "auth": {
            "issuer": DEMO_ISSUER,
            "audience": DEMO_AUDIENCE,
            "jwks_file": str(issuer.jwks_path),
        },
        "cache": {"backend": "memory"},
        "audit": {
            "database_url": f"sqlite:///{path.parent / f'audit-{port}.db'}",
            "patient_key": "bench-audit-key-" + "0" * 32,
        },
        "telemetry": {"otlp_endpoint": otlp_endpoint},
        "limits": UNLIMITED,
    }
    lines = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines) + "\n" + sources, encoding="utf-8")


SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


def _start_gateway(config: Path, port: int, extra_env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    if shutil.which("taskset"):
        command = ["taskset", "-c", GATEWAY_CPU, *command]
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra_env}
    process = subprocess.Popen(command, cwd=REPO, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise TimeoutError("gateway did not start")


def _requests(issuer: DemoIssuer, iins: list[str]) -> list[tuple[str, str]]:
    """One (body, token) per person: each patient reads their own full passport."""
    return [
        (
            json.dumps({"query": PASSPORT, "variables": {"iin": iin}}),
            issuer.issue("patient", f"bench-{iin}", ttl_s=3600, iin=iin),
        )
        for iin in iins
    ]


def _warm(url: str, requests: list[tuple[str, str]], language: str | None) -> None:
    """One read per person (fills the cache); every answer must be complete and error-free."""
    with httpx.Client(timeout=30) as client:
        for body, token in requests:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            if language:
                headers["Accept-Language"] = language
            response = client.post(f"{url}/graphql", content=body, headers=headers)
            answer = response.json()
            if response.status_code != 200 or answer.get("errors"):
                raise RuntimeError(f"warm-up read failed: {response.status_code} {answer}")


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _run_wrk(
    url: str,
    requests: list[tuple[str, str]],
    duration: int,
    connections: int,
    language: str | None,
) -> dict:
    script_text = LUA % {
        "bodies": ", ".join(_lua_string(body) for body, _ in requests),
        "tokens": ", ".join(_lua_string(token) for _, token in requests),
        "language": f'\n    ["Accept-Language"] = "{language}",' if language else "",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(script_text)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script.name, url]
    if shutil.which("taskset"):
        command = ["taskset", "-c", LOAD_CPU, *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def measure(
    mode: str,
    urls: dict[str, str],
    issuer: DemoIssuer,
    iins: list[str],
    directory: Path,
    duration: int,
    connections: int,
    language: str | None = None,
) -> Result:
    """Start a pinned gateway in `mode`, warm it, load it with wrk, stop it."""
    port = free_port()
    config = directory / f"gateway-{mode}.toml"
    sink = SpanSink() if mode in ("traced", "sampled") else None
    endpoint = sink.url if sink is not None else ""
    write_config(config, urls, issuer, port, uncached=mode == "uncached", otlp_endpoint=endpoint)
    url = f"http://127.0.0.1:{port}"
    process = _start_gateway(config, port, SAMPLED if mode == "sampled" else {})
    try:
        requests = _requests(issuer, iins)
        _warm(url, requests, language)
        cpu_before, started = cpu_seconds(process.pid), time.monotonic()
        figures = _run_wrk(url, requests, duration, connections, language)
        cpu = (cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - started)
    finally:
        process.terminate()
        process.wait(timeout=30)  # a traced gateway sends its last spans on the way out
        if sink is not None:
            sink.close()
    return Result(
        mode=f"{mode} ({language})" if language else mode,
        requests_per_s=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["socket_errors"] + figures["non2xx"],
        gateway_cpu=cpu,
        requests=figures["requests"],
        spans=sink.spans if sink is not None else 0,
    )


def markdown(results: list[Result]) -> str:
    """The results as a markdown table."""
    rows = [
        "| mode | req/s | p50 ms | p90 ms | p99 ms | errors | gateway CPU | CPU ms / passport |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows += [
        f"| {r.mode} | {r.requests_per_s:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | "
        f"{r.p99_ms:.1f} | {r.errors} | {r.gateway_cpu:.0%} | "
        f"{1000 * r.gateway_cpu / r.requests_per_s:.2f} |"
        for r in results
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Run the modes and print markdown, then JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.warm_passport")
    parser.add_argument("--population", type=int, default=300)
    parser.add_argument("--people", type=int, default=50, help="distinct passports rotated")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--modes", default="warm,uncached")
    parser.add_argument("--language", choices=("kk", "ru", "en"), help="Accept-Language sent")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.stderr.write("wrk is required (apt-get install wrk)\n")
        return 2
    data_dir = Path(tempfile.gettempdir()) / f"ehp-bench-population-{args.population}-{SEED}"
    ensure_population(data_dir, args.population, SEED)
    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    iins = sorted(truth["people"])[: args.people]
    results = []
    with tempfile.TemporaryDirectory(prefix="ehp-bench-") as tmp:
        directory = Path(tmp)
        issuer = DemoIssuer.create(directory / "keys")
        with start_emulators(data_dir, free_port(7)) as emulators:
            for mode in args.modes.split(","):
                results.append(
                    measure(
                        mode,
                        emulators.urls,
                        issuer,
                        iins,
                        directory,
                        args.duration,
                        args.connections,
                        args.language,
                    )
                )
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, population "
        f"{args.population} (seed {SEED}), {len(iins)} passports rotated, wrk -t1 "
        f"-c{args.connections} -d{args.duration}s on CPU {LOAD_CPU}, gateway on CPU {GATEWAY_CPU}"
    )
    print(markdown(results))
    print(json.dumps([asdict(result) for result in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
