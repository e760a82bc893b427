"""ACCESS.md "Limits" over real HTTP, with two gateways counting in one Redis.

Request rates per principal and per client address, the burst, and the distinct-patients
ceiling of a doctor reading outside any care relationship: each trips at its threshold
(429, Retry-After, RATE_LIMITED) on whichever gateway the request reaches, and lets the
caller in again once its window is over. Windows are a few seconds long here
(``rate_window_s``, ``patients_window_s``); client addresses come from X-Forwarded-For,
which uvicorn trusts from loopback as it would from a proxy named in FORWARDED_ALLOW_IPS.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Gateway, Stack
from tests.gateway.cache.test_redis_cache import REDIS_URL

pytestmark = pytest.mark.redis

ME = "{ me { role } }"
READ = """query($iin: IIN!, $reason: String) {
  passport(iin: $iin, breakGlassReason: $reason) { identity { fullName } } }"""
EMERGENCY = """query($iin: IIN!) {
  emergency(iin: $iin, reason: "collapsed in the corridor") { identity { fullName } } }"""
REASON = "unconscious, brought in without documents"
FAST = {"requests_per_minute": 0, "burst": 0}  # off: only the limit under test counts


@contextlib.contextmanager
def two_gateways(stack: Stack, **limits: Any) -> Iterator[tuple[Gateway, Gateway]]:
    """Two gateways whose limits are counted in the same Redis."""
    sections = {
        "cache": {"redis_url": REDIS_URL},
        "limits": {"storage": "redis", **limits},
    }
    with stack.fresh_gateway(**sections) as first, stack.fresh_gateway(**sections) as second:
        yield first, second


def ask(
    gateway: Gateway,
    query: str = ME,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    address: str | None = None,
) -> httpx.Response:
    """POST one GraphQL request, from ``address`` (X-Forwarded-For) when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if address:
        headers["X-Forwarded-For"] = address
    body = {"query": query, "variables": variables or {}}
    return httpx.post(f"{gateway.url}/graphql", json=body, headers=headers, timeout=30)


def addresses(count: int) -> list[str]:
    """Client addresses no other test (or earlier run) used."""
    base = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
    return [f"{base}.{i + 1}" for i in range(count)]


def refused(answer: httpx.Response, limit: str) -> int:
    """Check a 429 RATE_LIMITED answer naming ``limit``; its Retry-After in seconds."""
    assert answer.status_code == 429, answer.text
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert limit in error["message"]
    return int(answer.headers["Retry-After"])


