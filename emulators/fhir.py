"""The FHIR R4 emulator of the population register and the regional EHRs (SOURCES.md section 1).

``create_fhir_app(db_path, kind, token)`` serves one database under ``/fhir``:
``GET /fhir/{type}/{id}`` reads, ``GET /fhir/{type}?...`` searches (see ``fhir_search`` for
the parameters, strict handling: unknown ones are 400), ``POST /fhir`` answers a ``batch``
Bundle of GETs, ``GET /fhir/metadata`` a minimal CapabilityStatement. Every answer is
``application/fhir+json``; every error an OperationOutcome.

Choices the contract leaves open:
- A resource type the kind does not hold (the register: Patient, Organization, Practitioner,
  RelatedPerson; an EHR: Patient and the clinical types) answers 404 ``not-supported``, for
  reads and searches, and ``_revinclude`` of such a type is 400. The register also reverse-
  includes ``RelatedPerson:patient`` (a child's parents and guardians with the child).
- Paging uses ``_count`` (default 50, larger values capped at 500) and ``_offset``; the
  ``next`` link is absolute, built from the request's own base URL, and carries every filter.
- With ``_revinclude`` the *matches* are paged and ``total`` counts them only; each page
  carries every included resource of the patients on that page, unpaged.
- Stored resources are sent as stored (embedded with ``orjson.Fragment``, never re-parsed).
"""

from __future__ import annotations

import hmac
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.fhir_search import (
    OFFSET_PARAM,
    SERVED_TYPES,
    FhirError,
    Search,
    invalid,
    parse_search,
)
from emulators.instrumentation import Instrumented

FHIR_JSON = "application/fhir+json"
BASE_PATH = "/fhir"
MAX_BATCH_ENTRIES = 50
MAX_BODY_BYTES = 1_000_000
STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
}
_MATCH = {"mode": "match"}
_INCLUDE = {"mode": "include"}


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """Return an OperationOutcome with one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


class FhirStore:
    """Answers FHIR interactions with SQL over one read-only emulator database."""

    def __init__(self, db_path: Path, kind: str) -> None:
        if kind not in SERVED_TYPES:
            raise ValueError(f"unknown FHIR kind {kind!r}")
        self.kind = kind
        self.served = SERVED_TYPES[kind]
        uri = f"{db_path.resolve().as_uri()}?mode=ro"
        self.connection = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def read(self, resource_type: str, resource_id: str) -> orjson.Fragment:
        """Return one stored resource, or raise a 404 ``FhirError``."""
        self._check_type(resource_type)
        row = self.connection.execute(
            "SELECT json FROM resource WHERE type = ? AND id = ?", (resource_type, resource_id)
        ).fetchone()
        if row is None:
            raise FhirError(404, "not-found", f"{resource_type}/{resource_id} is not known")
        return orjson.Fragment(row[0])

    def search(self, resource_type: str, items: list[tuple[str, str]], base: str) -> dict:
        """Return the searchset Bundle of one search (``base`` is the absolute server base)."""
        self._check_type(resource_type)
        search = parse_search(resource_type, items, self.served)
        url = f"{base}/{resource_type}"
        if search.summary_count:
            return _bundle(self._total(search), [_link("self", url, search.link_params)])
        rows = self.connection.execute(
            search.page_sql(), [*search.args, search.count, search.offset]
        ).fetchall()
        if len(rows) < search.count and (rows or search.offset == 0):
            total = search.offset + len(rows)  # the last page: no need to count
        else:
            total = self._total(search)
        links = [_link("self", url, _paged(search, search.offset))]
        if search.count and search.offset + len(rows) < total:
            links.append(_link("next", url, _paged(search, search.offset + search.count)))
        entries = [
            {"fullUrl": f"{url}/{rid}", "resource": orjson.Fragment(text), "search": _MATCH}
            for rid, text in rows
        ]
        if search.revincludes and rows:
            entries.extend(self._included(search.revincludes, [rid for rid, _ in rows], base))
        bundle = _bundle(total, links)
        bundle["entry"] = entries
        return bundle

    def interaction(self, url: str, base: str) -> Any:
        """Answer a GET given as a URL relative to the base (a batch entry's ``request.url``)."""
        parts = urlsplit(url)
        path = parts.path
        if parts.scheme:  # an absolute URL: keep what follows the FHIR base path
            path = path.partition(f"{BASE_PATH}/")[2]
        segments = path.strip("/").split("/")
        if len(segments) == 1 and segments[0]:
            return self.search(segments[0], parse_qsl(parts.query, keep_blank_values=True), base)
        if len(segments) == 2 and not parts.query:
            return self.read(*segments)
        raise invalid(f"unsupported request URL {url!r} (expected {{type}}?... or {{type}}/{{id}})")

    def batch(self, bundle: Any, base: str) -> dict:
        """Answer a ``batch`` Bundle of GETs with a ``batch-response`` in the same order."""
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise invalid("the body must be a Bundle")
        if bundle.get("type") != "batch":
            raise invalid("only Bundle.type = batch is supported")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise invalid("Bundle.entry must be a list")
        if len(entries) > MAX_BATCH_ENTRIES:
            raise invalid(f"a batch holds at most {MAX_BATCH_ENTRIES} entries")
        return {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [self._batch_entry(entry, base) for entry in entries],
        }

    def _batch_entry(self, entry: Any, base: str) -> dict:
        request = entry.get("request") if isinstance(entry, dict) else None
        try:
            if not isinstance(request, dict) or not isinstance(request.get("url"), str):
                raise invalid("batch entry without request.url")
            if request.get("method") != "GET":
                raise invalid("only GET entries are supported in a batch")
            resource = self.interaction(request["url"], base)
            status = 200
        except FhirError as error:
            status = error.status
            resource = operation_outcome(error.code, error.diagnostics)
        return {"resource": resource, "response": {"status": _status_line(status)}}

    def _included(self, types: list[str], patient_ids: list[str], base: str) -> list[dict]:
        marks = ",".join("?" * len(patient_ids))
        sql = (
            f"SELECT id, json FROM resource INDEXED BY resource_patient "
            f"WHERE type = ? AND patient_id IN ({marks}) "
            "ORDER BY patient_id, id"
        )
        entries: list[dict] = []
        for included in types:
            for rid, text in self.connection.execute(sql, [included, *patient_ids]):
                entries.append(
                    {
                        "fullUrl": f"{base}/{included}/{rid}",
                        "resource": orjson.Fragment(text),
                        "search": _INCLUDE,
                    }
                )
        return entries

    def _total(self, search: Search) -> int:
        return self.connection.execute(search.count_sql(), search.args).fetchone()[0]

    def _check_type(self, resource_type: str) -> None:
        if resource_type not in self.served:
            raise FhirError(
                404, "not-supported", f"this {self.kind} server holds no {resource_type}"
            )


def _bundle(total: int, links: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}


def _paged(search: Search, offset: int) -> list[tuple[str, str]]:
    paging = [("_count", str(search.count))]
    if offset:
        paging.append((OFFSET_PARAM, str(offset)))
    return search.link_params + paging


def _link(relation: str, url: str, params: list[tuple[str, str]]) -> dict[str, str]:
    return {"relation": relation, "url": f"{url}?{urlencode(params)}" if params else url}


def _status_line(status: int) -> str:
    return STATUS_LINES.get(status, str(status))


def _fhir_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=FHIR_JSON)


