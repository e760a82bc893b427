"""The demo's identity provider: what the web passport needs of OpenID Connect, and no more.

Discovery, ``/authorize`` (a page listing the demo people: pick one to sign in as them),
``/token`` (authorization code with PKCE S256, codes single-use and short-lived) and the
JWKS. Access tokens are the demo issuer's (``gateway.auth.issuer.DemoIssuer``: the same
key, issuer and audience the gateway verifies); ID tokens name this provider as issuer and
the client as audience, and carry the nonce the app sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gateway.auth.issuer import DemoIssuer

CODE_TTL_S = 60  # an authorization code is exchanged within seconds, or never
TOKEN_TTL_S = 3600
# Cancer and glaucoma screenings (SOURCES.md SNOMED codes): no programme rule excludes them for
# an active problem, so one done over five years ago is overdue for everyone in its age group.
PLAIN_SCREENINGS = ("71651007", "171149006", "104435004", "171205003")
OVERDUE_AFTER_DAYS = 5 * 365 + 2


@dataclass(frozen=True)
class DemoPerson:
    """Someone the demo provider can sign in: a role and the claims of their token."""

    key: str  # short stable id, also the token's subject (demo-KEY)
    label: str  # what they are, e.g. "Doctor of the patient's polyclinic"
    name: str
    role: str  # the token's role claim: patient, nurse, doctor, emergency, manager
    claims: Mapping[str, str] = field(default_factory=dict)  # iin, org_bin, practitioner_id, region

    @property
    def subject(self) -> str:
        """The token's ``sub``."""
        return f"demo-{self.key}"


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    person: DemoPerson
    expires_at: float


def demo_people(truth: Mapping[str, Any], cast: Any) -> list[DemoPerson]:
    """The people of the sign-in page, from the ground truth and the demo's cast."""
    patient = showcase_patient(truth, cast)["identity"]
    region = patient["region"]
    people = [
        DemoPerson("patient", "Patient", patient["fullName"], "patient", {"iin": patient["iin"]}),
    ]
    parent = first_guardian(truth)
    if parent is not None:
        identity = truth["people"][parent]["identity"]
        people.append(
            DemoPerson(
                "parent", "Parent of a child", identity["fullName"], "patient", {"iin": parent}
            )
        )
    for key, label, role, person in (
        ("nurse", "Nurse of the patient's polyclinic", "nurse", cast.nurse),
        ("doctor", "Doctor of the patient's polyclinic", "doctor", cast.doctor),
        ("paramedic", "Ambulance paramedic", "emergency", cast.paramedic),
    ):
        staff = {"practitioner_id": person["id"], "org_bin": person["orgBin"]}
        people.append(DemoPerson(key, label, person["name"], role, staff))
    people.append(DemoPerson("manager", "Health manager, national", "Manager", "manager"))
    people.append(
        DemoPerson(
            "manager-" + region,
            f"Health manager, {region}",
            f"Manager ({region})",
            "manager",
            {"region": region},
        )
    )
    return people


def overdue_screenings(truth: Mapping[str, Any], iin: str) -> set[str]:
    """Codes of PLAIN_SCREENINGS whose latest screening of ``iin`` is over five years old."""
    today = dt.date.fromisoformat(truth["today"])
    latest: dict[str, str] = {}
    for screening in truth["people"][iin]["screenings"]:
        code = screening["code"]["code"]
        latest[code] = max(latest.get(code, ""), screening["date"])
    return {
        code
        for code, done in latest.items()
        if code in PLAIN_SCREENINGS
        and (today - dt.date.fromisoformat(done)).days > OVERDUE_AFTER_DAYS
    }


def showcase_patient(truth: Mapping[str, Any], cast: Any) -> dict[str, Any]:
    """The patient the app shows best: of the cast's polyclinic, a check-up overdue, most facts.

    Falls back on the cast's patient when no one of that polyclinic has a check-up overdue.
    """
    clinic = cast.patient["careTeam"]["attachedOrganization"]["bin"]
    people = truth["people"]
    candidates = [
        people[iin]
        for iin in truth["edgeCases"]["overdueScreening"]
        if people[iin]["careTeam"]["attachedOrganization"]["bin"] == clinic
        and overdue_screenings(truth, iin)
    ]
    if not candidates:
        return cast.patient
    return max(
        candidates,
        key=lambda p: (
            len(p["labResults"]) + len(p["currentMedications"]) + len(p["problems"]),
            p["identity"]["iin"],
        ),
    )


def first_guardian(truth: Mapping[str, Any]) -> str | None:
    """The IIN of the adult who may read the most children's passports today, if any.

    Read from ``dependants`` in the ground truth (the children whose register RelatedPerson
    names this person and grants access today, docs/ground-truth.md); ties go to the lowest IIN.
    """
    guardians = [
        (len(person.get("dependants") or ()), iin)
        for iin, person in truth["people"].items()
        if person.get("dependants")
    ]
    if not guardians:
        return None
    most = max(count for count, _ in guardians)
    return min(iin for count, iin in guardians if count == most)


