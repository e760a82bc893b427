"""A hostile source cannot make the gateway send its credentials elsewhere (issue 11, hole 2).

Real servers on loopback: a hostile source and an "attacker" that records every request it
gets. Whatever link, redirect or batch answer the source sends, the attacker must see nothing,
and the read must fail as bad_response (or the redirect's status), never follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config import SourceSettings
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.dps import DpsAdapter
from gateway.sources.errors import SourceError
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.http import resolve_within, within_base
from gateway.sources.lis import LisAdapter
from gateway.sources.registry import create_client
from tests.hostile import Recorder
from tests.servers import serve_app

IIN = "900101300007"
FHIR_TOKEN = "ehr-bearer-secret"
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:kz:iin", "value": IIN}],
}
CONDITION = {
    "resourceType": "Condition",
    "id": "c9",
    "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J45"}]},
}


@dataclass
class Scene:
    """The hostile source (``source``, serving under ``/fhir``) and the attacker's server."""

    source: Recorder
    source_url: str
    attacker: Recorder
    attacker_url: str

    def port(self, url: str) -> int:
        return urlsplit(url).port or 80


@contextlib.contextmanager
def scene(source: Recorder) -> Iterator[Scene]:
    attacker = Recorder()
    with serve_app(attacker.app) as attacker_url, serve_app(source.app) as source_url:
        yield Scene(source, source_url, attacker, attacker_url)


def fhir_bundle(*resources, next_url: str | None = None) -> dict:
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"resource": r, "search": {"mode": "match" if i == 0 else "include"}}
            for i, r in enumerate(resources)
        ],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def paging_ehr(next_link) -> tuple[Recorder, dict[str, Scene]]:
    """An EHR whose first searchset page links to ``next_link(scene)``; page 2 has a Condition.

    ``holder["s"]`` is to be set to the scene once the servers run (the link names their ports).
    """
    holder: dict[str, Scene] = {}

    async def handler(request: Request) -> Response:
        if request.url.path == "/fhir/Patient" and "page" not in request.url.query:
            body = fhir_bundle(PATIENT, next_url=next_link(holder["s"]))
        else:
            body = fhir_bundle(CONDITION)
            body["entry"][0]["search"]["mode"] = "include"
        return JSONResponse(body, media_type="application/fhir+json")

    return Recorder(handler), holder


def settings(kind: str, base_url: str, **extra) -> SourceSettings:
    values = {
        "name": {"fhir-ehr": "ehr-astana", "fhir-register": "register"}.get(kind, kind),
        "kind": kind,
        "base_url": base_url,
        "region": "astana" if kind == "fhir-ehr" else None,
        "timeout_ms": 3000,
    }
    if kind.startswith("fhir-"):
        values["token"] = FHIR_TOKEN
    values.update(extra)
    return SourceSettings(**values)


def adapter(cls, kind: str, base_url: str, **extra):
    made = settings(kind, base_url, **extra)
    return cls(made, create_client(made))


# Links that leave the source: the attacker's server, or the source itself outside its base.
LEAVING = {
    "protocol-relative": lambda s: f"//127.0.0.1:{s.port(s.attacker_url)}/steal",
    "another origin": lambda s: f"{s.attacker_url}/fhir/Patient?page=2",
    "another host name": lambda s: f"http://localhost:{s.port(s.source_url)}/fhir?page=2",
    "another scheme": lambda s: f"https://127.0.0.1:{s.port(s.source_url)}/fhir?page=2",
    "path outside the base": lambda s: f"{s.source_url}/admin/steal?page=2",
    "encoded dot segments": lambda s: f"{s.source_url}/fhir/%2e%2e/admin?page=2",
    "relative dot segments": lambda s: "../admin?page=2",
    "user info": lambda s: f"http://x:y@127.0.0.1:{s.port(s.source_url)}/fhir?page=2",
    "base as prefix only": lambda s: f"{s.source_url}/fhirx/Patient?page=2",
}
# Links that stay: followed, with the token, to the same server.
STAYING = {
    "relative": lambda s: "Patient?page=2",
    "query only": lambda s: "?page=2",
    "absolute path": lambda s: "/fhir/Patient?page=2",
    "absolute, same origin": lambda s: f"{s.source_url}/fhir?page=2",
}


