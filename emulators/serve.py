"""Run the seven source-system emulators, each in its own process, on consecutive ports.

``start_emulators`` is the programmatic handle the gateway demo and the tests use;
``serve`` is ``python -m emulators serve``; ``run_one`` is what each child process runs.
``sources_toml`` writes the ``[[sources]]`` part of the gateway config (CONFIG.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import FrameType, TracebackType

import httpx
import uvicorn
from starlette.types import ASGIApp

from emulators.storage import database_path

HOST = "127.0.0.1"
# Order fixes the port offsets: register at the base port, ambulance at base + 6.
SYSTEMS: tuple[str, ...] = (
    "register",
    "ehr-astana",
    "ehr-almaty",
    "ehr-shymkent",
    "lis",
    "dps",
    "ambulance",
)
FHIR_SYSTEMS = frozenset({"register", "ehr-astana", "ehr-almaty", "ehr-shymkent"})
_REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Credentials:
    """What a client needs to call each emulator (the emulators' published demo defaults)."""

    fhir_token: str = "emulator-token"  # noqa: S105 - published demo token
    lis_key: str = "emulator-lis-key"
    dps_client_id: str = "ehp-gateway"
    dps_secret: str = "emulator-dps-secret"  # noqa: S105 - published demo secret
    ambulance_user: str = "ehp"
    ambulance_password: str = "emulator-ambulance"  # noqa: S105 - published demo password

    def as_args(self) -> list[str]:
        """The command-line flags that pass these credentials to ``run-one``."""
        return [
            f"--fhir-token={self.fhir_token}",
            f"--lis-key={self.lis_key}",
            f"--dps-client-id={self.dps_client_id}",
            f"--dps-secret={self.dps_secret}",
            f"--ambulance-user={self.ambulance_user}",
            f"--ambulance-password={self.ambulance_password}",
        ]

    def describe(self, system: str) -> str:
        """A one-line human summary of how to authenticate to ``system``."""
        if system in FHIR_SYSTEMS:
            return f"Authorization: Bearer {self.fhir_token}"
        if system == "lis":
            return f"X-Api-Key: {self.lis_key}"
        if system == "dps":
            return f"OAuth2 client {self.dps_client_id} / {self.dps_secret}"
        return f"Basic {self.ambulance_user} / {self.ambulance_password}"


def base_url(system: str, port: int, host: str = HOST) -> str:
    """The base URL a client uses for ``system`` (FHIR servers live under ``/fhir``)."""
    suffix = "/fhir" if system in FHIR_SYSTEMS else ""
    return f"http://{host}:{port}{suffix}"


def create_app(
    system: str, data_dir: Path, credentials: Credentials, lis_max_rps: float | None = None
) -> ASGIApp:
    """Build the (instrumented) ASGI app of one emulator over its database in ``data_dir``."""
    db_path = database_path(data_dir, system)
    if not db_path.exists():
        raise FileNotFoundError(f"{db_path} is missing: generate the population first")
    if system in FHIR_SYSTEMS:
        from emulators.fhir import create_fhir_app

        kind = "fhir-register" if system == "register" else "fhir-ehr"
        return create_fhir_app(db_path, kind, credentials.fhir_token)
    if system == "lis":
        from emulators.lis import create_lis_app

        return create_lis_app(db_path, credentials.lis_key, max_rps=lis_max_rps)
    if system == "dps":
        from emulators.dps import create_dps_app

        return create_dps_app(db_path, credentials.dps_client_id, credentials.dps_secret)
    if system == "ambulance":
        from emulators.ambulance import create_ambulance_app

        return create_ambulance_app(
            db_path, credentials.ambulance_user, credentials.ambulance_password
        )
    raise ValueError(f"unknown system {system!r}; expected one of {', '.join(SYSTEMS)}")


def _exit_when_orphaned(parent_pid: int) -> None:
    """Stop this child when its parent dies, so a crashed test run leaves no servers behind."""
    while os.getppid() == parent_pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def run_one(
    system: str,
    port: int,
    data_dir: Path,
    credentials: Credentials,
    lis_max_rps: float | None = None,
    host: str = HOST,
) -> None:
    """Serve one emulator in this process until SIGINT/SIGTERM (or the parent process dies)."""
    app = create_app(system, data_dir, credentials, lis_max_rps)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # A request held by the "hang" fault must not block shutdown.
        timeout_graceful_shutdown=1,
    )


