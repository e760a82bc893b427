"""The demo identity provider over real HTTP: discovery, the page, PKCE, codes used once."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from demo.idp import DemoPerson, create_idp, demo_people, overdue_screenings
from demo.run import pick_cast
from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer
from gateway.auth.principal import Role
from gateway.auth.tokens import TokenVerifier
from gateway.config import AuthSettings
from tests.servers import free_port, serve_app

CLIENT = "ehp-web"
REDIRECT = "http://127.0.0.1:8000/app/"
NURSE = DemoPerson(
    "nurse",
    "Nurse",
    "Новикова Мария",
    "nurse",
    {"practitioner_id": "P1", "org_bin": "061211600012"},
)
PATIENT = DemoPerson("patient", "Patient", "Пак Татьяна", "patient", {"iin": "900101300007"})


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DemoIssuer:
    return DemoIssuer.create(tmp_path_factory.mktemp("idp-keys"))


@pytest.fixture(scope="module")
def idp(issuer: DemoIssuer) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve_app(create_idp(issuer, url, {CLIENT: [REDIRECT]}, [PATIENT, NURSE]), port):
        yield url


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(idp: str, challenge: str, person: str = "nurse", **changes: str) -> httpx.Response:
    """POST the person's choice, as the page's form does."""
    form = {
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "state-1",
        "nonce": "nonce-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "person": person,
        **changes,
    }
    return httpx.post(f"{idp}/authorize", data=form)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert str(location).startswith(REDIRECT)
    assert location.params["state"] == "state-1"
    return location.params["code"]


def exchange(idp: str, code: str, verifier: str, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT,
        "code_verifier": verifier,
        **changes,
    }
    return httpx.post(f"{idp}/token", data=form, headers={"Origin": "http://127.0.0.1:8000"})


def test_discovery_names_the_endpoints_of_this_provider(idp: str) -> None:
    document = httpx.get(f"{idp}/.well-known/openid-configuration").json()
    assert document["issuer"] == idp
    assert document["authorization_endpoint"] == f"{idp}/authorize"
    assert document["token_endpoint"] == f"{idp}/token"
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_the_page_lists_the_people_and_keeps_the_request(idp: str) -> None:
    _, challenge = pkce()
    params = {
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "s<script>",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = httpx.get(f"{idp}/authorize", params=params)
    assert page.status_code == 200
    assert "Новикова Мария" in page.text and "Пак Татьяна" in page.text
    assert "s&lt;script&gt;" in page.text and "<script>" not in page.text  # escaped
    assert "form-action 'self' http://127.0.0.1:8000" in page.headers["content-security-policy"]


async def test_code_flow_with_pkce_gives_a_token_the_gateway_accepts(
    idp: str, issuer: DemoIssuer
) -> None:
    verifier, challenge = pkce()
    response = exchange(idp, code_of(authorize(idp, challenge)), verifier)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    tokens = response.json()
    keys = KeySet.import_key_set(httpx.get(f"{idp}/jwks.json").json())
    id_token = jwt.decode(tokens["id_token"], keys)
    assert id_token.claims["iss"] == idp
    assert id_token.claims["aud"] == CLIENT
    assert id_token.claims["nonce"] == "nonce-1"
    verifier_of_gateway = TokenVerifier(
        AuthSettings(
            issuer=DEMO_ISSUER,
            audience=DEMO_AUDIENCE,
            jwks_file=str(issuer.jwks_path),
            algorithms=("RS256",),
        )
    )
    await verifier_of_gateway.load()
    principal = await verifier_of_gateway.verify(f"Bearer {tokens['access_token']}")
    assert principal.role == Role.NURSE
    assert (principal.practitioner_id, principal.org_bin) == ("P1", "061211600012")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "x" * 64}, "invalid_grant"),
        ({"code_verifier": "short"}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:8000/other/"}, "invalid_grant"),
        ({"client_id": "someone-else"}, "invalid_client"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_a_wrong_exchange_is_refused_and_burns_the_code(
    idp: str, change: dict[str, str], error: str
) -> None:
    verifier, challenge = pkce()
    code = code_of(authorize(idp, challenge))
    refused = exchange(idp, code, verifier, **change)
    assert refused.status_code == 400
    assert refused.json()["error"] == error
    if change.get("grant_type") is None:
        assert exchange(idp, code, verifier).json()["error"] == "invalid_grant"  # used up


def test_a_code_is_exchanged_once(idp: str) -> None:
    verifier, challenge = pkce()
    code = code_of(authorize(idp, challenge))
    assert exchange(idp, code, verifier).status_code == 200
    again = exchange(idp, code, verifier)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_an_unknown_redirect_is_never_followed(idp: str) -> None:
    _, challenge = pkce()
    response = authorize(idp, challenge, redirect_uri="https://evil.example/app/")
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"person": "nobody"}, "access_denied"),
    ],
)
def test_a_bad_authorization_request_goes_back_with_its_error(
    idp: str, change: dict[str, str], error: str
) -> None:
    _, challenge = pkce()
    response = authorize(idp, challenge, **change)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == error
    assert "code" not in location.params


def test_demo_people_come_from_the_ground_truth(ground_truth: dict[str, Any]) -> None:
    cast = pick_cast(ground_truth)
    people = {person.key: person for person in demo_people(ground_truth, cast)}
    patient = ground_truth["people"][people["patient"].claims["iin"]]
    assert people["patient"].name == patient["identity"]["fullName"]
    assert overdue_screenings(ground_truth, patient["identity"]["iin"])
    clinic = patient["careTeam"]["attachedOrganization"]["bin"]
    for key in ("nurse", "doctor"):
        assert people[key].claims["org_bin"] == clinic
    staff = {p["id"]: p for p in ground_truth["practitioners"]}
    assert (
        "фельдшер" in staff[people["paramedic"].claims["practitioner_id"]]["qualification"].lower()
    )
    assert people["manager"].claims == {}
    regional = [p for key, p in people.items() if key.startswith("manager-")]
    assert [p.claims["region"] for p in regional] == [patient["identity"]["region"]]
    assert all(re.fullmatch(r"[a-z-]+", key) for key in people)
    # The parent is an adult whose RelatedPersons grant access to children today.
    parent = ground_truth["people"][people["parent"].claims["iin"]]
    assert people["parent"].role == "patient" and parent["identity"]["age"] >= 18
    children = parent["dependants"]
    assert children and all(
        any(g["iin"] == parent["identity"]["iin"] and g["grantsAccess"] for g in child["guardians"])
        for child in (ground_truth["people"][iin] for iin in children)
    )
    most = max(len(p.get("dependants") or ()) for p in ground_truth["people"].values())
    assert len(children) == most