async def read_paging(next_link) -> tuple[Recorder, Scene, Any]:
    """An EHR record read from ``paging_ehr(next_link)``: the EHR, the scene, and the
    answer (or the SourceError raised)."""
    ehr, holder = paging_ehr(next_link)
    with scene(ehr) as s:
        holder["s"] = s
        reader = adapter(EhrAdapter, "fhir-ehr", f"{s.source_url}/fhir")
        try:
            answer = await reader.record(IIN, frozenset({"Condition"}))
        except SourceError as error:
            answer = error
        await reader.fhir.client.aclose()
    return ehr, s, answer


@pytest.mark.parametrize("name", LEAVING)
async def test_a_next_link_leaving_the_source_is_refused_and_never_followed(name):
    ehr, s, answer = await read_paging(LEAVING[name])
    assert isinstance(answer, SourceError) and answer.kind == "bad_response"
    assert s.attacker.seen == []
    assert ehr.paths() == ["/fhir/Patient"]  # the first search only: page 2 never asked


@pytest.mark.parametrize("name", STAYING)
async def test_a_next_link_within_the_source_is_followed(name):
    ehr, s, answer = await read_paging(STAYING[name])
    assert len(answer.value.problems) == 1
    assert len(ehr.seen) == 2
    assert ehr.seen[1].credentials == {"authorization": f"Bearer {FHIR_TOKEN}"}
    assert s.attacker.seen == []


async def test_a_next_link_in_a_batch_answer_is_checked_too():
    holder: dict[str, Scene] = {}

    async def handler(request: Request) -> Response:
        steal = f"//127.0.0.1:{holder['s'].port(holder['s'].attacker_url)}/steal"
        answer = {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {"response": {"status": "200 OK"}, "resource": fhir_bundle(PATIENT)},
                {"response": {"status": "200 OK"}, "resource": fhir_bundle(next_url=steal)},
            ],
        }
        return JSONResponse(answer, media_type="application/fhir+json")

    ehr = Recorder(handler)
    with scene(ehr) as s:
        holder["s"] = s
        reader = adapter(EhrAdapter, "fhir-ehr", f"{s.source_url}/fhir")
        with pytest.raises(SourceError) as raised:
            await reader.record(IIN, frozenset({"Observation"}), frozenset({"29463-7"}))
        await reader.fhir.client.aclose()
    assert raised.value.kind == "bad_response"
    assert [seen.method for seen in ehr.seen] == ["POST"]
    assert s.attacker.seen == []


async def test_directory_paging_cannot_lead_elsewhere():
    holder: dict[str, Scene] = {}

    async def handler(request: Request) -> Response:
        steal = f"{holder['s'].attacker_url}/fhir/Organization?page=2"
        organization = {"resourceType": "Organization", "id": "o1", "name": "Polyclinic"}
        return JSONResponse(
            fhir_bundle(organization, next_url=steal), media_type="application/fhir+json"
        )

    register = Recorder(handler)
    with scene(register) as s:
        holder["s"] = s
        reader = adapter(RegisterAdapter, "fhir-register", f"{s.source_url}/fhir")
        with pytest.raises(SourceError) as raised:
            await reader.warm_directory()
        await reader.fhir.client.aclose()
    assert raised.value.kind == "bad_response"
    assert s.attacker.seen == []


def redirecting(to_path: str, only: str | None = None) -> tuple[Recorder, dict[str, Scene]]:
    """A source answering every request (or those to ``only``) with 307 to the attacker."""
    holder: dict[str, Scene] = {}

    async def handler(request: Request) -> Response:
        if only is not None and request.url.path != only:
            return JSONResponse({"items": [], "next_cursor": None})
        location = f"{holder['s'].attacker_url}{to_path}"
        return Response(status_code=307, headers={"Location": location})

    return Recorder(handler), holder


REDIRECTED = {
    "fhir-ehr": (EhrAdapter, "/fhir", lambda a: a.record(IIN, frozenset({"Condition"}))),
    "lis-json": (LisAdapter, "", lambda a: a.history(IIN)),
    "dps-json": (DpsAdapter, "", lambda a: a.active_prescriptions(IIN)),
    "ambulance-xml": (AmbulanceAdapter, "", lambda a: a.calls(IIN)),
}
CREDENTIALS = {
    "fhir-ehr": {},
    "lis-json": {"api_key": "lis-secret"},
    "dps-json": {"client_id": "gw", "client_secret": "dps-secret"},
    "ambulance-xml": {"username": "ehp", "password": "amb-secret"},
}