def sample(gateway: Gateway, name: str, **labels: str) -> float:
    """One sample of the gateway's /metrics."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_principals_rate_trips_across_both_gateways_and_resets(stack: Stack) -> None:
    # 60 a minute counted over 3 s: 3 requests in any 3 s.
    with two_gateways(stack, requests_per_minute=60, rate_window_s=3, burst=100) as (a, b):
        token = stack.token("manager", subject=f"rate-{secrets.token_hex(4)}")
        other = stack.token("manager", subject=f"rate-{secrets.token_hex(4)}")
        fresh = iter(addresses(8))  # a new address each time: only the principal counts
        for gateway in (a, b, a):
            assert ask(gateway, token=token, address=next(fresh)).status_code == 200
        wait = refused(ask(b, token=token, address=next(fresh)), "principal")
        assert 1 <= wait <= 3
        assert ask(a, token=other, address=next(fresh)).status_code == 200  # another sub
        time.sleep(wait + 0.1)
        assert ask(a, token=token, address=next(fresh)).status_code == 200


def test_an_address_counts_every_token_and_unauthenticated_requests(stack: Stack) -> None:
    with two_gateways(stack, requests_per_minute=60, rate_window_s=3, burst=100) as (a, b):
        (address,) = addresses(1)
        tokens = [stack.token("manager", subject=f"addr-{secrets.token_hex(4)}") for _ in range(3)]
        assert ask(a, token=tokens[0], address=address).status_code == 200
        assert ask(b, address=address).status_code == 401  # no token: counted all the same
        assert ask(a, token=tokens[1], address=address).status_code == 200
        wait = refused(ask(b, token=tokens[2], address=address), "address")
        (elsewhere,) = addresses(1)
        assert ask(b, token=tokens[2], address=elsewhere).status_code == 200
        time.sleep(wait + 0.1)
        assert ask(a, token=tokens[2], address=address).status_code == 200


def test_a_burst_is_cut_within_the_second_and_then_let_in(stack: Stack) -> None:
    with two_gateways(stack, requests_per_minute=0, burst=3) as (a, b):
        token = stack.token("manager", subject=f"burst-{secrets.token_hex(4)}")
        places = addresses(6)
        before = sample(a, "ehp_rate_limited_total", limit="principal_burst")
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(
                pool.map(lambda i: ask((a, b)[i % 2], token=token, address=places[i]), range(6))
            )
        assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 3
        for answer in answers:
            if answer.status_code == 429:
                assert refused(answer, "burst") == 1
        # Both gateways count in one process here, so one registry holds both counts.
        assert sample(a, "ehp_rate_limited_total", limit="principal_burst") == before + 3
        time.sleep(1.1)
        assert ask(b, token=token, address=addresses(1)[0]).status_code == 200


# --- the distinct-patients ceiling --------------------------------------------------------


def _doctor_and_patients(truth: dict[str, Any]) -> tuple[dict[str, Any], str, list[str]]:
    """A doctor, one patient of their polyclinic, and four people they never saw."""
    people = truth["people"]
    related: dict[str, set[str]] = {}
    for iin, person in people.items():
        bins = {person["careTeam"]["attachedOrganization"]["bin"]}
        bins |= {e["organization"]["bin"] for e in person["encounters"] if e["organization"]}
        related[iin] = bins
    for doctor in sorted(truth["practitioners"], key=lambda p: p["id"]):
        org = doctor["orgBin"]
        cared = sorted(
            iin
            for iin, person in people.items()
            if person["careTeam"]["attachedOrganization"]["bin"] == org
        )
        strangers = sorted(iin for iin in people if org not in related[iin])
        if cared and len(strangers) >= 4:
            return doctor, cared[0], strangers[:4]
    raise AssertionError("no doctor with a patient of their own and four strangers")


def test_the_distinct_patients_ceiling_trips_across_gateways_and_resets(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    truth = stack.ground_truth
    doctor, own, strangers = _doctor_and_patients(truth)
    token = stack.token(
        "doctor",
        org_bin=doctor["orgBin"],
        practitioner_id=doctor["id"],
        subject=f"ceiling-{secrets.token_hex(4)}",
    )
    name = {iin: truth["people"][iin]["identity"]["fullName"] for iin in [own, *strangers]}

    def read(gateway: Gateway, iin: str, reason: str | None = REASON) -> httpx.Response:
        return ask(gateway, READ, {"iin": iin, "reason": reason}, token)

    def served(answer: httpx.Response, iin: str) -> None:
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["passport"]["identity"]["fullName"] == name[iin]

    limits = {**FAST, "distinct_patients_per_day": 2, "patients_window_s": 6}
    with two_gateways(stack, **limits) as (a, b):
        served(read(a, strangers[0]), strangers[0])
        served(read(b, strangers[1]), strangers[1])
        served(read(a, strangers[0]), strangers[0])  # the same person again: no new one
        before = sample(b, "ehp_patient_ceiling_reached_total", role="DOCTOR")
        stack.reset_requests()
        with caplog.at_level(logging.WARNING, logger="gateway.privacy"):
            third = read(b, strangers[2])
        wait = refused(third, "ceiling of 2 patients")
        assert third.json()["data"] == {"passport": None}
        assert third.json()["errors"][0]["path"] == ["passport"]
        assert set(stack.request_counts().values()) == {0}  # refused before any source
        assert 1 <= wait <= 6
        assert sample(b, "ehp_patient_ceiling_reached_total", role="DOCTOR") == before + 1
        alerts = [r.getMessage() for r in caplog.records if r.name == "gateway.privacy"]
        assert len(alerts) == 1 and "privacy-officer alert" in alerts[0]
        assert doctor["id"] in alerts[0]
        assert not any(iin in alerts[0] for iin in strangers)
        # An emergency read is outside a care relationship too; a read of the doctor's own
        # patient, with no reason, is not counted.
        emergency = ask(a, EMERGENCY, {"iin": strangers[3]}, token)
        refused(emergency, "ceiling")
        served(read(a, own, reason=None), own)
        # A new window: the doctor may read another person again.
        time.sleep(wait + 0.1)
        served(read(a, strangers[2]), strangers[2])


def test_the_fhir_face_counts_against_the_same_rates(stack: Stack) -> None:
    with two_gateways(stack, requests_per_minute=60, rate_window_s=3, burst=100) as (a, b):
        iin = sorted(stack.ground_truth["people"])[0]
        token = stack.token("patient", iin=iin, subject=f"fhir-{secrets.token_hex(4)}")
        fresh = iter(addresses(4))

        def summary(gateway: Gateway) -> httpx.Response:
            return httpx.get(
                f"{gateway.url}/fhir/Patient/{iin}/$summary",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/fhir+json",
                    "X-Forwarded-For": next(fresh),
                },
                timeout=30,
            )

        assert ask(a, token=token, address=next(fresh)).status_code == 200
        assert summary(b).status_code == 200
        assert ask(b, token=token, address=next(fresh)).status_code == 200
        limited = summary(a)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 3
        (issue,) = limited.json()["issue"]
        assert issue["details"]["coding"][0]["code"] == "RATE_LIMITED"
