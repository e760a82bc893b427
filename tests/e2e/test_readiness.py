"""`/readyz` over real HTTP (CONFIG.md, issue 15): sources that are down are reported and never
take a replica out of the load balancer, since serving flagged stale copies is then the
gateway's job; only an audit store that does not answer makes it 503 (reads could not be
audited), and it is ready again once the store answers."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Gateway, Stack
from tests.e2e.test_resilience import PASSPORT, gateway_settings, people, running_gateway
from tests.relay import tcp_relay

TTL_S = 1
# One attempt per fetch and a breaker that opens on the first failure and stays open.
TRIP_AT_ONCE = {"retry_max_attempts": 1, "breaker_failure_threshold": 1, "breaker_open_s": 600}


def probe(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    """`/readyz`: status code and body."""
    response = gateway.client.get(f"{gateway.url}/readyz")
    return response.status_code, response.json()


def _one_per_region(stack: Stack) -> list[str]:
    """A person in each region's EHR, with lab results, dispensations and ambulance calls."""
    chosen: list[str] = []
    for region in ("astana", "almaty", "shymkent"):
        chosen.append(
            people(
                stack,
                lambda p, r=region: (
                    r in p["ehrRegions"]
                    and p["inLis"]
                    and p["labResults"]
                    and p["dispensations"]
                    and p["ambulanceCalls"]
                ),
            )[0]
        )
    return chosen


def _passport(gateway: Gateway, stack: Stack, iin: str) -> dict[str, Any]:
    body = gateway.graphql(PASSPORT, {"iin": iin}, stack.token("patient", iin=iin)).json()
    assert "errors" not in body, body
    return body["data"]["passport"]


def test_ready_with_every_source_down_while_stale_copies_are_served(clean_faults: Stack) -> None:
    stack = clean_faults
    every_source = {name: {"ttl_s": TTL_S} for name in ("register", "lis", "drugs", "ambulance")}
    every_source |= {f"ehr-{r}": {"ttl_s": TTL_S} for r in ("astana", "almaty", "shymkent")}
    settings = gateway_settings(stack, sources=every_source, resilience=TRIP_AT_ONCE)
    iins = _one_per_region(stack)
    with running_gateway(stack, settings) as gateway:
        warm = {iin: _passport(gateway, stack, iin) for iin in iins}
        warmed_at = time.monotonic()
        status, body = probe(gateway)
        assert status == 200 and body["ready"] is True and body["audit"] is True
        assert set(body["sources"].values()) == {"closed"}

        for emulator in stack.urls:
            stack.fault(emulator, down=True)
        time.sleep(max(0.0, TTL_S + 0.2 - (time.monotonic() - warmed_at)))
        stale = {iin: _passport(gateway, stack, iin) for iin in iins}

        status, body = probe(gateway)
        # Every source failed and its breaker is open: reported, and still ready.
        assert body["sources"] == {source.name: "open" for source in settings.sources}
        assert status == 200 and body["ready"] is True and body["audit"] is True

        # ... because every section is still served, from the cache and flagged stale.
        for iin in iins:
            reports = stale[iin]["sources"]
            assert reports and all(r["stale"] and not r["ok"] for r in reports), reports
            fresh = {key: value for key, value in warm[iin].items() if key != "sources"}
            assert {key: value for key, value in stale[iin].items() if key != "sources"} == fresh
        again = _passport(gateway, stack, iins[0])
        assert {r["error"] for r in again["sources"]} == {"circuit_open"}
        assert all(r["stale"] for r in again["sources"])


@pytest.mark.postgres
def test_not_ready_while_the_audit_database_does_not_answer(stack: Stack, pg_url: str) -> None:
    with tcp_relay(5432) as relay:
        through_relay = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}")
        settings = gateway_settings(
            stack,
            audit={"database_url": through_relay, "patient_key": "readiness-key-" + "0" * 20},
        )
        with running_gateway(stack, settings) as gateway:
            status, body = probe(gateway)
            assert status == 200 and body["audit"] is True

            relay.cut()
            status, body = probe(gateway)
            assert status == 503
            assert body["ready"] is False and body["audit"] is False
            # The sources are fine, and said to be: only the audit store is at fault.
            assert set(body["sources"].values()) == {"closed"}

            relay.restore()
            deadline = time.monotonic() + 10
            while (status := probe(gateway)[0]) != 200:
                assert time.monotonic() < deadline, "not ready again after the database returned"
                time.sleep(0.1)
