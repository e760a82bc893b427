"""A benchmark stack: emulators with a set latency, the gateway as its own process, tokens.

Shared by the benchmark scripts so each measures one thing. The gateway runs as
``python -m gateway serve`` (optionally pinned to a CPU with ``taskset``), the emulators
as their own processes, so the load generator never shares the gateway's interpreter.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from emulators.serve import ensure_population, sources_toml, start_emulators
from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer

REPO = Path(__file__).resolve().parent.parent
# Populations are generated once and reused (100,000 people take about two minutes).
BENCH_DIR = Path(tempfile.gettempdir()) / "ehp-bench"
# A benchmark is one caller (one address, few tokens) at thousands of requests a second: the
# request rates and the distinct-patients ceiling of [limits] are off (0) for it.
UNLIMITED = {"requests_per_minute": 0, "burst": 0, "distinct_patients_per_day": 0}


def free_port(count: int = 1) -> int:
    """A port with ``count`` consecutive free ports from it."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65000 and all(_is_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError("no free ports")


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class BenchStack:
    """Running emulators and gateway, with what a benchmark needs to drive them."""

    url: str
    urls: dict[str, str]
    issuer: DemoIssuer
    truth: dict[str, Any]
    gateway_pid: int
    emulator_pids: dict[str, int]

    def patient_token(self, iin: str) -> str:
        """A token for the patient ``iin``."""
        return self.issuer.issue("patient", f"bench-{iin}", iin=iin, ttl_s=4 * 3600)

    def reset_requests(self) -> None:
        """Zero the emulators' request counters."""
        for url in self.urls.values():
            httpx.delete(f"{url}/__requests")

    def request_logs(self) -> dict[str, dict]:
        """Each emulator's ``__requests`` answer (count and recent requests)."""
        return {name: httpx.get(f"{url}/__requests").json() for name, url in self.urls.items()}

    def request_counts(self) -> dict[str, int]:
        """Requests each emulator served since the last reset."""
        return {
            name: httpx.get(f"{url}/__requests").json()["count"] for name, url in self.urls.items()
        }


def write_config(
    directory: Path,
    urls: dict[str, str],
    issuer: DemoIssuer,
    port: int,
    source_ttl_s: int | None = None,
    source_timeout_ms: int | None = None,
    warm_sources: frozenset[str] = frozenset(),
    **sections: dict,
) -> Path:
    """The gateway TOML for the bench stack (``source_ttl_s``, ``source_timeout_ms``: every
    source's ``ttl_s`` and ``timeout_ms``; the ``warm_sources`` keep their own ``ttl_s``)."""
    audit = directory / f"audit-{secrets.token_hex(4)}.db"
    sections = {**sections, "limits": {**UNLIMITED, **sections.get("limits", {})}}
    extra = "".join(
        f"\n[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
        for name, values in sections.items()
    )
    text = f"""[server]
host = "127.0.0.1"
port = {port}

[auth]
issuer = "{DEMO_ISSUER}"
audience = "{DEMO_AUDIENCE}"
jwks_file = "{issuer.jwks_path}"

[audit]
database_url = "sqlite:///{audit}"
patient_key = "bench-audit-key-{"0" * 32}"
{extra}
{sources_toml(urls)}"""
    if source_ttl_s is not None:
        blocks = text.split("[[sources]]")
        for n, block in enumerate(blocks[1:], start=1):
            name = re.search(r'(?m)^name = "([^"]+)"$', block)
            if name is None or name.group(1) not in warm_sources:
                blocks[n] = re.sub(r"(?m)^ttl_s = \d+$", f"ttl_s = {source_ttl_s}", block)
        text = "[[sources]]".join(blocks)
    if source_timeout_ms is not None:
        text = re.sub(r"(?m)^timeout_ms = \d+$", f"timeout_ms = {source_timeout_ms}", text)
    path = directory / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def bench_stack(
    population: int = 1000,
    seed: int = 7,
    latency_ms: float = 0,
    gateway_cpu: int | None = None,
    python_prelude: str = "",
    source_ttl_s: int | None = None,
    source_timeout_ms: int | None = None,
    warm_sources: frozenset[str] = frozenset(),
    **sections: dict,
) -> Iterator[BenchStack]:
    """Emulators (with ``latency_ms`` on every answer) and the gateway process.

    ``source_ttl_s`` replaces every source's ``ttl_s`` (0: every read goes upstream) but
    that of the ``warm_sources``, ``source_timeout_ms`` every source's ``timeout_ms``.

    ``python_prelude`` (e.g. ``"import gc; gc.set_threshold(50_000)"``) runs in the gateway's
    interpreter before ``python -m gateway serve`` does: for experiments, not for the report.
    """
    data_dir = BENCH_DIR / f"population-{seed}-{population}"
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_population(data_dir, population, seed)
    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="ehp-bench-"))
    issuer = DemoIssuer.create(work / "keys")
    with start_emulators(data_dir, free_port(7), latency_ms=latency_ms) as emulators:
        port = free_port()
        config = write_config(
            work,
            emulators.urls,
            issuer,
            port,
            source_ttl_s,
            source_timeout_ms,
            warm_sources,
            **sections,
        )
        command = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
        if python_prelude:
            serve = f"from gateway.__main__ import main; raise SystemExit(main({command[3:]!r}))"
            command = [sys.executable, "-c", f"{python_prelude}\n{serve}"]
        if gateway_cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(gateway_cpu), *command]
        process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process)
            yield BenchStack(url, emulators.urls, issuer, truth, process.pid, emulators.pids)
        finally:
            process.terminate()
            process.wait(timeout=10)
            shutil.rmtree(work, ignore_errors=True)


def wait_ready(url: str, process: subprocess.Popen) -> None:
    """Return once the gateway answers ``/healthz``; RuntimeError if it exits or takes 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gateway exited at start")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    return cpu_seconds_of(Path(f"/proc/{pid}/stat"))


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU time of each thread of a process so far, by thread id."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = cpu_seconds_of(task / "stat")
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended while we looked
    return out


def cpu_seconds_of(stat: Path) -> float:
    """User + system CPU time from a ``/proc/.../stat`` file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