def _base_url(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{BASE_PATH}"


def capability_statement(kind: str) -> dict[str, Any]:
    """Return the minimal CapabilityStatement of one kind of server."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]}
                    for t in sorted(SERVED_TYPES[kind])
                ],
                "interaction": [{"code": "batch"}],
            }
        ],
    }


def _routes(store: FhirStore) -> list[Route]:
    async def read(request: Request) -> Response:
        params = request.path_params
        return _fhir_response(store.read(params["type"], params["id"]))

    async def search(request: Request) -> Response:
        items = request.query_params.multi_items()
        return _fhir_response(store.search(request.path_params["type"], items, _base_url(request)))

    async def batch(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise FhirError(413, "too-costly", "the batch body is too large")
        try:
            bundle = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise invalid("the body is not JSON") from None
        return _fhir_response(store.batch(bundle, _base_url(request)))

    capability = orjson.dumps(capability_statement(store.kind))

    async def metadata(request: Request) -> Response:
        return Response(capability, media_type=FHIR_JSON)

    return [
        Route(BASE_PATH, batch, methods=["POST"]),
        Route(f"{BASE_PATH}/", batch, methods=["POST"]),  # the base with its trailing slash
        Route(f"{BASE_PATH}/metadata", metadata, methods=["GET"]),
        Route(BASE_PATH + "/{type}", search, methods=["GET"]),
        Route(BASE_PATH + "/{type}/{id}", read, methods=["GET"]),
    ]


async def _fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return _fhir_response(operation_outcome(exc.code, exc.diagnostics), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = "not-found" if exc.status_code == 404 else "not-supported"
    return _fhir_response(operation_outcome(code, str(exc.detail)), exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    return _fhir_response(operation_outcome("exception", "internal error", "fatal"), 500)


class BearerAuth:
    """ASGI wrapper refusing, with a 401 OperationOutcome, requests without the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass an authorised request on, refuse any other."""
        if scope["type"] == "http" and not self._authorised(scope):
            body = orjson.dumps(operation_outcome("login", "a valid bearer token is required"))
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", FHIR_JSON.encode()),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Bearer realm="fhir"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                # The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
                same = hmac.compare_digest(credentials, self.token)
                return same and scheme.lower() == b"bearer"
        return False


def create_fhir_app(
    db_path: Path,
    kind: str,
    token: str | None = "emulator-token",  # noqa: S107 - the published demo token
) -> ASGIApp:
    """Build the FHIR emulator of ``kind`` (fhir-register or fhir-ehr) over one database."""
    store = FhirStore(db_path, kind)
    app: ASGIApp = Starlette(
        routes=_routes(store),
        exception_handlers={
            FhirError: _fhir_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    if token is not None:
        app = BearerAuth(app, token)
    return Instrumented(app, BASE_PATH)
