"""The image's command under the image's and compose's environment, run directly: no Docker
engine runs here (README "Running in production").

`python -m gateway serve` starts with no argument, reading deploy/gateway.toml (what compose
mounts) and only EHP_<SECTION>__<KEY> overrides: the Dockerfile's ENV, then compose's
environment with its secrets written by deploy/make-secrets.sh, then what differs on this
machine (addresses of the emulators, PostgreSQL and Redis standing in for compose services).
It must answer /healthz, and every override must have taken effect: the port, the audit
on PostgreSQL, the encrypted cache on Redis under the configured key salt, the sources.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from gateway.sources.crypto import subject_hash
from tests.e2e.conftest import Stack
from tests.e2e.test_resilience import SOURCE_OF, people
from tests.e2e.test_shared_cache import REDIS_URL, GatewayProcess
from tests.servers import free_port
from tests.test_deploy import (
    DEPLOY,
    compose,
    image_command,
    image_environment,
    make_secrets,
    with_secrets_in,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OWN_PASSPORT = "query($iin: IIN!) { passport(iin: $iin) { identity { fullName } } }"


def _container_environment(stack: Stack, secrets: Path, port: int) -> dict[str, str]:
    env = {**image_environment(), **compose()["services"]["gateway-a"]["environment"]}
    env = with_secrets_in(env, secrets)
    env |= {
        "PATH": os.environ["PATH"],
        "EHP_CONFIG": str(DEPLOY / "gateway.toml"),  # compose mounts it at /etc/ehp/gateway.toml
        "EHP_SERVER__HOST": "127.0.0.1",
        "EHP_SERVER__PORT": str(port),
        "EHP_AUTH__JWKS_FILE": str(stack.issuer.jwks_path),
    }
    for emulator, url in stack.urls.items():
        name = SOURCE_OF[emulator].upper().replace("-", "_")
        env[f"EHP_SOURCES__{name}__BASE_URL"] = url
    return env


async def _audit_rows(database_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT role, sections FROM audit_events ORDER BY seq")
    finally:
        await conn.close()


def test_image_command_serves_from_environment_overrides_alone(
    stack: Stack, pg_url: str, tmp_path: Path
) -> None:
    secrets = make_secrets(tmp_path)
    # This machine's PostgreSQL and Redis stand for the compose services of those names.
    (secrets / "audit_database_url").write_text(pg_url)
    (secrets / "cache_redis_url").write_text(REDIS_URL)
    port = free_port()
    env = _container_environment(stack, secrets, port)
    assert image_command() == ["python", "-m", "gateway", "serve"]  # what GatewayProcess runs
    workdir = tmp_path / "workdir"  # the image's WORKDIR: nothing of the repository around
    workdir.mkdir()
    iin = people(stack, lambda p: p["problems"] and p["labResults"])[0]
    salt = (secrets / "cache_key_salt").read_text().encode()
    cache = redis.Redis.from_url(REDIS_URL)
    process = GatewayProcess(None, port, env=env, cwd=workdir)
    try:
        process.wait_ready()
        client = httpx.Client(base_url=process.url, timeout=30)
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["audit"] is True
        assert set(ready.json()["sources"]) == set(SOURCE_OF.values())

        token = stack.token("patient", iin=iin)
        answer = client.post(
            "/graphql",
            json={"query": OWN_PASSPORT, "variables": {"iin": iin}},
            headers={"Authorization": f"Bearer {token}"},
        )
        truth = stack.ground_truth["people"][iin]["identity"]["fullName"]
        assert answer.json() == {"data": {"passport": {"identity": {"fullName": truth}}}}

        # The audit went to PostgreSQL (EHP_AUDIT__DATABASE_URL from a secret file) ...
        rows = asyncio.run(_audit_rows(pg_url))
        assert [(row["role"], row["sections"]) for row in rows] == [("PATIENT", '["IDENTITY"]')]
        # ... the register's answer to Redis, under the salt of EHP_CACHE__KEY_SALT, encrypted.
        keys = list(cache.scan_iter(match=f"*{subject_hash(salt, iin)}*", count=1000))
        assert keys and any(b":register:" in key for key in keys)
        for key in keys:
            stored = cache.get(key) or b""
            assert iin.encode() not in stored and truth.encode() not in stored
        # The file's own setting stays where no override names it: no GraphiQL in production.
        page = client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 404
        client.close()
    finally:
        process.stop()
        for key in cache.scan_iter(match=f"*{subject_hash(salt, iin)}*", count=1000):
            cache.delete(key)
        cache.close()


def test_image_command_refuses_a_misspelt_override(stack: Stack, tmp_path: Path) -> None:
    secrets = make_secrets(tmp_path)
    env = _container_environment(stack, secrets, free_port())
    env["EHP_CACHE__ENCRYPTON_KEY"] = "0" * 64
    command = [sys.executable, *image_command()[1:]]
    finished = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=60)
    assert finished.returncode == 2
    message = finished.stderr.decode()
    assert "config error: EHP_CACHE__ENCRYPTON_KEY: cache has no key 'encrypton_key'" in message
    assert "Traceback" not in message