def create_idp(
    issuer: DemoIssuer,
    url: str,
    clients: Mapping[str, Iterable[str]],
    people: Sequence[DemoPerson],
    token_ttl_s: int = TOKEN_TTL_S,
) -> Starlette:
    """The provider at ``url``; ``clients`` maps each client id to its redirect URIs."""
    url = url.rstrip("/")
    registered = {client: tuple(uris) for client, uris in clients.items()}
    origins = {_origin(uri) for uris in registered.values() for uri in uris}
    by_key = {person.key: person for person in people}
    grants: dict[str, _Grant] = {}

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin", "")
        if origin not in origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def discovery(request: Request) -> Response:
        document = {
            "issuer": url,
            "authorization_endpoint": f"{url}/authorize",
            "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
            "token_endpoint_auth_methods_supported": ["none"],
        }
        return JSONResponse(document, headers=cors(request))

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [issuer.key.as_dict(private=False)]}, headers=cors(request))

    async def authorize(request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await _form(request)
        client_id = str(params.get("client_id", ""))
        redirect_uri = str(params.get("redirect_uri", ""))
        # A wrong client or redirect is told to the person, never redirected (open redirect).
        if redirect_uri not in registered.get(client_id, ()):
            return _page("Sign-in refused", "<p>Unknown client or redirect address.</p>", 400)
        state = params.get("state")
        problem = _authorize_problem(params)
        if problem is not None:
            refusal = {"error": problem[0], "error_description": problem[1]}
            return _redirect(redirect_uri, refusal, state)
        if request.method == "GET":
            return _chooser(people, params, redirect_uri)
        person = by_key.get(str(params.get("person", "")))
        if person is None:
            return _redirect(redirect_uri, {"error": "access_denied"}, state)
        code = secrets.token_urlsafe(32)
        grants[code] = _Grant(
            client_id=client_id,
            redirect_uri=redirect_uri,
            challenge=str(params["code_challenge"]),
            nonce=params.get("nonce"),
            person=person,
            expires_at=time.monotonic() + CODE_TTL_S,
        )
        return _redirect(redirect_uri, {"code": code}, state)

    async def token(request: Request) -> Response:
        headers = {**cors(request), "Cache-Control": "no-store", "Pragma": "no-cache"}
        form = await _form(request)
        if form.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type", headers)
        grant = grants.pop(str(form.get("code", "")), None)  # single use, even when refused
        if grant is None or grant.expires_at < time.monotonic():
            return _token_error("invalid_grant", headers, "unknown, used or expired code")
        if form.get("client_id") != grant.client_id:
            return _token_error("invalid_client", headers, "the code was issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _token_error("invalid_grant", headers, "redirect_uri differs from /authorize")
        if not _verifier_matches(str(form.get("code_verifier", "")), grant.challenge):
            return _token_error("invalid_grant", headers, "code_verifier does not match")
        person = grant.person
        access = issuer.issue(person.role, person.subject, ttl_s=token_ttl_s, **person.claims)
        now = int(time.time())
        id_claims = {
            "iss": url,
            "aud": grant.client_id,
            "sub": person.subject,
            "name": person.name,
            "iat": now,
            "exp": now + token_ttl_s,
        }
        if grant.nonce:
            id_claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": str(issuer.key.kid)}, id_claims, issuer.key)
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": token_ttl_s,
            "id_token": id_token,
            "scope": "openid",
        }
        return JSONResponse(body, headers=headers)

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks.json", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the only kind OAuth posts)."""
    body = await request.body()
    if len(body) > 16_384:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _authorize_problem(params: Mapping[str, Any]) -> tuple[str, str] | None:
    """The OAuth error of an authorization request, or None when it is acceptable."""
    if params.get("response_type") != "code":
        return "unsupported_response_type", "only the authorization code flow"
    if "openid" not in str(params.get("scope", "")).split():
        return "invalid_scope", "scope must include openid"
    if params.get("code_challenge_method") != "S256" or len(params.get("code_challenge", "")) < 43:
        return "invalid_request", "PKCE with S256 is required"
    if not params.get("state"):
        return "invalid_request", "state is required"
    return None


def _verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) == challenge, verifier 43-128 characters."""
    if not 43 <= len(verifier) <= 128:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(expected, challenge)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _redirect(redirect_uri: str, values: dict[str, str], state: str | None) -> Response:
    if state:
        values = {**values, "state": state}
    return RedirectResponse(f"{redirect_uri}?{urlencode(values)}", status_code=303)


def _token_error(error: str, headers: dict[str, str], description: str = "") -> Response:
    body = {"error": error, **({"error_description": description} if description else {})}
    return JSONResponse(body, status_code=400, headers=headers)


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:40rem;padding:1rem}"
    "ul{list-style:none;padding:0}li{margin:.5rem 0}"
    "button{width:100%;text-align:left;padding:.75rem;font:inherit;border:1px solid #555;"
    "border-radius:.5rem;background:#fff;cursor:pointer}"
    "button:focus-visible,button:hover{outline:3px solid #0b57d0}"
    "small{display:block;color:#333}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def _page(title: str, body: str, status: int = 200, form_action: str = "") -> HTMLResponse:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    csp = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
        f"form-action 'self' {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer"}
    return HTMLResponse(document, status_code=status, headers=headers)


def _chooser(
    people: Sequence[DemoPerson], params: Mapping[str, Any], redirect_uri: str
) -> Response:
    """The sign-in page: one button per demo person, each a POST back with the request."""
    kept = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce")
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(str(params.get(name, "")))}">'
        for name in (*kept, "code_challenge", "code_challenge_method")
    )
    items = "".join(
        f'<li><button type="submit" name="person" value="{html.escape(p.key)}">'
        f"<strong>{html.escape(p.name)}</strong><small>{html.escape(p.label)}</small>"
        f"</button></li>"
        for p in people
    )
    body = (
        "<p>Demo identity provider: choose who you are. In production the national "
        "identity provider signs you in instead.</p>"
        f'<form method="post" action="authorize">{hidden}<ul>{items}</ul></form>'
    )
    return _page("Sign in to the health passport", body, form_action=_origin(redirect_uri))
