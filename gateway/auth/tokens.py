"""Bearer token verification against the identity provider's JWKS (ACCESS.md)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import ECKey, Key, RSAKey
from joserfc.jws import JWSRegistry

from gateway.auth.principal import Principal, Role
from gateway.config import ALLOWED_ALGORITHMS, AuthSettings
from gateway.errors import Internal, Unauthenticated
from gateway.iin import is_valid_iin

log = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 8192  # a real token is ~1 kB; refuse huge ones before any parsing
VERIFIED_CACHE_SIZE = 4096  # tokens remembered as verified; a hit skips the ~0.1 ms RSA check
# The key type (and curve) each accepted algorithm needs.
_KEY_TYPE = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
# Staff who read a person's record: every read is audited with who they are and where they
# work (ACCESS.md "Audit"), so a token without either identifies nobody to audit.
STAFF_CLAIMS: dict[Role, tuple[str, ...]] = {
    role: ("practitioner_id", "org_bin") for role in (Role.EMERGENCY, Role.NURSE, Role.DOCTOR)
}
# A register id is a FHIR resource id: at most 64 letters, digits, '-' and '.'.
_PRACTITIONER_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class TokenVerifier:
    """Turns an `Authorization` header into a `Principal`, or raises `Unauthenticated`."""

    def __init__(
        self,
        settings: AuthSettings,
        http_client_factory: Callable[[], httpx.AsyncClient] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        for alg in settings.algorithms:
            if alg not in ALLOWED_ALGORITHMS:  # never trust a hand-built AuthSettings with HS*
                raise ValueError(f"algorithm {alg} is not allowed")
        self._settings = settings
        self._client_factory = http_client_factory or httpx.AsyncClient
        self._client: httpx.AsyncClient | None = None
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        # token -> (principal, exp); cleared whenever the key set is reloaded.
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._keys: dict[str, Key] = {}
        self._single_key: Key | None = None  # the key for tokens without `kid` (one-key sets)
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        # One registry per algorithm, so each token is verified with exactly its pinned algorithm.
        self._registries = {alg: JWSRegistry(algorithms=[alg]) for alg in settings.algorithms}
        self._claims = jwt.JWTClaimsRegistry(
            now=lambda: int(wall_clock()),
            leeway=settings.leeway_s,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.audience},
            exp={"essential": True},
            sub={"essential": True},
            role={"essential": True},
        )
        self.jwks_fetches = 0  # how many times the key set was (re)loaded

    async def load(self) -> None:
        """Load the key set now (call at start-up to fail fast); raises on failure."""
        async with self._lock:
            await self._reload()

    async def aclose(self) -> None:
        """Close the HTTP client used for the JWKS URL, if one was made."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def verify(self, authorization_header: str | None) -> Principal:
        """Verify the bearer token in `authorization_header` and return its principal."""
        token = _bearer_token(authorization_header)
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if self._wall_clock() < expires + self._settings.leeway_s:
                return principal
            del self._verified[token]
        alg, kid = self._header(token)
        key = await self._key_for(kid)
        kty, crv = _KEY_TYPE[alg]
        if key.key_type != kty or (crv and key.get("crv") != crv):
            raise Unauthenticated("invalid token")
        if key.get("alg") not in (None, alg):
            raise Unauthenticated("invalid token")
        try:
            decoded = jwt.decode(token, key, algorithms=[alg], registry=self._registries[alg])
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated("invalid token") from None
        claims = decoded.claims
        try:
            self._claims.validate(claims)
        except JoseError as error:
            raise _claim_error(error) from None
        principal = _principal(claims)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first
        self._verified[token] = (principal, float(claims["exp"]))
        return principal

    def _header(self, token: str) -> tuple[str, str | None]:
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise Unauthenticated("invalid token")
        try:
            raw = parts[0] + "=" * (-len(parts[0]) % 4)
            header = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError):
            raise Unauthenticated("invalid token") from None
        if not isinstance(header, dict):
            raise Unauthenticated("invalid token")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._registries:
            # "none", HS*, and anything not configured are refused before any key is touched.
            raise Unauthenticated("token algorithm not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("invalid token")
        return alg, kid

    async def _key_for(self, kid: str | None) -> Key:
        key = self._lookup(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._lookup(kid)  # another request may have refreshed meanwhile
            if key is None and self._may_refresh():
                try:
                    await self._reload()
                except Exception:
                    if not self._keys:  # never loaded: the IdP, not the token, is at fault
                        log.exception("cannot load the identity provider's JWKS")
                        raise Internal() from None
                    log.warning("JWKS refresh failed; keeping the cached key set", exc_info=True)
                key = self._lookup(kid)
        if key is None:
            raise Unauthenticated("unknown signing key")
        return key

    def _lookup(self, kid: str | None) -> Key | None:
        if kid is None:
            return self._single_key
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        if self._loaded_at is None:
            return True
        return self._monotonic() - self._loaded_at >= self._settings.jwks_refresh_s

    async def _reload(self) -> None:
        # Counted as an attempt even when it fails, so a dead IdP is not hammered.
        self._loaded_at = self._monotonic()
        self.jwks_fetches += 1
        document = await self._fetch_jwks()
        keys = _public_signing_keys(document)
        self._keys = {str(key.kid): key for key in keys}
        self._verified.clear()  # a key may have been withdrawn
        self._single_key = keys[0] if len(keys) == 1 else None

    async def _fetch_jwks(self) -> Any:
        s = self._settings
        if s.jwks_file is not None:
            text = await asyncio.to_thread(Path(s.jwks_file).read_text, encoding="utf-8")
            return json.loads(text)
        if self._client is None:
            self._client = self._client_factory()
        response = await self._client.get(str(s.jwks_url), headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()


def _bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthenticated("bearer token required")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated("bearer token required")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated("invalid token")
    return token


def _public_signing_keys(document: Any) -> list[Key]:
    """The RSA and EC signing keys of a JWKS document, public parts only."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: list[Key] = []
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use") not in (None, "sig"):
            continue
        kty = entry.get("kty")
        if kty not in ("RSA", "EC"):
            continue  # symmetric ("oct") or other keys can never verify our tokens
        try:
            key_cls = RSAKey if kty == "RSA" else ECKey
            key = key_cls.import_key(entry)
            public = key_cls.import_key(key.as_dict(private=False))
        except (JoseError, ValueError, TypeError):
            log.warning("ignoring a JWKS entry that is not a valid key")
            continue
        public.ensure_kid()
        keys.append(public)
    if not keys:
        raise ValueError("JWKS has no RSA or EC signing keys")
    return keys


def _claim_error(error: JoseError) -> Unauthenticated:
    if isinstance(error, ExpiredTokenError):
        return Unauthenticated("token expired")
    if isinstance(error, MissingClaimError):
        return Unauthenticated("token lacks claim {claim}", claim=error.claim)
    if isinstance(error, ClaimError):
        return Unauthenticated("invalid token claim {claim}", claim=error.claim)
    return Unauthenticated("invalid token")


def _principal(claims: dict[str, Any]) -> Principal:
    role = Role.from_claim(claims.get("role"))
    if role is None:
        raise Unauthenticated("unknown role")
    subject = claims["sub"]
    iin = _optional_text(claims, "iin")
    if iin is not None and not is_valid_iin(iin):
        raise Unauthenticated("invalid iin claim")
    if role is Role.PATIENT and iin is None:
        raise Unauthenticated("patient token without iin")
    org_bin = _optional_text(claims, "org_bin")
    if org_bin is not None and not is_valid_iin(org_bin):
        raise Unauthenticated("invalid org_bin claim")
    practitioner_id = _optional_text(claims, "practitioner_id")
    if practitioner_id is not None and not _PRACTITIONER_ID.fullmatch(practitioner_id):
        raise Unauthenticated("invalid practitioner_id claim")
    for name in STAFF_CLAIMS.get(role, ()):
        if claims.get(name) is None:
            raise Unauthenticated("token lacks claim {claim}", claim=name)
    return Principal(
        subject=subject,
        role=role,
        iin=iin,
        practitioner_id=practitioner_id,
        org_bin=org_bin,
        region=_optional_text(claims, "region"),
    )


def _optional_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise Unauthenticated("invalid {claim} claim", claim=name)
    return value
