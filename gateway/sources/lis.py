"""Adapter of the laboratory information system (legacy JSON API v2)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import httpx
import orjson

from gateway.clock import KAZAKHSTAN
from gateway.config import SourceSettings
from gateway.records import (
    ABNORMAL,
    HIGH,
    LOW,
    NORMAL,
    Coding,
    LabHistory,
    LabOrder,
    LabResult,
    OrgRef,
    PractitionerRef,
    Provenance,
    Screened,
)
from gateway.sources.errors import BAD_RESPONSE, SourceError, source_errors
from gateway.sources.http import ClientOptions, fetch, raise_for_reply, require_iin
from gateway.sources.ownership import own_items, screened

LOINC_SYSTEM = "http://loinc.org"
LIS_TEST_SYSTEM = "urn:kz:lis:test"
PAGE_SIZE = 200  # the contract's maximum
MAX_PAGES = 100
MAX_BYTES = 16 * 1024 * 1024
FLAGS = {"N": NORMAL, "L": LOW, "H": HIGH, "A": ABNORMAL}
# A plain number as the LIS writes one: digits with an optional decimal point part.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# dd.MM.yyyy HH:mm, as strptime's "%d.%m.%Y %H:%M" reads it (one or two digits but the year).
_LOCAL_TIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2}):(\d{1,2})", re.ASCII)


def parse_local_time(value: Any) -> datetime | None:
    """``dd.MM.yyyy HH:mm`` local (Asia/Almaty) time as an aware datetime; else None."""
    if not isinstance(value, str):
        return None
    # A regular expression and datetime(): a tenth of strptime's cost, on every result.
    match = _LOCAL_TIME.fullmatch(value.strip())
    if match is None:
        return None
    day, month, year, hour, minute = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=KAZAKHSTAN)
    except ValueError:
        return None


def numeric_value(value: str) -> float | None:
    """The number a result value is, only when the whole value is a plain number."""
    text = value.strip()
    return float(text) if _PLAIN_NUMBER.fullmatch(text) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _order(raw: dict[str, Any]) -> LabOrder:
    lab = raw.get("lab") or {}
    doctor = raw.get("doctor") or {}
    return LabOrder(
        order_number=str(raw["orderNo"]),
        status=_text(raw.get("status")),
        ordered_at=parse_local_time(raw.get("orderedAt")),
        lab=OrgRef(bin=_text(lab.get("bin")), name=_text(lab.get("name")))
        if lab.get("bin") or lab.get("name")
        else None,
        doctor=PractitionerRef(id=_text(doctor.get("id")), name=_text(doctor.get("fio")))
        if doctor.get("id") or doctor.get("fio")
        else None,
    )


def _result(raw: dict[str, Any], order: LabOrder, source: str) -> LabResult:
    value = raw["value"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a lenient server sending a JSON number still means that number
    if not isinstance(value, str):
        raise SourceError(source, BAD_RESPONSE, "result value is not a string")
    loinc = _text(raw.get("loinc"))
    name = _text(raw.get("testName"))
    test = (
        Coding(LOINC_SYSTEM, loinc, name)
        if loinc
        else Coding(LIS_TEST_SYSTEM, str(raw["testCode"]), name)
    )
    resulted_at = parse_local_time(raw.get("validatedAt"))
    return LabResult(
        test=test,
        value=value,
        numeric_value=numeric_value(value),
        unit=_text(raw.get("units")),
        reference_range=_text(raw.get("ref")),
        flag=FLAGS.get(raw.get("flag")) if isinstance(raw.get("flag"), str) else None,
        resulted_at=resulted_at,
        order_number=order.order_number,
        ordered_at=order.ordered_at,
        provenance=Provenance(source, None, order.lab, order.doctor, resulted_at),
    )


class LisAdapter:
    """The laboratory: a person's orders and validated results."""

    @staticmethod
    def client_options(settings: SourceSettings) -> ClientOptions:
        """JSON, with the API key in ``X-Api-Key`` (SOURCES.md section 2)."""
        headers = {"Accept": "application/json"}
        if settings.api_key:
            headers["X-Api-Key"] = settings.api_key
        return ClientOptions(headers=headers)

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.source = settings.name
        self.client = client

    async def history(
        self, iin: str, from_date: date | None = None, to_date: date | None = None
    ) -> Screened:
        """Orders in the period and the results of the DONE ones, as a ``Screened``
        LabHistory (empty for an unknown person; orders naming another ``iin`` dropped)."""
        require_iin(iin)
        window: list[tuple[str, str]] = []
        if from_date is not None:
            window.append(("from", from_date.strftime("%d.%m.%Y")))
        if to_date is not None:
            window.append(("to", to_date.strftime("%d.%m.%Y")))
        raw_orders: list[dict[str, Any]] = []
        with source_errors(self.source):
            for page in range(1, MAX_PAGES + 1):
                data = await self._page(
                    iin, [*window, ("page", str(page)), ("pageSize", str(PAGE_SIZE))]
                )
                if data is None:
                    return Screened(LabHistory(self.source, iin))
                orders = data.get("orders")
                if not isinstance(orders, list):
                    raise SourceError(self.source, BAD_RESPONSE, "no orders list")
                raw_orders.extend(o for o in orders if isinstance(o, dict))
                total = data.get("total")
                if not orders or not isinstance(total, int) or len(raw_orders) >= total:
                    break
            else:
                raise SourceError(self.source, BAD_RESPONSE, "too many pages")
            own, dropped = own_items(raw_orders, iin)
            return screened(self.source, self._history(iin, own), dropped, "lab orders")

    async def _page(self, iin: str, params: list[tuple[str, str]]) -> dict[str, Any] | None:
        """One page of orders; None when the laboratory does not know the person."""
        reply = await fetch(
            self.client,
            self.source,
            "GET",
            f"/api/v2/patients/{iin}/orders",
            params=params,
            max_bytes=MAX_BYTES,
        )
        if reply.status == 404 and _error_code(reply.body) == "PATIENT_NOT_FOUND":
            return None
        raise_for_reply(self.source, reply)
        data = orjson.loads(reply.body)
        if not isinstance(data, dict):
            raise SourceError(self.source, BAD_RESPONSE, "not a JSON object")
        return data

    def _history(self, iin: str, raw_orders: list[dict[str, Any]]) -> LabHistory:
        orders: list[LabOrder] = []
        results: list[LabResult] = []
        seen: set[str] = set()
        for raw in raw_orders:
            order = _order(raw)
            if order.order_number in seen:  # a page boundary shifted under us: count once
                continue
            seen.add(order.order_number)
            orders.append(order)
            if order.status != "DONE":
                continue
            for raw_result in raw.get("results") or ():
                if isinstance(raw_result, dict):
                    results.append(_result(raw_result, order, self.source))
        return LabHistory(self.source, iin, tuple(orders), tuple(results))


def _error_code(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data.get("code") if isinstance(data, dict) else None
