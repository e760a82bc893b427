"""The end-to-end stack: seven emulators, a demo token issuer, and the gateway, all on loopback.

Real HTTP everywhere: emulators run in their own processes (``start_emulators``), the gateway
in a uvicorn thread. Expected values in these tests come from the generator's ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from emulators.serve import sources_toml, start_emulators
from gateway.app import create_app
from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer
from gateway.config import Settings, parse_settings
from tests.servers import free_port_run, serve_app

PG_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The tests are one address and a few tokens asking fast: the request rates and the
# distinct-patients ceiling are off unless a test sets its own (tests/e2e/test_rate_limits.py).
UNLIMITED = {"requests_per_minute": 0, "burst": 0, "distinct_patients_per_day": 0}
STAFF_ROLES = ("emergency", "nurse", "doctor")
UNKNOWN_STAFF = {"practitioner_id": "P-e2e", "org_bin": "000000000000"}


@dataclass
class Gateway:
    """One running gateway and a client for it."""

    url: str
    settings: Settings
    client: httpx.Client = field(repr=False)

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        """POST a GraphQL request with an optional bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )


@dataclass
class Stack:
    """Emulators, issuer and a session gateway; ``fresh_gateway`` starts more (cold caches)."""

    directory: Path
    urls: dict[str, str]
    issuer: DemoIssuer
    ground_truth: dict[str, Any]
    gateway: Gateway
    client: httpx.Client = field(repr=False)

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        """POST to the session gateway."""
        return self.gateway.graphql(query, variables, token)

    def token(self, role: str, **claims: Any) -> str:
        """A token of the demo issuer (claims: iin, org_bin, practitioner_id, region, ttl_s).

        Staff who read records need practitioner_id and org_bin: unless given (None leaves one
        out), a practitioner the register does not know, of an organisation nobody is attached
        to and nobody visited."""
        if role in STAFF_ROLES:
            claims = {**UNKNOWN_STAFF, **claims}
        ttl_s = claims.pop("ttl_s", 3600)
        subject = claims.pop("subject", f"test-{role}")
        return self.issuer.issue(role, subject, ttl_s=ttl_s, **claims)

    def emulator_requests(self, name: str) -> dict[str, Any]:
        """What one emulator served since the last reset."""
        return self.client.get(f"{self.urls[name]}/__requests").json()

    def request_counts(self) -> dict[str, int]:
        """Requests served per emulator since the last reset."""
        return {name: self.emulator_requests(name)["count"] for name in self.urls}

    def reset_requests(self) -> None:
        """Zero every emulator's request counter."""
        for url in self.urls.values():
            self.client.delete(f"{url}/__requests")

    def fault(self, name: str, **faults: Any) -> None:
        """Make one emulator misbehave (SOURCES.md faults)."""
        self.client.post(f"{self.urls[name]}/__faults", json=faults).raise_for_status()

    def clear_faults(self) -> None:
        """Every emulator behaves again."""
        for url in self.urls.values():
            self.client.delete(f"{url}/__faults")

    def settings(self, **sections: dict[str, Any]) -> Settings:
        """Gateway settings for these emulators, with section overrides (e.g. cache={...})."""
        return parse_settings(config_data(self.directory, self.urls, self.issuer, sections), {})

    @contextlib.contextmanager
    def fresh_gateway(self, **sections: dict[str, Any]) -> Iterator[Gateway]:
        """Another gateway with its own (cold) cache and the given setting overrides."""
        settings = self.settings(**sections)
        with serve_app(create_app(settings)) as url:
            yield Gateway(url, settings, self.client)


def config_data(
    directory: Path, urls: dict[str, str], issuer: DemoIssuer, overrides: dict[str, Any]
) -> dict[str, Any]:
    """The TOML of CONFIG.md for the test stack, as a dict."""
    data = tomllib.loads(sources_toml(urls))
    data["server"] = {"introspection": True}
    data["auth"] = {
        "issuer": DEMO_ISSUER,
        "audience": DEMO_AUDIENCE,
        "jwks_file": str(issuer.jwks_path),
    }
    data["cache"] = {"backend": "memory"}
    data["audit"] = {
        "database_url": f"sqlite:///{directory / 'audit.db'}",
        "patient_key": "test-audit-key-" + "0" * 32,
    }
    data["policy"] = {}
    data["limits"] = dict(UNLIMITED)
    # The tests' expected words are English; the languages themselves are tested by asking
    # for them (Accept-Language) and, for the default, by a gateway of its own (test_languages).
    data["app"] = {"default_language": "en"}
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return data


@pytest.fixture(scope="session")
def stack(population_dir: Path, ground_truth: dict[str, Any], tmp_path_factory) -> Iterator[Stack]:
    """The whole system, once per test session."""
    directory = tmp_path_factory.mktemp("stack")
    issuer = DemoIssuer.create(directory / "keys")
    client = httpx.Client(timeout=30)
    with start_emulators(population_dir, free_port_run(7)) as emulators:
        data = config_data(directory, emulators.urls, issuer, {})
        settings = parse_settings(data, {})
        with serve_app(create_app(settings)) as url:
            yield Stack(
                directory=directory,
                urls=emulators.urls,
                issuer=issuer,
                ground_truth=ground_truth,
                gateway=Gateway(url, settings, client),
                client=client,
            )
    client.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A ``search_path`` URL of a fresh schema in database ``test``, dropped afterwards."""
    schema = f"e2e_audit_{uuid.uuid4().hex[:10]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_BASE_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_BASE_URL}?search_path={schema}"
    finally:
        asyncio.run(admin(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def clean_faults(stack: Stack) -> Iterator[Stack]:
    """The stack, with every fault cleared after the test."""
    yield stack
    stack.clear_faults()


def described(request: dict[str, Any]) -> str:
    """One served request as text: path, query, and the searches of a FHIR batch."""
    searches = " ".join(request.get("batch", ()))
    return f"{request['path']}?{request['query']} {searches}".rstrip()


def random_subject() -> str:
    """A unique token subject, so audit queries of one test never see another's events."""
    return "test-" + secrets.token_hex(4)
