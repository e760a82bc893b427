"""A running gateway in front of a hostile source (issue 11, holes 2 and 3).

One source of the stack is replaced by a proxy on loopback that forwards to the real emulator
and then lies: it adds a next link to an attacker's server, or mixes another person's records
into the answer. The passport must show only the asked person's data (the generator's ground
truth), name that source in ``sources`` with its error, and send the attacker nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import parse_settings
from tests.e2e.conftest import Gateway, Stack, config_data
from tests.hostile import METHODS, Recorder
from tests.servers import serve_app

PASSPORT = """
query($iin: IIN!) { passport(iin: $iin) {
  allergies { substance { code } provenance { region } }
  problems(includeResolved: true) { code { code } status onset provenance { region } }
  encounters { kind start organization { bin } diagnosis { code } }
  dispensations { name dispensedAt amountKzt }
  sources { source ok stale error }
} }
"""
FORWARDED = ("authorization", "x-api-key", "content-type", "accept")

Upstream = Callable[[str, bytes], Awaitable[httpx.Response]]
# (request, send upstream) -> the body the proxy answers with
Lie = Callable[[Request, bytes, Upstream], Awaitable[bytes]]


class LyingProxy:
    """Forwards every request to ``upstream`` (an emulator's origin), then answers what ``lie``
    makes of it; links to the emulator are rewritten to the proxy so honest paging still works."""

    def __init__(self, upstream: str, lie: Lie) -> None:
        self.upstream = upstream.rstrip("/")
        self.lie = lie
        self.requests = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._serve, methods=METHODS)])

    async def _serve(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
        body = await request.body()
        headers = {h: request.headers[h] for h in FORWARDED if h in request.headers}
        here = str(request.base_url).rstrip("/")
        statuses: list[int] = []
        content_type: list[str] = []

        async def send(target: str, content: bytes) -> httpx.Response:
            async with httpx.AsyncClient(timeout=10) as client:
                reply = await client.request(
                    request.method, self.upstream + target, content=content, headers=headers
                )
            statuses.append(reply.status_code)
            content_type.append(reply.headers.get("content-type", "application/json"))
            return reply

        answer = await self.lie(request, body, send)
        answer = answer.replace(self.upstream.encode(), here.encode())
        return Response(answer, status_code=statuses[0], media_type=content_type[0])


def target_of(request: Request) -> str:
    """Path and query of a request, as sent to the upstream."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def searchsets(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The searchset Bundles of an answer: itself, or those inside a batch-response."""
    if bundle.get("type") == "batch-response":
        return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
    return [bundle]


def with_next_link(link: str) -> Lie:
    """Every searchset gets a ``next`` link to ``link`` (the attacker)."""

    async def lie(request: Request, body: bytes, send: Upstream) -> bytes:
        reply = await send(target_of(request), body)
        if reply.status_code != 200:
            return reply.content
        bundle = reply.json()
        for found in searchsets(bundle):
            found["link"] = [{"relation": "next", "url": link}]
        return orjson.dumps(bundle)

    return lie


def mixing_in(iin: str, other: str) -> Lie:
    """Answers about ``iin`` carry ``other``'s entries too (the same request made for them)."""

    async def lie(request: Request, body: bytes, send: Upstream) -> bytes:
        target = target_of(request)
        reply = await send(target, body)
        if (iin not in target and iin.encode() not in body) or reply.status_code != 200:
            return reply.content
        second = await send(target.replace(iin, other), body.replace(iin.encode(), other.encode()))
        mine, theirs = reply.json(), second.json()
        for ours, foreign in zip(searchsets(mine), searchsets(theirs), strict=True):
            ours["entry"] = [*ours.get("entry", []), *foreign.get("entry", [])]
        return orjson.dumps(mine)

    return lie


def answering_for(iin: str, other: str) -> Lie:
    """Answers about ``iin`` with ``other``'s answer, as it came (the ambulance's root iin)."""

    async def lie(request: Request, body: bytes, send: Upstream) -> bytes:
        return (await send(target_of(request).replace(iin, other), body)).content

    return lie


def tagging_in(iin: str, other: str) -> Lie:
    """DPS lists about ``iin`` carry ``other``'s items too, each naming ``other`` in ``iin``."""

    async def lie(request: Request, body: bytes, send: Upstream) -> bytes:
        target = target_of(request)
        reply = await send(target, body)
        if iin not in target or reply.status_code != 200:
            return reply.content
        page = reply.json()
        foreign = (await send(target.replace(iin, other), body)).json()
        page["items"] += [{**item, "iin": other} for item in foreign["items"]]
        return orjson.dumps(page)

    return lie


@contextlib.contextmanager
def gateway_with(stack: Stack, system: str, proxy: LyingProxy) -> Iterator[Gateway]:
    """A gateway whose ``system`` is the proxy (under the emulator's own base path)."""
    emulator = httpx.URL(stack.urls[system])
    with serve_app(proxy.app) as proxy_url:
        urls = {**stack.urls, system: proxy_url + emulator.path.rstrip("/")}
        settings = parse_settings(config_data(stack.directory, urls, stack.issuer, {}), {})
        with serve_app(create_app(settings)) as url:
            yield Gateway(url, settings, stack.client)


def origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def passport(gateway: Gateway, stack: Stack, iin: str, failing: str | None = None) -> dict:
    """The passport; errors only SOURCE_UNAVAILABLE of the ``failing`` source, if one."""
    response = gateway.graphql(PASSPORT, {"iin": iin}, stack.token("patient", iin=iin))
    assert response.status_code == 200
    body = response.json()
    for error in body.get("errors", []):
        assert failing is not None, body["errors"]
        assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
        assert error["message"] == f"source {failing} unavailable: bad_response"
    return body["data"]["passport"]


def statuses(answer: dict[str, Any]) -> dict[str, tuple[bool, str | None]]:
    return {s["source"]: (s["ok"], s["error"]) for s in answer["sources"]}


def problems(items: list[dict[str, Any]]) -> set[tuple]:
    return {(p["code"]["code"], p["status"], p["onset"], p["provenance"]["region"]) for p in items}


def true_problems(person: dict[str, Any]) -> set[tuple]:
    return {(p["code"]["code"], p["status"], p["onset"], p["region"]) for p in person["problems"]}


def ehr_pair(truth: dict[str, Any]) -> tuple[str, str, str]:
    """(region, person, other): two people of one regional EHR, the other with a problem the
    person has not, so that a mix-up would show."""
    people = truth["people"]
    for iin, person in people.items():
        for region in person["ehrRegions"]:
            codes = {p["code"]["code"] for p in person["problems"] if p["region"] == region}
            for other, them in people.items():
                if other != iin and any(
                    p["region"] == region and p["code"]["code"] not in codes
                    for p in them["problems"]
                ):
                    return region, iin, other
    raise AssertionError("the population has no two people with problems in one region")


def test_a_next_link_to_an_attacker_sends_it_nothing(stack: Stack) -> None:
    region, iin, _ = ehr_pair(stack.ground_truth)
    system = f"ehr-{region}"
    attacker = Recorder()
    with serve_app(attacker.app) as attacker_url:
        steal = "//" + origin(attacker_url).removeprefix("http://") + "/steal"
        proxy = LyingProxy(origin(stack.urls[system]), with_next_link(steal))
        with gateway_with(stack, system, proxy) as gateway:
            answer = passport(gateway, stack, iin, failing=system)
    assert attacker.seen == [], f"the attacker got {attacker.seen}"
    assert statuses(answer)[system] == (False, "bad_response")
    assert answer["problems"] is None  # a record cut short is not shown as the whole


def test_another_patients_resources_in_an_ehr_answer_are_not_shown(stack: Stack) -> None:
    region, iin, other = ehr_pair(stack.ground_truth)
    system = f"ehr-{region}"
    person = stack.ground_truth["people"][iin]
    proxy = LyingProxy(origin(stack.urls[system]), mixing_in(iin, other))
    with gateway_with(stack, system, proxy) as gateway:
        first = passport(gateway, stack, iin)
        asked = proxy.requests
        again = passport(gateway, stack, iin)  # from the gateway's cache
    assert proxy.requests == asked
    for answer in (first, again):
        assert problems(answer["problems"]) == true_problems(person)
        assert {
            (a["substance"]["code"], a["provenance"]["region"]) for a in answer["allergies"]
        } == {
            (a["substance"]["code"], a["region"])
            for a in person["allergies"]
            if a.get("clinicalStatus", "active") == "active"
        }
        status = statuses(answer)
        assert status[system] == (False, "wrong_patient")
        assert all(ok for name, (ok, _) in status.items() if name != system), status


def test_an_ambulance_answer_about_another_iin_is_not_shown(stack: Stack) -> None:
    truth = stack.ground_truth["people"]
    other = next(
        i for i in stack.ground_truth["edgeCases"]["ambulance"] if truth[i]["ambulanceCalls"]
    )
    iin = next(
        i for i, p in truth.items() if i != other and not p["ambulanceCalls"] and p["encounters"]
    )
    proxy = LyingProxy(stack.urls["ambulance"], answering_for(iin, other))
    with gateway_with(stack, "ambulance", proxy) as gateway:
        answer = passport(gateway, stack, iin)
    assert not any(e["kind"] == "AMBULANCE" for e in answer["encounters"])
    assert len(answer["encounters"]) == len(truth[iin]["encounters"])
    assert statuses(answer)["ambulance"] == (False, "wrong_patient")


def test_dps_items_naming_another_iin_are_not_shown(stack: Stack) -> None:
    truth = stack.ground_truth["people"]
    with_drugs = [i for i, p in truth.items() if p["dispensations"]]
    iin, other = with_drugs[0], with_drugs[1]
    proxy = LyingProxy(stack.urls["dps"], tagging_in(iin, other))
    with gateway_with(stack, "dps", proxy) as gateway:
        answer = passport(gateway, stack, iin)
    assert sorted((d["dispensedAt"], d["amountKzt"]) for d in answer["dispensations"]) == sorted(
        (d["dispensedAt"], d["amountKzt"]) for d in truth[iin]["dispensations"]
    )
    assert statuses(answer)["drugs"] == (False, "wrong_patient")


@pytest.fixture(autouse=True)
def _quiet_upstream_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", "httpx")
