"""The laboratory information system emulator: legacy JSON API v2 (SOURCES.md, section 2).

Answers from ``lis.sqlite`` with one indexed query per request; an optional rate
limit simulates the overload answer (429 with ``Retry-After``).
"""

from __future__ import annotations

import hmac
import math
import re
import sqlite3
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from emulators.instrumentation import Instrumented

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_SEARCH_IINS = 50
_IIN = re.compile(r"\d{12}")
_LIS_DATE = re.compile(r"\d{2}\.\d{2}\.\d{4}")
_ORDER_COLUMNS = "order_no, ordered_at, status, lab_bin, lab_name, doctor_id, doctor_fio, iin"


class LisError(Exception):
    """A request the LIS refuses, with its HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RateLimiter:
    """Token bucket of ``max_rps`` requests per second (burst of one second's worth)."""

    def __init__(self, max_rps: float) -> None:
        self.rate = max_rps
        self.capacity = max(1.0, max_rps)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def retry_after(self) -> int | None:
        """Take a token; return None if allowed, else the seconds to wait before retrying."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return max(1, math.ceil((1 - self.tokens) / self.rate))


def format_lis_time(value: str | None) -> str | None:
    """Turn a stored 'YYYY-MM-DDTHH:MM[...]' local time into the API's 'dd.MM.yyyy HH:mm'."""
    if not value:
        return None
    return f"{value[8:10]}.{value[5:7]}.{value[0:4]} {value[11:16]}"


def parse_lis_date(value: Any, name: str) -> date | None:
    """Parse an optional 'dd.MM.yyyy' query date; raise LisError 400 when malformed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _LIS_DATE.fullmatch(value):
        raise LisError(400, "INVALID_DATE", f"{name} must be dd.MM.yyyy, got {value!r}")
    try:
        return datetime.strptime(value, "%d.%m.%Y").date()
    except ValueError:
        raise LisError(400, "INVALID_DATE", f"{name} is not a calendar date: {value!r}") from None


def _date_bounds(raw_from: Any, raw_to: Any) -> tuple[str, str]:
    """Return [lower, upper) bounds on ordered_at for an inclusive dd.MM.yyyy range."""
    start = parse_lis_date(raw_from, "from")
    end = parse_lis_date(raw_to, "to")
    if start and end and start > end:
        raise LisError(400, "INVALID_DATE_RANGE", "from is after to")
    lower = start.isoformat() if start else "0000"
    upper = (end + timedelta(days=1)).isoformat() if end else "9999"
    return lower, upper


def _positive_int(raw: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise LisError(400, f"INVALID_{name.upper()}", f"{name} must be a positive integer")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise LisError(400, f"INVALID_{name.upper()}", f"{name} must be at most {maximum}")
    return value


def _check_iin(iin: Any) -> str:
    if not isinstance(iin, str) or not _IIN.fullmatch(iin):
        raise LisError(400, "INVALID_IIN", "an IIN is 12 digits")
    return iin


class LisStore:
    """Read-only SQL access to ``lis.sqlite``, shaping rows into API orders."""

    def __init__(self, db_path: Path) -> None:
        uri = f"{db_path.resolve().as_uri()}?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def has_patient(self, iin: str) -> bool:
        """Tell whether the laboratory knows this person."""
        row = self.db.execute("SELECT 1 FROM patient WHERE iin = ?", (iin,)).fetchone()
        return row is not None

    def count_orders(self, iin: str, lower: str, upper: str) -> int:
        """Count one person's orders in the [lower, upper) range."""
        sql = "SELECT COUNT(*) FROM lab_order WHERE iin = ? AND ordered_at >= ? AND ordered_at < ?"
        return self.db.execute(sql, (iin, lower, upper)).fetchone()[0]

    def orders_page(
        self, iin: str, lower: str, upper: str, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """One page of a person's orders, newest first, with their results."""
        sql = (
            f"SELECT {_ORDER_COLUMNS} FROM lab_order"
            " WHERE iin = ? AND ordered_at >= ? AND ordered_at < ?"
            " ORDER BY ordered_at DESC, order_no DESC LIMIT ? OFFSET ?"
        )
        rows = self.db.execute(sql, (iin, lower, upper, limit, offset)).fetchall()
        return self._with_results(rows, with_iin=False)

    def search(self, iins: list[str], lower: str, upper: str) -> list[dict[str, Any]]:
        """All orders of several people in the range, each carrying its ``iin``."""
        if not iins:
            return []
        marks = ",".join("?" * len(iins))
        sql = (
            f"SELECT {_ORDER_COLUMNS} FROM lab_order"
            f" WHERE iin IN ({marks}) AND ordered_at >= ? AND ordered_at < ?"
            " ORDER BY iin, ordered_at DESC, order_no DESC"
        )
        rows = self.db.execute(sql, (*iins, lower, upper)).fetchall()
        return self._with_results(rows, with_iin=True)

    def _with_results(self, rows: list[tuple], with_iin: bool) -> list[dict[str, Any]]:
        done = [row[0] for row in rows if row[2] == "DONE"]
        results: dict[str, list[dict[str, Any]]] = {order_no: [] for order_no in done}
        # Chunked to stay under SQLite's bound-parameter limit for big searches.
        for start in range(0, len(done), 500):
            chunk = done[start : start + 500]
            sql = (
                "SELECT order_no, test_code, loinc, test_name, value, units, ref, flag,"
                f" validated_at FROM lab_result WHERE order_no IN ({','.join('?' * len(chunk))})"
                " ORDER BY order_no, seq"
            )
            for r in self.db.execute(sql, chunk):
                results[r[0]].append(
                    {
                        "testCode": r[1],
                        "loinc": r[2],
                        "testName": r[3],
                        "value": r[4],
                        "units": r[5],
                        "ref": r[6],
                        "flag": r[7],
                        "validatedAt": format_lis_time(r[8]),
                    }
                )
        orders = []
        for order_no, ordered_at, status, lab_bin, lab_name, doctor_id, doctor_fio, iin in rows:
            order: dict[str, Any] = {"orderNo": order_no}
            if with_iin:
                order["iin"] = iin
            order["orderedAt"] = format_lis_time(ordered_at)
            order["status"] = status
            order["lab"] = {"bin": lab_bin, "name": lab_name}
            has_doctor = doctor_id is not None or doctor_fio is not None
            order["doctor"] = {"id": doctor_id, "fio": doctor_fio} if has_doctor else None
            order["results"] = results.get(order_no, []) if status == "DONE" else []
            orders.append(order)
        return orders


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def create_lis_app(
    db_path: Path, api_key: str = "emulator-lis-key", max_rps: float | None = None
) -> ASGIApp:
    """Build the LIS emulator over ``db_path``; ``max_rps`` turns on 429 overload answers."""
    store = LisStore(db_path)
    limiter = RateLimiter(max_rps) if max_rps else None
    expected_key = api_key.encode()

    def guard(request: Request) -> Response | None:
        """Refuse overload and unauthenticated requests; None lets the request through."""
        if limiter is not None:
            wait = limiter.retry_after()
            if wait is not None:
                body = {"code": "TOO_MANY_REQUESTS", "message": "rate limit exceeded"}
                return _json(429, body, {"Retry-After": str(wait)})
        key = request.headers.get("x-api-key", "").encode()
        if not hmac.compare_digest(key, expected_key):
            return _json(401, {"code": "UNAUTHORIZED", "message": "missing or wrong X-Api-Key"})
        return None

    async def patient_orders(request: Request) -> Response:
        refused = guard(request)
        if refused is not None:
            return refused
        try:
            iin = _check_iin(request.path_params["iin"])
            params = request.query_params
            lower, upper = _date_bounds(params.get("from"), params.get("to"))
            page = _positive_int(params.get("page"), "page", 1)
            size = _positive_int(
                params.get("pageSize"), "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
            )
        except LisError as exc:
            return _json(exc.status, {"code": exc.code, "message": exc.message})
        if not store.has_patient(iin):
            body = {"code": "PATIENT_NOT_FOUND", "message": "no laboratory history for this IIN"}
            return _json(404, body)
        total = store.count_orders(iin, lower, upper)
        orders = store.orders_page(iin, lower, upper, size, (page - 1) * size) if total else []
        return _json(200, {"page": page, "pageSize": size, "total": total, "orders": orders})

    async def search_orders(request: Request) -> Response:
        refused = guard(request)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict) or not isinstance(body.get("iins"), list):
                raise LisError(400, "INVALID_REQUEST", 'body must be {"iins": [...]}')
            iins = [_check_iin(iin) for iin in body["iins"]]
            if len(iins) > MAX_SEARCH_IINS:
                raise LisError(400, "TOO_MANY_IINS", f"at most {MAX_SEARCH_IINS} IINs")
            lower, upper = _date_bounds(body.get("from"), body.get("to"))
        except orjson.JSONDecodeError:
            return _json(400, {"code": "INVALID_REQUEST", "message": "body is not JSON"})
        except LisError as exc:
            return _json(exc.status, {"code": exc.code, "message": exc.message})
        return _json(200, {"orders": store.search(list(dict.fromkeys(iins)), lower, upper)})

    app = Starlette(
        routes=[
            Route("/api/v2/patients/{iin}/orders", patient_orders, methods=["GET"]),
            Route("/api/v2/orders/search", search_orders, methods=["POST"]),
        ]
    )
    return Instrumented(app, base_path="")
