"""Nothing in a token makes the verifier fetch keys elsewhere (issue 11, hole 2).

Real servers on loopback: the identity provider serving its JWKS at the configured URL, and
an attacker serving its own key set. Tokens signed by the attacker and pointing at its key set
(``jku``, ``x5u``) or carrying its key (``jwk``) are refused, and the attacker sees no request;
a JWKS URL that redirects is not followed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth.tokens import TokenVerifier
from gateway.config import AuthSettings
from gateway.errors import Internal, Unauthenticated
from tests.hostile import Recorder
from tests.servers import serve_app

ISSUER = "https://idp.test.kz"
AUDIENCE = "ehp-gateway"


@pytest.fixture(scope="module")
def idp_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def attacker_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "evil-1", "alg": "RS256", "use": "sig"})


def key_set(*keys: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def serving(document: dict[str, Any]) -> Recorder:
    async def handler(request: Request) -> Response:
        return JSONResponse(document)

    return Recorder(handler)


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "acct-1",
        "role": "doctor",
        "practitioner_id": "P-1",
        "iat": now,
        "exp": now + 300,
    }


@contextlib.contextmanager
def idp_and_attacker(idp: Recorder, attacker: Recorder) -> Iterator[tuple[str, str]]:
    with serve_app(idp.app) as idp_url, serve_app(attacker.app) as attacker_url:
        yield idp_url, attacker_url


def verifier(jwks_url: str) -> TokenVerifier:
    """A verifier built as the gateway builds it (app.py): a plain httpx client."""
    settings = AuthSettings(
        issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url, jwks_refresh_s=0, leeway_s=0
    )
    return TokenVerifier(settings, http_client_factory=lambda: httpx.AsyncClient())


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "jwk with the idp's kid"])
async def test_a_token_cannot_name_where_its_key_comes_from(
    header: str, idp_key: RSAKey, attacker_key: RSAKey
) -> None:
    idp = serving(key_set(idp_key))
    attacker = serving(key_set(attacker_key))
    with idp_and_attacker(idp, attacker) as (idp_url, attacker_url):
        check = verifier(f"{idp_url}/jwks.json")
        fields: dict[str, Any] = {"alg": "RS256", "kid": "evil-1"}
        if header == "jku":
            fields["jku"] = f"{attacker_url}/jwks.json"
        elif header == "x5u":
            fields["x5u"] = f"{attacker_url}/cert.pem"
        else:
            fields["jwk"] = attacker_key.as_dict(private=False)
            if header.endswith("kid"):
                fields["kid"] = "idp-1"
        token = jwt.encode(fields, claims(), attacker_key, algorithms=["RS256"])
        with pytest.raises(Unauthenticated):
            await check.verify(f"Bearer {token}")
        await check.aclose()
    assert attacker.seen == []
    assert set(idp.paths()) <= {"/jwks.json"}


async def test_a_redirecting_jwks_url_is_not_followed(idp_key: RSAKey) -> None:
    attacker = serving(key_set(idp_key))
    holder: dict[str, str] = {}

    async def redirect(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": f"{holder['to']}/jwks.json"})

    idp = Recorder(redirect)
    with idp_and_attacker(idp, attacker) as (idp_url, attacker_url):
        holder["to"] = attacker_url
        check = verifier(f"{idp_url}/jwks.json")
        token = jwt.encode(
            {"alg": "RS256", "kid": "idp-1"}, claims(), idp_key, algorithms=["RS256"]
        )
        with pytest.raises(Internal):  # no key set could be loaded: the IdP is at fault
            await check.verify(f"Bearer {token}")
        await check.aclose()
    assert attacker.seen == []
    assert idp.paths() == ["/jwks.json"]
