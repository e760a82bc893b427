"""The drug provision system emulator: JSON API v1 with OAuth2 client credentials (SOURCES.md, 3).

Answers from ``dps.sqlite``; statistics are aggregated in SQL (money summed as
integer tiyn, so totals are exact), never by loading dispensations into memory.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from emulators.instrumentation import Instrumented

DEFAULT_CLIENT_SECRET = "emulator-dps-secret"  # noqa: S105 - the emulator's published demo secret
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BATCH_IINS = 100
_IIN = re.compile(r"\d{12}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_PRESCRIPTION_COLUMNS = (
    "id, issued_at, valid_until, status, atc, inn, trade_name, form, strength_value,"
    " strength_unit, dose_value, dose_unit, times_per_day, route, duration_days, dosage_text,"
    " prescriber_id, prescriber_name, org_bin, org_name, program, iin"
)
_DISPENSATION_COLUMNS = (
    "id, dispensed_at, prescription_id, atc, inn, trade_name, form, strength_value,"
    " strength_unit, quantity, unit_price_kzt, amount_kzt, program, pharmacy_bin,"
    " pharmacy_name, pharmacy_region"
)

# groupBy -> (key expression, label expression); whitelisted, so safe to splice into SQL.
_STATS_GROUPS: dict[str, tuple[str, str]] = {
    "atc": ("atc", "MIN(inn)"),
    "region": ("pharmacy_region", "pharmacy_region"),
    "month": ("substr(dispensed_date, 1, 7)", "substr(dispensed_date, 1, 7)"),
    "program": ("program", "program"),
    "pharmacy": ("pharmacy_bin", "MIN(pharmacy_name)"),
}
PROGRAM_LABELS = {
    "GOBMP": "Guaranteed volume of free medical care",
    "OSMS": "Compulsory social health insurance",
}
REGION_LABELS = {"astana": "Astana", "almaty": "Almaty", "shymkent": "Shymkent"}


class DpsError(Exception):
    """A request the DPS refuses, with its HTTP status and OAuth-style error code."""

    def __init__(self, status: int, error: str, description: str = "") -> None:
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description


class TokenStore:
    """Opaque random bearer tokens that expire ``ttl_s`` seconds after issue."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._expiry: dict[str, float] = {}

    def issue(self) -> str:
        """Mint a new token, forgetting expired ones now and then."""
        now = time.monotonic()
        if len(self._expiry) > 1000:
            self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + self.ttl_s
        return token

    def valid(self, token: str) -> bool:
        """Tell whether the token was issued here and has not expired."""
        expiry = self._expiry.get(token)
        return expiry is not None and time.monotonic() < expiry


def format_kzt(tiyn: int) -> str:
    """Format an integer amount of tiyn (1/100 KZT) as a decimal string, e.g. '1290.00'."""
    sign = "-" if tiyn < 0 else ""
    whole, cents = divmod(abs(tiyn), 100)
    return f"{sign}{whole}.{cents:02d}"


def _number(value: float | int) -> float | int:
    """Render integral REALs as integers (500.0 -> 500), as the contract's examples do."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _drug(atc: str, inn: str, trade: str, form: str, value: float, unit: str) -> dict[str, Any]:
    return {
        "atc": atc,
        "inn": inn,
        "tradeName": trade,
        "form": form,
        "strength": {"value": _number(value), "unit": unit},
    }


def _prescription(row: tuple, with_iin: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": row[0]}
    if with_iin:
        item["iin"] = row[21]
    item.update(
        {
            "issuedAt": row[1],
            "validUntil": row[2],
            "status": row[3],
            "drug": _drug(*row[4:10]),
            "dosage": {
                "dose": {"value": _number(row[10]), "unit": row[11]},
                "timesPerDay": row[12],
                "route": row[13],
                "durationDays": row[14],
                "text": row[15],
            },
            "prescriber": {"practitionerId": row[16], "name": row[17]},
            "organization": {"bin": row[18], "name": row[19]},
            "program": row[20],
        }
    )
    return item


def _dispensation(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "dispensedAt": row[1],
        "prescriptionId": row[2],
        "drug": _drug(*row[3:9]),
        "quantity": _number(row[9]),
        "unitPriceKzt": row[10],
        "amountKzt": row[11],
        "program": row[12],
        "pharmacy": {"bin": row[13], "name": row[14], "region": row[15]},
    }


def _check_iin(iin: Any) -> str:
    if not isinstance(iin, str) or not _IIN.fullmatch(iin):
        raise DpsError(400, "invalid_request", "an IIN is 12 digits")
    return iin


def _check_date(value: Any, name: str, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise DpsError(400, "invalid_request", f"{name} must be YYYY-MM-DD")
    return value


def _check_status(value: Any) -> str:
    status = value or "all"
    if status not in ("active", "all"):
        raise DpsError(400, "invalid_request", "status must be active or all")
    return status


def encode_cursor(offset: int) -> str:
    """Make the opaque cursor that resumes a listing at ``offset``."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the offset a cursor stands for (0 without one); 400 when forged."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, digits = text.partition(":")
        if prefix != "o" or not digits.isdigit():
            raise ValueError(text)
        return int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DpsError(400, "invalid_request", "bad cursor") from None


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise DpsError(400, "invalid_request", f"limit must be 1..{MAX_PAGE_SIZE}")
    return int(raw)