@dataclass
class EmulatorSet:
    """Running emulator processes: their URLs by system name, their pids, and ``stop()``."""

    urls: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(repr=False)

    @property
    def pids(self) -> dict[str, int]:
        """Process id of each emulator."""
        return {name: proc.pid for name, proc in self.processes.items()}

    def dead(self) -> dict[str, int]:
        """Emulators whose process has exited, with their exit codes."""
        codes = {name: proc.poll() for name, proc in self.processes.items()}
        return {name: code for name, code in codes.items() if code is not None}

    def stop(self, timeout_s: float = 5) -> None:
        """Terminate every child, then kill any that has not exited within ``timeout_s``."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> EmulatorSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _wait_until_answering(emulators: EmulatorSet, deadline: float) -> None:
    """Poll every emulator until it answers HTTP at all (any status proves it is serving)."""
    pending = dict(emulators.urls)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            dead = emulators.dead()
            if dead:
                raise RuntimeError(f"emulator process exited during start-up: {dead}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"emulators not answering: {', '.join(pending)}")
            for name, url in list(pending.items()):
                try:
                    client.get(f"{url}/__requests")
                except httpx.TransportError:
                    continue
                del pending[name]
            if pending:
                time.sleep(0.05)


def start_emulators(
    data_dir: Path,
    port_base: int,
    credentials: Credentials | None = None,
    *,
    systems: tuple[str, ...] = SYSTEMS,
    latency_ms: float = 0,
    lis_max_rps: float | None = None,
    startup_timeout_s: float = 30,
) -> EmulatorSet:
    """Start each emulator in its own process on ``port_base + offset``; return once all answer."""
    credentials = credentials or Credentials()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    urls: dict[str, str] = {}
    processes: dict[str, subprocess.Popen] = {}
    for system in systems:
        port = port_base + SYSTEMS.index(system)
        command = [
            sys.executable,
            "-m",
            "emulators",
            "run-one",
            f"--system={system}",
            f"--port={port}",
            f"--data-dir={data_dir}",
            *credentials.as_args(),
        ]
        if lis_max_rps:
            command.append(f"--lis-max-rps={lis_max_rps}")
        # The command is ours: this interpreter, this package, validated arguments.
        processes[system] = subprocess.Popen(command, env=env, cwd=_REPO_ROOT)  # noqa: S603
        urls[system] = base_url(system, port)
    emulators = EmulatorSet(urls=urls, processes=processes)
    try:
        _wait_until_answering(emulators, time.monotonic() + startup_timeout_s)
        if latency_ms:
            with httpx.Client(timeout=5.0) as client:
                for url in urls.values():
                    client.post(f"{url}/__faults", json={"latency_ms": latency_ms})
    except BaseException:
        emulators.stop()
        raise
    return emulators


def ensure_population(data_dir: Path, size: int, seed: int, today: date | None = None) -> bool:
    """Generate the population into ``data_dir`` unless the same one is already there.

    Returns True when it generated, False when it reused the existing databases.
    """
    from emulators.population import generate, today_in_almaty

    # The generator's default day is today in Almaty: a population made yesterday is stale.
    today = today or today_in_almaty()
    truth_path = data_dir / "ground_truth.json"
    if truth_path.exists() and all(database_path(data_dir, s).exists() for s in SYSTEMS):
        with truth_path.open(encoding="utf-8") as handle:
            # Only the header matters; the file is read once at start-up.
            truth = json.load(handle)
        same = truth.get("seed") == seed and truth.get("size") == size
        if same and truth.get("today") == today.isoformat():
            return False
    data_dir.mkdir(parents=True, exist_ok=True)
    generate(data_dir, size=size, seed=seed, today=today)
    return True


_SOURCE_KINDS = {
    "register": ("register", "fhir-register", 1000, 3600),
    "ehr-astana": ("ehr-astana", "fhir-ehr", 1500, 300),
    "ehr-almaty": ("ehr-almaty", "fhir-ehr", 1500, 300),
    "ehr-shymkent": ("ehr-shymkent", "fhir-ehr", 1500, 300),
    "lis": ("lis", "lis-json", 1500, 300),
    "dps": ("drugs", "dps-json", 1500, 600),
    "ambulance": ("ambulance", "ambulance-xml", 1500, 300),
}


def _toml_string(value: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def sources_toml(urls: dict[str, str], credentials: Credentials | None = None) -> str:
    """The ``[[sources]]`` entries of the gateway config (CONFIG.md) for these emulators."""
    credentials = credentials or Credentials()
    blocks = []
    for system in SYSTEMS:
        if system not in urls:
            continue
        name, kind, timeout_ms, ttl_s = _SOURCE_KINDS[system]
        fields: list[tuple[str, str | int]] = [("name", name), ("kind", kind)]
        if kind == "fhir-ehr":
            fields.append(("region", system.removeprefix("ehr-")))
        fields.append(("base_url", urls[system]))
        if kind.startswith("fhir-"):
            fields.append(("token", credentials.fhir_token))
        elif kind == "lis-json":
            fields.append(("api_key", credentials.lis_key))
        elif kind == "dps-json":
            fields += [
                ("client_id", credentials.dps_client_id),
                ("client_secret", credentials.dps_secret),
            ]
        else:
            fields += [
                ("username", credentials.ambulance_user),
                ("password", credentials.ambulance_password),
            ]
        fields += [("timeout_ms", timeout_ms), ("ttl_s", ttl_s)]
        lines = ["[[sources]]"]
        for key, value in fields:
            rendered = str(value) if isinstance(value, int) else _toml_string(value)
            lines.append(f"{key} = {rendered}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def describe(emulators: EmulatorSet, credentials: Credentials) -> str:
    """A plain-text table of each emulator's name, URL and credentials."""
    rows = [("system", "url", "credentials")]
    rows += [(n, u, credentials.describe(n)) for n, u in emulators.urls.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)


