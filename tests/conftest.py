"""Shared test fixtures: which real services are reachable, and what to do when one is not."""

from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "redis": ("127.0.0.1", 6379, "start Redis: redis-server --daemonize yes --port 6379"),
    "postgres": (
        "127.0.0.1",
        5432,
        "start PostgreSQL: pg_ctlcluster --skip-systemctl-redirect 15 main start",
    ),
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests whose service is down, unless CI requires every service (then they fail)."""
    required = os.environ.get("EHP_REQUIRE_SERVICES") == "1"
    for name, (host, port, hint) in SERVICES.items():
        if required or _reachable(host, port):
            continue
        marker = pytest.mark.skip(reason=f"{name} is not running on {host}:{port}; {hint}")
        for item in items:
            if name in item.keywords:
                item.add_marker(marker)


POPULATION_SEED = 7
POPULATION_SIZE = 300


@pytest.fixture(scope="session")
def population_dir(tmp_path_factory: pytest.TempPathFactory):
    """The demo population (seed 7, 300 people), generated once per test session."""
    from emulators.population import generate

    data_dir = tmp_path_factory.mktemp("population")
    generate(data_dir, size=POPULATION_SIZE, seed=POPULATION_SEED)
    return data_dir


@pytest.fixture(scope="session")
def ground_truth(population_dir):
    """The generator's ground truth for the session's population (docs/ground-truth.md)."""
    import json

    return json.loads((population_dir / "ground_truth.json").read_text(encoding="utf-8"))
