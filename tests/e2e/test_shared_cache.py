"""Issue 5 acceptance, shared cache half: two gateway processes on the real Redis.

A passport read through one gateway is served by a second gateway process with zero
upstream calls; Redis holds only ciphertext under keyed hashes; concurrent cold reads
through both replicas ask each source once; with Redis unreachable, passports still come.
Every run uses its own random `cache.key_salt` and encryption key, and deletes its keys.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway.config import parse_settings
from gateway.sources.crypto import subject_hash
from tests.e2e.conftest import Gateway, Stack, config_data, described
from tests.e2e.test_resilience import PASSPORT, errors_by_path, people, running_gateway
from tests.servers import free_port

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)  # a JSON ASCII string is a TOML string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def to_toml(data: dict[str, Any]) -> str:
    """The gateway config dict as TOML (tables, then `[[sources]]`)."""
    lines: list[str] = []
    for section, values in data.items():
        if section == "sources":
            continue
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    for source in data["sources"]:
        lines.append("[[sources]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in source.items()]
        lines.append("")
    return "\n".join(lines)


def _shared_cache(salt: str, key: str, url: str = REDIS_URL) -> dict[str, Any]:
    return {"backend": "redis", "redis_url": url, "encryption_key": key, "key_salt": salt}


@pytest.fixture(scope="module")
def cache_secrets() -> Iterator[dict[str, str]]:
    """A key salt and an encryption key of this run; its Redis keys are deleted afterwards."""
    salt = secrets.token_hex(16)
    key = base64.b64encode(os.urandom(32)).decode()
    yield {"salt": salt, "key": key}


@pytest.fixture
def our_keys(cache_secrets: dict[str, str]) -> Iterator[list[str]]:
    """IINs this test reads; their keys (found by this run's keyed hash) are deleted after."""
    iins: list[str] = []
    yield iins
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for iin in iins:
            for key in _keys_of(client, cache_secrets["salt"], iin):
                client.delete(key)
    finally:
        client.close()


def _keys_of(client: redis.Redis, salt: str, iin: str) -> list[bytes]:
    digest = subject_hash(salt.encode("utf-8"), iin)
    return sorted(client.scan_iter(match=f"*{digest}*", count=1000))


class GatewayProcess:
    """`python -m gateway serve --config FILE` in its own process (or, with `config` None and
    an `env`, as a container runs it: EHP_CONFIG and overrides from the environment)."""

    def __init__(
        self,
        config: Path | None,
        port: int,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        arguments = ["--config", str(config)] if config is not None else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", *arguments],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(REPO)} if env is None else env,
        )

    def wait_ready(self, timeout_s: float = 20) -> None:
        """Poll `/healthz` until it answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError("the gateway process did not start")

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def replicas(
    stack: Stack, cache_secrets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, Gateway]]:
    """Two gateways sharing Redis: one in this process, one started as a separate process."""
    directory = tmp_path_factory.mktemp("replicas")
    cache = _shared_cache(cache_secrets["salt"], cache_secrets["key"])
    data = config_data(stack.directory, stack.urls, stack.issuer, {"cache": cache})
    first = parse_settings(data, {})
    port = free_port()
    second = {
        **data,
        "server": {**data["server"], "port": port},
        "audit": {**data["audit"], "database_url": f"sqlite:///{directory / 'audit-b.db'}"},
    }
    config = directory / "gateway-b.toml"
    config.write_text(to_toml(second), encoding="utf-8")
    parse_settings(second, {})  # the file we hand over is valid before we start it
    process = GatewayProcess(config, port)
    try:
        process.wait_ready()
        with running_gateway(stack, first) as gateway_a:
            yield gateway_a, Gateway(process.url, parse_settings(second, {}), stack.client)
    finally:
        process.stop()


def _read(gateway: Gateway, stack: Stack, iin: str) -> dict[str, Any]:
    response = gateway.graphql(PASSPORT, {"iin": iin}, stack.token("patient", iin=iin))
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]["passport"]


def _rich(stack: Stack, skip: int = 0) -> str:
    def rich(person: dict[str, Any]) -> bool:
        return bool(person["problems"] and person["labResults"] and person["dispensations"])

    return people(stack, rich)[skip]


def test_a_passport_read_through_one_replica_is_served_by_the_other_without_upstream_calls(
    stack: Stack, replicas: tuple[Gateway, Gateway], our_keys: list[str]
) -> None:
    gateway_a, gateway_b = replicas
    iin = _rich(stack)
    our_keys.append(iin)
    first = _read(gateway_a, stack, iin)
    truth = stack.ground_truth["people"][iin]
    assert first["identity"]["fullName"] == truth["identity"]["fullName"]
    stack.reset_requests()
    second = _read(gateway_b, stack, iin)
    assert stack.request_counts() == dict.fromkeys(stack.urls, 0)
    for name in first:
        if name != "sources":
            assert second[name] == first[name], name
    assert all(s["ok"] and not s["stale"] for s in second["sources"])
    assert {(s["source"], s["fetchedAt"]) for s in second["sources"]} == {
        (s["source"], s["fetchedAt"]) for s in first["sources"]
    }


def test_redis_holds_only_ciphertext_under_keyed_hashes(
    stack: Stack,
    replicas: tuple[Gateway, Gateway],
    cache_secrets: dict[str, str],
    our_keys: list[str],
) -> None:
    gateway_a, _ = replicas
    iin = _rich(stack, skip=1)
    our_keys.append(iin)
    _read(gateway_a, stack, iin)
    person = stack.ground_truth["people"][iin]
    identity = person["identity"]
    secrets_in_clear = {
        iin,
        identity["fullName"],
        identity["familyName"],
        identity["givenName"],
        *(p["code"]["code"] for p in person["problems"]),
        *(p["code"]["display"] for p in person["problems"] if p["code"].get("display")),
        *(r["orderNumber"] for r in person["labResults"]),
        *(d["name"] for d in person["dispensations"]),
    } - {None, ""}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = _keys_of(client, cache_secrets["salt"], iin)
        values = {key: client.get(key) for key in keys}
        everything = list(client.scan_iter(match="*", count=1000))
    finally:
        client.close()
    data_keys = [key for key in keys if not key.endswith(b":lock")]
    # register, three EHRs, LIS, DPS (prescriptions, dispensations), ambulance.
    assert len(data_keys) >= 8, keys
    for key in everything:  # no key in the whole database names the person
        assert iin.encode() not in key
    for key, value in values.items():
        assert value is not None
        for text in secrets_in_clear:
            assert text.encode("utf-8") not in value, (key, text)
    # A plaintext record (JSON, XML, text) would decode as UTF-8; random ciphertext does not.
    for key, value in values.items():
        if not key.endswith(b":lock"):
            with pytest.raises(UnicodeDecodeError):
                value.decode("utf-8")


def _degraded_redis_ops(gateway: Gateway) -> float:
    """`ehp_cache_redis_degraded_total` summed over operations, from `/metrics`."""
    text = gateway.client.get(f"{gateway.url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ehp_cache_redis_degraded_total{")
    )


def test_concurrent_cold_reads_ask_each_source_once_per_replica_at_most(
    stack: Stack, replicas: tuple[Gateway, Gateway], our_keys: list[str]
) -> None:
    # In-process single-flight is exact; across replicas the Redis lock is best effort (a
    # replica fetches itself after min(2 s, half its deadline) of waiting, or when a Redis
    # operation exceeds 150 ms), so on a loaded machine a second replica may ask once more.
    iin = _rich(stack, skip=2)
    our_keys.append(iin)
    stack.reset_requests()
    targets = [gateway for gateway in replicas for _ in range(3)]
    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(lambda gateway: _read(gateway, stack, iin), targets))
    assert all(answer["identity"]["iin"] == iin for answer in answers)
    duplicates = {}
    for emulator in stack.urls:
        recent = stack.emulator_requests(emulator)["recent"]
        calls = Counter(
            f"{call['path']}?{call['query']}" for call in recent if iin in described(call)
        )
        assert calls, emulator
        assert all(count <= len(replicas) for count in calls.values()), (emulator, calls)
        duplicates.update({call: count for call, count in calls.items() if count > 1})
    if duplicates:  # not a failure; say why, for whoever tunes the lock
        degraded = [_degraded_redis_ops(gateway) for gateway in replicas]
        print(f"cross-replica duplicates: {duplicates}; redis degraded ops: {degraded}")


def test_redis_outage_degrades_to_no_shared_cache(
    stack: Stack, cache_secrets: dict[str, str]
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    cache = _shared_cache(cache_secrets["salt"], cache_secrets["key"], url=closed)
    iin = _rich(stack, skip=3)
    truth = stack.ground_truth["people"][iin]
    with stack.fresh_gateway(cache=cache) as gateway:
        for _ in range(2):
            response = gateway.graphql(PASSPORT, {"iin": iin}, stack.token("patient", iin=iin))
            assert response.status_code == 200
            body = response.json()
            assert errors_by_path(body) == {}
            passport = body["data"]["passport"]
            assert passport["identity"]["fullName"] == truth["identity"]["fullName"]
            assert {p["code"]["code"] for p in passport["problems"]} == {
                p["code"]["code"] for p in truth["problems"]
            }
            assert all(s["ok"] for s in passport["sources"])
        assert gateway.client.get(f"{gateway.url}/readyz").json()["ready"] is True
