"""The whole emulator set: one process each, on consecutive ports, and its [[sources]] config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulators.__main__ import main as emulators_main
from emulators.serve import SYSTEMS, Credentials, EmulatorSet, sources_toml, start_emulators
from tests.servers import free_port_run

REPO = Path(__file__).resolve().parents[2]


def _person_in(ground_truth: dict, predicate) -> str:
    return next(iin for iin, person in ground_truth["people"].items() if predicate(person))


@pytest.fixture(scope="module")
def emulators(population_dir: Path) -> Iterator[EmulatorSet]:
    """All seven emulators over the session population, each in its own process."""
    with start_emulators(population_dir, free_port_run(len(SYSTEMS))) as running:
        yield running


def test_every_emulator_runs_in_its_own_process_on_its_port(emulators: EmulatorSet) -> None:
    assert list(emulators.urls) == list(SYSTEMS)
    assert len(set(emulators.pids.values())) == 7
    assert os.getpid() not in emulators.pids.values()
    ports = [int(url.split(":")[2].split("/")[0]) for url in emulators.urls.values()]
    assert ports == list(range(ports[0], ports[0] + 7))
    for name, url in emulators.urls.items():
        assert url.endswith("/fhir") == (
            name in ("register", "ehr-astana", "ehr-almaty", "ehr-shymkent")
        )


def test_each_emulator_answers_with_its_credentials(
    emulators: EmulatorSet, ground_truth: dict
) -> None:
    urls = emulators.urls
    fhir = {"Authorization": "Bearer emulator-token"}
    iin = _person_in(ground_truth, lambda p: p["ehrRegions"])
    region = ground_truth["people"][iin]["ehrRegions"][0]
    for system in ("register", f"ehr-{region}"):
        answer = httpx.get(
            f"{urls[system]}/Patient", params={"identifier": f"urn:kz:iin|{iin}"}, headers=fhir
        )
        assert answer.status_code == 200, system
        assert answer.json()["total"] == 1, system
        assert httpx.get(f"{urls[system]}/Patient").status_code == 401

    lis_iin = _person_in(ground_truth, lambda p: p["inLis"])
    answer = httpx.get(
        f"{urls['lis']}/api/v2/patients/{lis_iin}/orders",
        headers={"X-Api-Key": "emulator-lis-key"},
    )
    assert answer.status_code == 200
    assert answer.json()["total"] == len(ground_truth["people"][lis_iin]["labOrders"])

    token = httpx.post(
        f"{urls['dps']}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "ehp-gateway",
            "client_secret": "emulator-dps-secret",
        },
    ).json()["access_token"]
    rx_iin = _person_in(ground_truth, lambda p: p["prescriptions"])
    answer = httpx.get(
        f"{urls['dps']}/v1/patients/{rx_iin}/prescriptions",
        params={"status": "all", "limit": 200},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert len(answer.json()["items"]) == len(ground_truth["people"][rx_iin]["prescriptions"])

    amb_iin = ground_truth["edgeCases"]["ambulance"][0]
    answer = httpx.get(
        f"{urls['ambulance']}/api/calls",
        params={"iin": amb_iin},
        auth=("ehp", "emulator-ambulance"),
    )
    assert answer.status_code == 200
    expected = len(ground_truth["people"][amb_iin]["ambulanceCalls"])
    assert f'count="{expected}"' in answer.text


def test_stop_ends_every_process(population_dir: Path) -> None:
    running = start_emulators(
        population_dir, free_port_run(len(SYSTEMS)), systems=("lis", "ambulance")
    )
    assert set(running.urls) == {"lis", "ambulance"}
    running.stop()
    assert set(running.dead()) == {"lis", "ambulance"}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.urls['lis']}/__requests", timeout=1)


def test_latency_fault_is_set_on_start(population_dir: Path) -> None:
    with start_emulators(
        population_dir, free_port_run(len(SYSTEMS)), systems=("dps",), latency_ms=250
    ) as s:
        faults = httpx.get(f"{s.urls['dps']}/__faults").json()
        assert faults["latency_ms"] == 250


def test_sources_toml_is_the_config_of_config_md() -> None:
    urls = {
        name: f"http://127.0.0.1:{9101 + i}{'/fhir' if i < 4 else ''}"
        for i, name in enumerate(SYSTEMS)
    }
    credentials = Credentials(lis_key='k"ey\\', dps_secret="s3cret")
    sources = tomllib.loads(sources_toml(urls, credentials))["sources"]
    by_name = {source["name"]: source for source in sources}
    assert list(by_name) == [
        "register",
        "ehr-astana",
        "ehr-almaty",
        "ehr-shymkent",
        "lis",
        "drugs",
        "ambulance",
    ]
    assert by_name["register"] == {
        "name": "register",
        "kind": "fhir-register",
        "base_url": "http://127.0.0.1:9101/fhir",
        "token": "emulator-token",
        "timeout_ms": 1000,
        "ttl_s": 3600,
    }
    assert by_name["ehr-almaty"]["kind"] == "fhir-ehr"
    assert by_name["ehr-almaty"]["region"] == "almaty"
    assert by_name["ehr-almaty"]["base_url"] == "http://127.0.0.1:9103/fhir"
    assert by_name["lis"]["kind"] == "lis-json" and by_name["lis"]["api_key"] == 'k"ey\\'
    drugs = by_name["drugs"]
    assert (drugs["kind"], drugs["client_id"], drugs["client_secret"]) == (
        "dps-json",
        "ehp-gateway",
        "s3cret",
    )
    assert (drugs["timeout_ms"], drugs["ttl_s"]) == (1500, 600)
    ambulance = by_name["ambulance"]
    assert (ambulance["kind"], ambulance["username"], ambulance["password"]) == (
        "ambulance-xml",
        "ehp",
        "emulator-ambulance",
    )
    assert ambulance["base_url"] == "http://127.0.0.1:9107"


def test_serve_command_reuses_the_population_writes_config_and_stops(
    population_dir: Path, tmp_path: Path, ground_truth: dict
) -> None:
    config = tmp_path / "sources.toml"
    base = free_port_run(len(SYSTEMS))
    command = [
        sys.executable,
        "-m",
        "emulators",
        "serve",
        f"--population={ground_truth['size']}",
        f"--seed={ground_truth['seed']}",
        f"--port-base={base}",
        f"--data-dir={population_dir}",
        f"--write-config={config}",
        "--lis-key=cli-key",
    ]
    before = (population_dir / "ground_truth.json").stat().st_mtime_ns
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not config.exists():
            assert proc.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, "serve did not write its config"
            time.sleep(0.1)
        sources = {s["name"]: s for s in tomllib.loads(config.read_text())["sources"]}
        assert sources["lis"]["api_key"] == "cli-key"
        answer = httpx.get(
            f"{sources['lis']['base_url']}/api/v2/patients/000000000000/orders",
            headers={"X-Api-Key": "cli-key"},
        )
        assert answer.status_code == 404
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "reused" in out and "emulator-token" in out
    assert (population_dir / "ground_truth.json").stat().st_mtime_ns == before
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{sources['lis']['base_url']}/__requests", timeout=1)


@pytest.mark.parametrize("population", ["-5", "0", "ten"])
def test_serve_refuses_a_population_that_is_not_a_positive_number(
    population: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        emulators_main(["serve", "--population", population])
    assert exited.value.code == 2
    assert "--population" in capsys.readouterr().err
