"""The demo refuses taken ports before it prints a token, and keeps its key files private."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.run import write_config
from emulators.serve import SYSTEMS
from gateway.auth.issuer import DemoIssuer
from tests.servers import free_port_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on a free port, as another program on the machine would be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port_run(1)))
        sock.listen()
        yield sock


def run_demo(*args: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "demo", "--dir", str(directory), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_gateway_port_stops_the_demo_before_any_token(
    listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    base = free_port_run(len(SYSTEMS))
    done = run_demo("--port", str(port), "--emulator-port-base", str(base), directory=tmp_path)
    assert done.returncode == 2
    assert f"port {port} is taken" in done.stderr
    assert "--port" in done.stderr
    assert "Bearer" not in done.stdout and "eyJ" not in done.stdout
    assert not (tmp_path / "population").exists()  # nothing was generated or started


def test_a_taken_emulator_port_names_it_and_the_option(
    listener: socket.socket, tmp_path: Path
) -> None:
    taken = listener.getsockname()[1]
    base = taken - 3  # the fourth emulator's port is the taken one
    gateway_port = free_port_run(1)
    done = run_demo(
        "--port", str(gateway_port), "--emulator-port-base", str(base), directory=tmp_path
    )
    assert done.returncode == 2
    assert str(taken) in done.stderr
    assert "--emulator-port-base" in done.stderr
    assert "eyJ" not in done.stdout


def test_a_taken_identity_provider_port_names_its_option(
    listener: socket.socket, tmp_path: Path
) -> None:
    taken = listener.getsockname()[1]
    base = free_port_run(len(SYSTEMS))
    done = run_demo(
        "--port",
        str(free_port_run(1)),
        "--idp-port",
        str(taken),
        "--emulator-port-base",
        str(base),
        directory=tmp_path,
    )
    assert done.returncode == 2
    assert f"port {taken} (identity provider) is taken" in done.stderr
    assert "--idp-port" in done.stderr
    assert "eyJ" not in done.stdout


def test_demo_files_holding_keys_are_owner_only(tmp_path: Path) -> None:
    issuer = DemoIssuer.create(tmp_path / "keys")
    stale = tmp_path / "gateway.toml"
    stale.write_text("old")
    stale.chmod(0o644)  # a file of an earlier demo run, readable by everyone
    previous = os.umask(0)
    try:
        config = write_config(
            tmp_path, {"register": "http://127.0.0.1:1/fhir"}, issuer, 8000, "http://127.0.0.1:8001"
        )
    finally:
        os.umask(previous)
    for path in (config, tmp_path / "audit.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert "patient_key" in config.read_text()
    assert 'oidc_issuer = "http://127.0.0.1:8001"' in config.read_text()  # [app] signs in there