def serve(
    data_dir: Path,
    port_base: int,
    size: int,
    seed: int,
    credentials: Credentials,
    *,
    today: date | None = None,
    write_config: Path | None = None,
    latency_ms: float = 0,
    lis_max_rps: float | None = None,
) -> int:
    """``python -m emulators serve``: generate (or reuse), start all, wait for a signal."""
    generated = ensure_population(data_dir, size, seed, today)
    action = "generated in" if generated else "reused from"
    print(f"population ({size} people, seed {seed}) {action} {data_dir}")
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with start_emulators(
        data_dir, port_base, credentials, latency_ms=latency_ms, lis_max_rps=lis_max_rps
    ) as emulators:
        if write_config is not None:
            # Written whole, then renamed: whoever waits for the file never reads half of it.
            partial = write_config.with_name(write_config.name + ".partial")
            partial.write_text(sources_toml(emulators.urls, credentials), encoding="utf-8")
            partial.replace(write_config)
            print(f"wrote [[sources]] config to {write_config}")
        print(describe(emulators, credentials), flush=True)
        while not stopping.wait(0.5):
            dead = emulators.dead()
            if dead:
                print(f"emulator exited unexpectedly: {dead}; stopping all", file=sys.stderr)
                return 1
        print("stopping emulators", flush=True)
    return 0
