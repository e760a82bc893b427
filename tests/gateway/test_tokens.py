"""Token verification: good tokens give a Principal, every forged or wrong one Unauthenticated."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from gateway.auth.principal import Principal, Role
from gateway.auth.tokens import TokenVerifier
from gateway.config import AuthSettings
from gateway.errors import Internal, Unauthenticated

ISSUER = "https://idp.test.kz"
AUDIENCE = "ehp-gateway"
PATIENT_IIN = "900101300007"  # valid example of SOURCES.md
ORG_BIN = "061211600012"  # valid by the same rule


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1", "use": "sig"})


@pytest.fixture(scope="module")
def other_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-2", "use": "sig"})


def jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


@pytest.fixture
def jwks_file(tmp_path: Path, rsa_key: RSAKey, ec_key: ECKey) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(rsa_key, ec_key)), encoding="utf-8")
    return path


def settings_for(jwks_file: Path | None = None, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "jwks_file": str(jwks_file) if jwks_file else None,
        "leeway_s": 30,
    }
    values.update(overrides)
    return AuthSettings(**values)


@pytest.fixture
def verifier(jwks_file: Path) -> TokenVerifier:
    return TokenVerifier(settings_for(jwks_file))


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "acct-42",
        "role": "doctor",
        "practitioner_id": "P-0007",
        "org_bin": ORG_BIN,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, alg: str, payload: dict[str, Any], kid: str | None = "default") -> str:
    header: dict[str, Any] = {"alg": alg}
    if kid == "default":
        kid = key.kid
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, payload, key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"
    )


async def test_valid_rs256_token_gives_principal(verifier: TokenVerifier, rsa_key: RSAKey) -> None:
    principal = await verifier.verify("Bearer " + sign(rsa_key, "RS256", claims()))
    assert principal == Principal(
        subject="acct-42",
        role=Role.DOCTOR,
        iin=None,
        practitioner_id="P-0007",
        org_bin=ORG_BIN,
        region=None,
    )


async def test_valid_es256_patient_token(verifier: TokenVerifier, ec_key: ECKey) -> None:
    token = sign(ec_key, "ES256", claims(role="patient", iin=PATIENT_IIN, org_bin=None))
    principal = await verifier.verify(f"bearer {token}")
    assert principal.role is Role.PATIENT and principal.iin == PATIENT_IIN


async def test_patients_and_managers_need_no_staff_claims(
    verifier: TokenVerifier, rsa_key: RSAKey
) -> None:
    bare = {"practitioner_id": None, "org_bin": None}
    patient = claims(role="patient", iin=PATIENT_IIN, **bare)
    assert (await verifier.verify("Bearer " + sign(rsa_key, "RS256", patient))).iin == PATIENT_IIN
    manager = await verifier.verify(
        "Bearer " + sign(rsa_key, "RS256", claims(role="manager", **bare))
    )
    assert manager.role is Role.MANAGER and manager.practitioner_id is None


async def test_manager_region_and_every_role(verifier: TokenVerifier, rsa_key: RSAKey) -> None:
    for role in ("emergency", "nurse", "doctor", "manager"):
        principal = await verifier.verify("Bearer " + sign(rsa_key, "RS256", claims(role=role)))
        assert principal.role is Role(role.upper())
    manager = await verifier.verify(
        "Bearer " + sign(rsa_key, "RS256", claims(role="manager", region="astana"))
    )
    assert manager.region == "astana"


async def test_expiry_within_leeway_is_accepted(verifier: TokenVerifier, rsa_key: RSAKey) -> None:
    token = sign(rsa_key, "RS256", claims(exp=int(time.time()) - 5))
    assert (await verifier.verify("Bearer " + token)).subject == "acct-42"


async def test_token_without_kid_uses_a_single_key_set(tmp_path: Path, rsa_key: RSAKey) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(jwks(rsa_key)), encoding="utf-8")
    verifier = TokenVerifier(settings_for(path))
    token = sign(rsa_key, "RS256", claims(), kid=None)
    assert (await verifier.verify("Bearer " + token)).role is Role.DOCTOR


def _hs256_with_public_key_as_secret(rsa_key: RSAKey) -> str:
    # The classic key-confusion attack: HMAC keyed with the published RSA public key.
    public_pem = rsa_key.as_pem(private=False)
    header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _tampered(rsa_key: RSAKey) -> str:
    header, _, signature = sign(rsa_key, "RS256", claims(role="nurse")).split(".")
    forged = b64(json.dumps(claims(role="doctor")).encode())
    return f"{header}.{forged}.{signature}"


def bad_headers(rsa_key: RSAKey, other: RSAKey, ec_key: ECKey) -> dict[str, str | None]:
    """Every kind of bad Authorization header, by name."""
    now = int(time.time())
    return {
        "no header": None,
        "empty": "",
        "basic scheme": "Basic dXNlcjpwYXNz",
        "bearer without token": "Bearer ",
        "two tokens": "Bearer a.b.c d.e.f",
        "not a jwt": "Bearer not-a-jwt",
        "garbage header": "Bearer %%%.eyJ9.c2ln",
        "header not json": f"Bearer {b64(b'nope')}.{b64(b'{}')}.{b64(b'sig')}",
        "alg none unsigned": "Bearer " + hand_made({"alg": "none"}, claims()),
        "alg none with signature": "Bearer " + hand_made({"alg": "none"}, claims(), b"x"),
        "alg None spelled": "Bearer " + hand_made({"alg": "None", "kid": "rsa-1"}, claims(), b"x"),
        "hs256 with rsa public key": "Bearer " + _hs256_with_public_key_as_secret(rsa_key),
        "hs256 shared secret": "Bearer "
        + hand_made(
            {"alg": "HS256", "kid": "rsa-1"},
            claims(),
            hmac.new(b"secret", b"x", hashlib.sha256).digest(),
        ),
        "bad signature (other key, same kid)": "Bearer "
        + sign(other, "RS256", claims(), kid="rsa-1"),
        "tampered payload": "Bearer " + _tampered(rsa_key),
        "truncated signature": "Bearer " + sign(rsa_key, "RS256", claims())[:-10],
        "expired": "Bearer " + sign(rsa_key, "RS256", claims(exp=now - 120)),
        "not yet valid": "Bearer " + sign(rsa_key, "RS256", claims(nbf=now + 600)),
        "no exp": "Bearer " + sign(rsa_key, "RS256", claims(exp=None)),
        "exp not a number": "Bearer " + sign(rsa_key, "RS256", claims(exp="tomorrow")),
        "wrong issuer": "Bearer " + sign(rsa_key, "RS256", claims(iss="https://evil.example")),
        "no issuer": "Bearer " + sign(rsa_key, "RS256", claims(iss=None)),
        "wrong audience": "Bearer " + sign(rsa_key, "RS256", claims(aud="other-api")),
        "wrong audience list": "Bearer " + sign(rsa_key, "RS256", claims(aud=["a", "b"])),
        "no subject": "Bearer " + sign(rsa_key, "RS256", claims(sub=None)),
        "unknown kid": "Bearer " + sign(other, "RS256", claims(), kid="rsa-2"),
        "no kid, several keys": "Bearer " + sign(rsa_key, "RS256", claims(), kid=None),
        "es256 header on rsa key": "Bearer "
        + hand_made({"alg": "ES256", "kid": "rsa-1"}, claims(), b"x" * 64),
        "rs256 header on ec key": "Bearer " + sign(rsa_key, "RS256", claims(), kid="ec-1"),
        "missing role": "Bearer " + sign(rsa_key, "RS256", claims(role=None)),
        "unknown role": "Bearer " + sign(rsa_key, "RS256", claims(role="admin")),
        "role in capitals": "Bearer " + sign(rsa_key, "RS256", claims(role="DOCTOR")),
        "role not a string": "Bearer " + sign(rsa_key, "RS256", claims(role=["doctor"])),
        "patient without iin": "Bearer " + sign(rsa_key, "RS256", claims(role="patient")),
        "patient with bad iin": "Bearer "
        + sign(rsa_key, "RS256", claims(role="patient", iin="900101300008")),
        "invalid org_bin": "Bearer " + sign(rsa_key, "RS256", claims(org_bin="123")),
        "doctor without practitioner_id": "Bearer "
        + sign(rsa_key, "RS256", claims(practitioner_id=None)),
        "nurse without practitioner_id": "Bearer "
        + sign(rsa_key, "RS256", claims(role="nurse", practitioner_id=None)),
        "emergency without practitioner_id": "Bearer "
        + sign(rsa_key, "RS256", claims(role="emergency", practitioner_id=None)),
        "doctor without org_bin": "Bearer " + sign(rsa_key, "RS256", claims(org_bin=None)),
        "emergency without org_bin": "Bearer "
        + sign(rsa_key, "RS256", claims(role="emergency", org_bin=None)),
        "practitioner_id too long": "Bearer "
        + sign(rsa_key, "RS256", claims(practitioner_id="P" * 65)),
        "practitioner_id not an id": "Bearer "
        + sign(rsa_key, "RS256", claims(practitioner_id="P-1\nforged line")),
        "huge token": "Bearer " + "a" * 9000 + ".b.c",
    }


@pytest.fixture(scope="module")
def bad(rsa_key: RSAKey, other_rsa_key: RSAKey, ec_key: ECKey) -> dict[str, str | None]:
    return bad_headers(rsa_key, other_rsa_key, ec_key)


# case -> what the error message must say (so each case fails for its own reason)
CASES = {
    "no header": "bearer token required",
    "empty": "bearer token required",
    "basic scheme": "bearer token required",
    "bearer without token": "bearer token required",
    "two tokens": "bearer token required",
    "not a jwt": "invalid token",
    "garbage header": "invalid token",
    "header not json": "invalid token",
    "alg none unsigned": "invalid token",
    "alg none with signature": "algorithm not accepted",
    "alg None spelled": "algorithm not accepted",
    "hs256 with rsa public key": "algorithm not accepted",
    "hs256 shared secret": "algorithm not accepted",
    "bad signature (other key, same kid)": "invalid token",
    "tampered payload": "invalid token",
    "truncated signature": "invalid token",
    "expired": "expired",
    "not yet valid": "nbf",
    "no exp": "exp",
    "exp not a number": "exp",
    "wrong issuer": "iss",
    "no issuer": "iss",
    "wrong audience": "aud",
    "wrong audience list": "aud",
    "no subject": "sub",
    "unknown kid": "unknown signing key",
    "no kid, several keys": "unknown signing key",
    "es256 header on rsa key": "invalid token",
    "rs256 header on ec key": "invalid token",
    "missing role": "role",
    "unknown role": "unknown role",
    "role in capitals": "unknown role",
    "role not a string": "unknown role",
    "patient without iin": "without iin",
    "patient with bad iin": "iin claim",
    "invalid org_bin": "org_bin",
    "doctor without practitioner_id": "lacks claim practitioner_id",
    "nurse without practitioner_id": "lacks claim practitioner_id",
    "emergency without practitioner_id": "lacks claim practitioner_id",
    "doctor without org_bin": "lacks claim org_bin",
    "emergency without org_bin": "lacks claim org_bin",
    "practitioner_id too long": "invalid practitioner_id claim",
    "practitioner_id not an id": "invalid practitioner_id claim",
    "huge token": "invalid token",
}


def test_every_case_is_listed(bad: dict[str, str | None]) -> None:
    assert sorted(bad) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
async def test_bad_token_is_unauthenticated(
    case: str, bad: dict[str, str | None], verifier: TokenVerifier
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(bad[case])
    assert caught.value.code == "UNAUTHENTICATED"
    assert CASES[case] in caught.value.message


async def test_algorithm_not_configured_is_refused(jwks_file: Path, ec_key: ECKey) -> None:
    verifier = TokenVerifier(settings_for(jwks_file, algorithms=("RS256",)))
    with pytest.raises(Unauthenticated):
        await verifier.verify("Bearer " + sign(ec_key, "ES256", claims()))


def test_symmetric_algorithms_cannot_be_configured(jwks_file: Path) -> None:
    with pytest.raises(ValueError, match="HS256"):
        TokenVerifier(settings_for(jwks_file, algorithms=("RS256", "HS256")))


async def test_symmetric_key_in_jwks_is_ignored(tmp_path: Path, rsa_key: RSAKey) -> None:
    oct_key = {"kty": "oct", "kid": "shared", "k": b64(b"secret-secret-secret-secret-1234")}
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"keys": [oct_key, rsa_key.as_dict(private=False)]}), "utf-8")
    verifier = TokenVerifier(settings_for(path))
    forged = hand_made(
        {"alg": "HS256", "kid": "shared"}, claims(), b"whatever"
    )  # refused by algorithm already, and the key never loads
    with pytest.raises(Unauthenticated):
        await verifier.verify("Bearer " + forged)
    assert (await verifier.verify("Bearer " + sign(rsa_key, "RS256", claims()))).subject


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_jwks_url_refetched_at_most_once_per_interval(
    rsa_key: RSAKey, other_rsa_key: RSAKey
) -> None:
    served = {"document": jwks(rsa_key)}
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=served["document"])

    clock = FakeClock()
    auth = settings_for(jwks_url="https://idp.test.kz/jwks.json", jwks_refresh_s=300)
    verifier = TokenVerifier(
        auth, lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)), monotonic=clock
    )
    good = "Bearer " + sign(rsa_key, "RS256", claims())
    rotated = "Bearer " + sign(other_rsa_key, "RS256", claims())

    assert (await verifier.verify(good)).role is Role.DOCTOR
    assert calls == ["https://idp.test.kz/jwks.json"]
    for _ in range(5):  # known kid: no fetch
        await verifier.verify(good)
    assert len(calls) == 1

    served["document"] = jwks(rsa_key, other_rsa_key)  # the IdP rotates in a new key
    for _ in range(3):  # unknown kid within the interval: fail, no refetch
        with pytest.raises(Unauthenticated):
            await verifier.verify(rotated)
    assert len(calls) == 1

    clock.now += 300
    results = await asyncio.gather(*(verifier.verify(rotated) for _ in range(10)))
    assert all(p.role is Role.DOCTOR for p in results)
    assert len(calls) == 2  # ten concurrent requests, one refetch

    unknown = "Bearer " + hand_made({"alg": "RS256", "kid": "nobody"}, claims(), b"x" * 256)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await verifier.verify(unknown)
    assert len(calls) == 2
    clock.now += 299
    with pytest.raises(Unauthenticated):
        await verifier.verify(unknown)
    assert len(calls) == 2
    clock.now += 1
    with pytest.raises(Unauthenticated):
        await verifier.verify(unknown)
    assert len(calls) == 3
    await verifier.aclose()


async def test_jwks_file_reread_on_unknown_kid_once_per_interval(
    jwks_file: Path, rsa_key: RSAKey, ec_key: ECKey, other_rsa_key: RSAKey
) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(settings_for(jwks_file, jwks_refresh_s=60), monotonic=clock)
    await verifier.load()
    assert verifier.jwks_fetches == 1
    jwks_file.write_text(json.dumps(jwks(rsa_key, ec_key, other_rsa_key)), encoding="utf-8")
    rotated = "Bearer " + sign(other_rsa_key, "RS256", claims())
    with pytest.raises(Unauthenticated):
        await verifier.verify(rotated)
    assert verifier.jwks_fetches == 1
    clock.now += 60
    assert (await verifier.verify(rotated)).subject == "acct-42"
    assert verifier.jwks_fetches == 2


async def test_unreachable_idp_without_keys_is_internal_not_401(rsa_key: RSAKey) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="down")

    verifier = TokenVerifier(
        settings_for(jwks_url="https://idp.test.kz/jwks.json"),
        lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(Internal):
        await verifier.verify("Bearer " + sign(rsa_key, "RS256", claims()))
    await verifier.aclose()


async def test_refresh_failure_keeps_cached_keys(rsa_key: RSAKey, other_rsa_key: RSAKey) -> None:
    up = {"ok": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if up["ok"]:
            return httpx.Response(200, json=jwks(rsa_key))
        return httpx.Response(500)

    clock = FakeClock()
    verifier = TokenVerifier(
        settings_for(jwks_url="https://idp.test.kz/jwks.json"),
        lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        monotonic=clock,
    )
    good = "Bearer " + sign(rsa_key, "RS256", claims())
    await verifier.verify(good)
    up["ok"] = False
    clock.now += 1000
    with pytest.raises(Unauthenticated):
        await verifier.verify("Bearer " + sign(other_rsa_key, "RS256", claims()))
    assert (await verifier.verify(good)).subject == "acct-42"
    await verifier.aclose()


async def test_verified_token_cache_still_expires(jwks_file: Path, rsa_key: RSAKey) -> None:
    wall = {"now": time.time()}
    verifier = TokenVerifier(settings_for(jwks_file), wall_clock=lambda: wall["now"])
    token = "Bearer " + sign(rsa_key, "RS256", claims(exp=int(wall["now"]) + 60))
    await verifier.verify(token)
    await verifier.verify(token)  # served from the cache of verified tokens
    wall["now"] += 60 + 29  # still inside the 30 s leeway
    assert (await verifier.verify(token)).subject == "acct-42"
    wall["now"] += 1
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(token)


async def test_withdrawn_key_invalidates_cached_tokens(
    jwks_file: Path, rsa_key: RSAKey, ec_key: ECKey, other_rsa_key: RSAKey
) -> None:
    clock = FakeClock()
    verifier = TokenVerifier(settings_for(jwks_file, jwks_refresh_s=60), monotonic=clock)
    old = "Bearer " + sign(rsa_key, "RS256", claims())
    await verifier.verify(old)
    jwks_file.write_text(json.dumps(jwks(ec_key, other_rsa_key)), encoding="utf-8")
    clock.now += 60
    await verifier.verify("Bearer " + sign(other_rsa_key, "RS256", claims()))  # forces a reload
    with pytest.raises(Unauthenticated):
        await verifier.verify(old)