class DpsStore:
    """Read-only SQL access to ``dps.sqlite``."""

    def __init__(self, db_path: Path) -> None:
        uri = f"{db_path.resolve().as_uri()}?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def prescriptions(self, iin: str, status: str, limit: int, offset: int) -> list[tuple]:
        """One page (plus one row to detect more) of a person's prescriptions, newest first."""
        where = "iin = ?" + (" AND status = 'active'" if status == "active" else "")
        sql = (
            f"SELECT {_PRESCRIPTION_COLUMNS} FROM prescription WHERE {where}"
            " ORDER BY issued_at DESC, id LIMIT ? OFFSET ?"
        )
        return self.db.execute(sql, (iin, limit + 1, offset)).fetchall()

    def prescriptions_of(self, iins: list[str], status: str) -> list[tuple]:
        """All prescriptions of several people."""
        marks = ",".join("?" * len(iins))
        where = f"iin IN ({marks})" + (" AND status = 'active'" if status == "active" else "")
        sql = (
            f"SELECT {_PRESCRIPTION_COLUMNS} FROM prescription WHERE {where}"
            " ORDER BY iin, issued_at DESC, id"
        )
        return self.db.execute(sql, iins).fetchall()

    def dispensations(self, iin: str, start: str, end: str, limit: int, offset: int) -> list[tuple]:
        """One page (plus one row) of a person's dispensations in [start, end], newest first."""
        sql = (
            f"SELECT {_DISPENSATION_COLUMNS} FROM dispensation"
            " WHERE iin = ? AND dispensed_date >= ? AND dispensed_date <= ?"
            " ORDER BY dispensed_at DESC, id LIMIT ? OFFSET ?"
        )
        return self.db.execute(sql, (iin, start, end, limit + 1, offset)).fetchall()

    def stats(self, group_by: str, start: str, end: str, region: str | None) -> list[tuple]:
        """Aggregate dispensations: key, label, count, distinct patients, total tiyn."""
        key, label = _STATS_GROUPS[group_by]
        where = "dispensed_date >= ? AND dispensed_date <= ?"
        args: list[str] = [start, end]
        if region:
            where += " AND pharmacy_region = ?"
            args.append(region)
        sql = (
            f"SELECT {key} AS k, {label}, COUNT(*), COUNT(DISTINCT iin),"
            " SUM(CAST(ROUND(CAST(amount_kzt AS REAL) * 100) AS INTEGER))"
            f" FROM dispensation WHERE {where} GROUP BY k ORDER BY k"
        )
        return self.db.execute(sql, args).fetchall()


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def _error(exc: DpsError) -> Response:
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    headers = None
    if exc.status == 401 and exc.error == "invalid_token":
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return _json(exc.status, body, headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """The client id and secret from HTTP Basic (RFC 6749 2.3.1) or else the form."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise DpsError(401, "invalid_client", "malformed Basic credentials") from None
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return form.get("client_id", ""), form.get("client_secret", "")


def create_dps_app(
    db_path: Path,
    client_id: str = "ehp-gateway",
    client_secret: str = DEFAULT_CLIENT_SECRET,
    token_ttl_s: float = 300,
) -> ASGIApp:
    """Build the DPS emulator over ``db_path`` with one OAuth2 client."""
    store = DpsStore(db_path)
    tokens = TokenStore(token_ttl_s)

    def authorize(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer " or not tokens.valid(header[7:].strip()):
            raise DpsError(401, "invalid_token", "missing, unknown or expired bearer token")

    async def token(request: Request) -> Response:
        try:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            given_id, given_secret = _client_credentials(request, form)
            id_ok = hmac.compare_digest(given_id.encode(), client_id.encode())
            secret_ok = hmac.compare_digest(given_secret.encode(), client_secret.encode())
            if not (id_ok and secret_ok):
                raise DpsError(401, "invalid_client", "unknown client or wrong secret")
            if form.get("grant_type") != "client_credentials":
                raise DpsError(400, "unsupported_grant_type", "only client_credentials")
        except DpsError as exc:
            return _error(exc)
        body = {
            "access_token": tokens.issue(),
            "token_type": "Bearer",
            "expires_in": int(token_ttl_s),
            "scope": "read",
        }
        return _json(200, body, {"Cache-Control": "no-store"})

    async def prescriptions(request: Request) -> Response:
        try:
            authorize(request)
            iin = _check_iin(request.path_params["iin"])
            params = request.query_params
            status = _check_status(params.get("status"))
            offset = decode_cursor(params.get("cursor"))
            limit = _limit(params.get("limit"))
        except DpsError as exc:
            return _error(exc)
        rows = store.prescriptions(iin, status, limit, offset)
        items = [_prescription(row, with_iin=False) for row in rows[:limit]]
        next_cursor = encode_cursor(offset + limit) if len(rows) > limit else None
        return _json(200, {"items": items, "next_cursor": next_cursor})

    async def dispensations(request: Request) -> Response:
        try:
            authorize(request)
            iin = _check_iin(request.path_params["iin"])
            params = request.query_params
            start = _check_date(params.get("from"), "from", "0000-00-00")
            end = _check_date(params.get("to"), "to", "9999-99-99")
            offset = decode_cursor(params.get("cursor"))
            limit = _limit(params.get("limit"))
        except DpsError as exc:
            return _error(exc)
        rows = store.dispensations(iin, start, end, limit, offset)
        items = [_dispensation(row) for row in rows[:limit]]
        next_cursor = encode_cursor(offset + limit) if len(rows) > limit else None
        return _json(200, {"items": items, "next_cursor": next_cursor})

    async def batch_get(request: Request) -> Response:
        try:
            authorize(request)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                raise DpsError(400, "invalid_request", "body is not JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("iins"), list):
                raise DpsError(400, "invalid_request", 'body must be {"iins": [...]}')
            if len(body["iins"]) > MAX_BATCH_IINS:
                raise DpsError(400, "invalid_request", f"at most {MAX_BATCH_IINS} IINs")
            iins = list(dict.fromkeys(_check_iin(iin) for iin in body["iins"]))
            status = _check_status(body.get("status"))
        except DpsError as exc:
            return _error(exc)
        rows = store.prescriptions_of(iins, status) if iins else []
        return _json(200, {"items": [_prescription(row, with_iin=True) for row in rows]})

    async def stats(request: Request) -> Response:
        try:
            authorize(request)
            params = request.query_params
            start = _check_date(params.get("from"), "from", "0000-00-00")
            end = _check_date(params.get("to"), "to", "9999-99-99")
            group_by = params.get("groupBy", "")
            if group_by not in _STATS_GROUPS:
                raise DpsError(400, "invalid_request", "groupBy must be " + "|".join(_STATS_GROUPS))
        except DpsError as exc:
            return _error(exc)
        rows = []
        for key, label, count, patients, tiyn in store.stats(
            group_by, start, end, params.get("region")
        ):
            if group_by == "program":
                label = PROGRAM_LABELS.get(key, key)
            elif group_by == "region":
                label = REGION_LABELS.get(key, key)
            rows.append(
                {
                    "key": key,
                    "label": label,
                    "dispensations": count,
                    "patients": patients,
                    "amountKzt": format_kzt(tiyn or 0),
                }
            )
        return _json(200, {"rows": rows})

    app = Starlette(
        routes=[
            Route("/oauth/token", token, methods=["POST"]),
            Route("/v1/patients/{iin}/prescriptions", prescriptions, methods=["GET"]),
            Route("/v1/patients/{iin}/dispensations", dispensations, methods=["GET"]),
            Route("/v1/prescriptions:batchGet", batch_get, methods=["POST"]),
            Route("/v1/stats/dispensations", stats, methods=["GET"]),
        ]
    )
    return Instrumented(app, base_path="")