@pytest.mark.parametrize("kind", REDIRECTED)
async def test_a_redirect_is_never_followed(kind):
    cls, prefix, read = REDIRECTED[kind]
    source, holder = redirecting("/steal")
    with scene(source) as s:
        holder["s"] = s
        made = adapter(cls, kind, f"{s.source_url}{prefix}", **CREDENTIALS[kind])
        with pytest.raises(SourceError) as raised:
            await read(made)
    assert raised.value.kind in ("http_307", "unauthorized", "bad_response")
    assert s.attacker.seen == []
    assert len(source.seen) == 1


async def test_the_dps_token_endpoint_cannot_redirect_the_client_secret():
    source, holder = redirecting("/oauth/token", only="/oauth/token")
    with scene(source) as s:
        holder["s"] = s
        made = adapter(DpsAdapter, "dps-json", s.source_url, **CREDENTIALS["dps-json"])
        with pytest.raises(SourceError):
            await made.active_prescriptions(IIN)
    assert s.attacker.seen == []
    assert source.paths() == ["/oauth/token"]
    assert b"dps-secret" in source.seen[0].body  # the secret went to the source alone


@pytest.mark.parametrize(
    "kind", ["fhir-ehr", "fhir-register", "lis-json", "dps-json", "ambulance-xml"]
)
async def test_no_client_of_a_source_sends_anything_outside_its_base(kind):
    sent: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    made = settings(kind, "http://source.test/api", **CREDENTIALS.get(kind, {}))
    client = create_client(made, transport=httpx.MockTransport(transport))
    if kind == "dps-json":  # a token in hand, as after the client-credentials grant
        client.token = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
    for url in ("http://elsewhere.test/api/x", "https://source.test/api/x", "http://source.test/x"):
        with pytest.raises(SourceError) as raised:
            await client.get(url)
        assert raised.value.kind == "bad_response"
    assert sent == []


BASE = httpx.URL("http://ehr.test:8080/fhir/")


@pytest.mark.parametrize(
    ("link", "within"),
    [
        ("Patient?page=2", True),
        ("?page=2", True),
        ("/fhir", True),
        ("/fhir/", True),
        ("/fhir/Patient/p1/_history/2", True),
        ("http://ehr.test:8080/fhir?page=2", True),
        ("HTTP://EHR.TEST:8080/fhir/Patient", True),
        ("http://ehr.test:08080/fhir/Patient", True),
        ("//ehr.test:8080/fhir/Patient", True),
        ("//evil.test/steal", False),
        ("//evil.test:8080/fhir/Patient", False),
        ("http://evil.test:8080/fhir/Patient", False),
        ("http://ehr.test/fhir/Patient", False),
        ("http://ehr.test:8081/fhir/Patient", False),
        ("https://ehr.test:8080/fhir/Patient", False),
        ("http://ehr.test:8080@evil.test/fhir", False),
        ("http://user:pw@ehr.test:8080/fhir/Patient", False),
        ("/admin", False),
        ("/fhirx/Patient", False),
        ("../admin", False),
        ("/fhir/../admin", False),
        ("/fhir/%2e%2e/admin", False),
        ("/fhir/..%2fadmin", False),
        ("/fhir/%2E%2E%2Fadmin", False),
        ("/fhir/a\\..\\..\\admin", False),
        ("ftp://ehr.test:8080/fhir/Patient", False),
    ],
)
def test_the_origin_and_path_check(link, within):
    try:
        resolved = resolve_within("ehr", BASE, link)
    except SourceError as error:
        assert not within, f"{link} was refused"
        assert error.kind == "bad_response"
    else:
        assert within, f"{link} was allowed as {resolved}"
        assert within_base(BASE, resolved)


def test_a_root_base_admits_every_path_of_its_origin_only():
    root = httpx.URL("http://lis.test/")
    assert within_base(root, httpx.URL("http://lis.test/api/v2/patients"))
    assert not within_base(root, httpx.URL("http://lis.test.evil/api"))
    assert not within_base(root, httpx.URL("http://lis.test/api/%2e%2e/%2e%2e/x"))
