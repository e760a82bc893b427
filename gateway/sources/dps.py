"""Adapter of the drug provision system (JSON API v1, OAuth2 client credentials)."""

from __future__ import annotations

import asyncio
import warnings
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import orjson

from gateway.clock import SOURCE_LOCAL
from gateway.config import SourceSettings
from gateway.records import (
    Coding,
    Dispensation,
    OrgRef,
    PractitionerRef,
    Prescription,
    Provenance,
    Quantity,
    Screened,
    StatRow,
)
from gateway.sources.errors import BAD_RESPONSE, UNAUTHORIZED, SourceError, source_errors
from gateway.sources.http import ClientOptions, Reply, fetch, raise_for_reply, require_iin
from gateway.sources.ownership import own_items, screened

ATC_SYSTEM = "http://www.whocc.no/atc"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
MAX_PAGES = 100
MAX_BYTES = 16 * 1024 * 1024
DISPENSATION_GROUPINGS = frozenset({"atc", "region", "month", "program", "pharmacy"})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def money(value: Any) -> Decimal | None:
    """A KZT amount: the contract sends a decimal string; kept exact as a Decimal."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("money is not a decimal string")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("money is not a decimal string") from None
    if not amount.is_finite():
        raise ValueError("money is not finite")
    return amount


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=SOURCE_LOCAL)


def _date(value: Any) -> date | None:
    text = _text(value)
    return date.fromisoformat(text[:10]) if text else None


def _quantity(raw: Any) -> Quantity | None:
    raw = raw if isinstance(raw, dict) else {}
    value = _float(raw.get("value"))
    return Quantity(value, _text(raw.get("unit"))) if value is not None else None


def _drug(raw: Any) -> tuple[Coding | None, dict[str, Any]]:
    raw = raw if isinstance(raw, dict) else {}
    atc = _text(raw.get("atc"))
    return (Coding(ATC_SYSTEM, atc, _text(raw.get("inn"))) if atc else None), raw


def _org(raw: Any) -> OrgRef | None:
    if not isinstance(raw, dict) or not (raw.get("bin") or raw.get("name")):
        return None
    return OrgRef(_text(raw.get("bin")), _text(raw.get("name")), _text(raw.get("region")))


def _drug_fields(raw: Any) -> dict[str, Any]:
    """The drug of a prescription or dispensation: ATC coding, names, form and strength."""
    drug, drug_raw = _drug(raw)
    return {
        "drug": drug,
        "inn": _text(drug_raw.get("inn")),
        "trade_name": _text(drug_raw.get("tradeName")),
        "form": _text(drug_raw.get("form")),
        "strength": _quantity(drug_raw.get("strength")),
    }


def map_prescription(raw: dict[str, Any], source: str) -> Prescription:
    """A prescription item of the DPS API."""
    dosage = raw.get("dosage") if isinstance(raw.get("dosage"), dict) else {}
    prescriber = raw.get("prescriber") if isinstance(raw.get("prescriber"), dict) else {}
    issued_at = _time(raw.get("issuedAt"))
    practitioner = (
        PractitionerRef(_text(prescriber.get("practitionerId")), _text(prescriber.get("name")))
        if prescriber
        else None
    )
    organization = _org(raw.get("organization"))
    return Prescription(
        id=str(raw["id"]),
        status=_text(raw.get("status")),
        issued_at=issued_at,
        valid_until=_date(raw.get("validUntil")),
        **_drug_fields(raw.get("drug")),
        dose=_quantity(dosage.get("dose")),
        times_per_day=_int(dosage.get("timesPerDay")),
        route=_text(dosage.get("route")),
        duration_days=_int(dosage.get("durationDays")),
        dosage_text=_text(dosage.get("text")),
        program=_text(raw.get("program")),
        provenance=Provenance(source, None, organization, practitioner, issued_at),
    )


def map_dispensation(raw: dict[str, Any], source: str) -> Dispensation:
    """A dispensation item of the DPS API; money stays exact."""
    dispensed_at = _time(raw.get("dispensedAt"))
    pharmacy = _org(raw.get("pharmacy"))
    return Dispensation(
        id=str(raw["id"]),
        dispensed_at=dispensed_at,
        prescription_id=_text(raw.get("prescriptionId")),
        **_drug_fields(raw.get("drug")),
        quantity=_float(raw.get("quantity")),
        unit_price=money(raw.get("unitPriceKzt")),
        amount=money(raw.get("amountKzt")),
        program=_text(raw.get("program")),
        pharmacy=pharmacy,
        provenance=Provenance(
            source, pharmacy.region if pharmacy else None, pharmacy, None, dispensed_at
        ),
    )


class DpsAdapter:
    """The drug provision system: prescriptions, dispensations and their aggregates.

    ``client`` is the AsyncOAuth2Client of ``client_options``.
    Its token is reused until it nearly expires (authlib refreshes it before the call);
    a 401 fetches a new one once and repeats the call once.
    """

    @staticmethod
    def client_options(settings: SourceSettings) -> ClientOptions:
        """JSON through authlib's OAuth2 client: client credentials, secret as form fields."""
        # authlib warns that it runs on httpx rather than httpx2: that is our choice (http.py).
        import authlib.deprecate  # noqa: F401 - installs its "always" filter before ours

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from authlib.integrations.httpx_client import AsyncOAuth2Client

        return ClientOptions(
            client_class=AsyncOAuth2Client,
            client_kwargs={
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
                "scope": "read",
                "grant_type": "client_credentials",
                "token_endpoint": TOKEN_PATH,
                # The contract sends client_id / client_secret as form fields.
                "token_endpoint_auth_method": "client_secret_post",
            },
        )

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.source = settings.name
        self.client = client
        # Single flight: concurrent calls wait for one token request.
        self._token_lock = asyncio.Lock()

    def _access_token(self) -> str | None:
        token = getattr(self.client, "token", None)
        return token.get("access_token") if token else None

    async def _new_token(self, stale: str | None) -> None:
        """Fetch a token unless another call replaced ``stale`` while we waited."""
        async with self._token_lock:
            if self._access_token() not in (None, stale):
                return
            from authlib.integrations.base_client import OAuthError

            try:
                await self.client.fetch_token(grant_type="client_credentials")
            except OAuthError as exc:
                raise SourceError(self.source, UNAUTHORIZED, f"token: {exc.error}") from None

    async def _get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        token = self._access_token()
        if token is None:
            await self._new_token(None)
            token = self._access_token()
        reply = await self._send(path, params)
        if reply.status == 401:
            # Expired or revoked before our clock said so: one new token, one more try.
            await self._new_token(token)
            reply = await self._send(path, params)
        raise_for_reply(self.source, reply)
        data = orjson.loads(reply.body)
        if not isinstance(data, dict):
            raise SourceError(self.source, BAD_RESPONSE, "not a JSON object")
        return data

    async def _send(self, path: str, params: list[tuple[str, str]]) -> Reply:
        return await fetch(
            self.client, self.source, "GET", path, params=params, max_bytes=MAX_BYTES
        )

    async def _items(self, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """All items of a cursor-paged list."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self._get(path, [*params, *((("cursor", cursor),) if cursor else ())])
            page_items = page.get("items")
            if not isinstance(page_items, list):
                raise SourceError(self.source, BAD_RESPONSE, "no items list")
            items.extend(i for i in page_items if isinstance(i, dict))
            cursor = _text(page.get("next_cursor"))
            if cursor is None:
                return items
            if cursor in seen:
                raise SourceError(self.source, BAD_RESPONSE, "cursor repeats")
            seen.add(cursor)
        raise SourceError(self.source, BAD_RESPONSE, "too many pages")

    async def prescriptions(self, iin: str, status: str = "active") -> Screened:
        """A person's prescriptions (``status`` active or all) as a ``Screened`` list; empty
        for an unknown person; items naming another ``iin`` are dropped."""
        require_iin(iin)
        if status not in ("active", "all"):
            raise ValueError("status must be active or all")
        with source_errors(self.source):
            items = await self._items(f"/v1/patients/{iin}/prescriptions", [("status", status)])
            own, dropped = own_items(items, iin)
            found = [map_prescription(item, self.source) for item in own]
            return screened(self.source, found, dropped, "prescriptions")

    async def active_prescriptions(self, iin: str) -> Screened:
        """A person's active prescriptions (a ``Screened`` list)."""
        return await self.prescriptions(iin, "active")

    async def dispensations(
        self, iin: str, from_date: date | None = None, to_date: date | None = None
    ) -> Screened:
        """Medicines dispensed to a person in the period, with exact cost (a ``Screened``
        list; items naming another ``iin`` are dropped)."""
        require_iin(iin)
        params = []
        if from_date is not None:
            params.append(("from", from_date.isoformat()))
        if to_date is not None:
            params.append(("to", to_date.isoformat()))
        with source_errors(self.source):
            items = await self._items(f"/v1/patients/{iin}/dispensations", params)
            own, dropped = own_items(items, iin)
            found = [map_dispensation(item, self.source) for item in own]
            return screened(self.source, found, dropped, "dispensations")

    async def dispensation_stats(
        self, from_date: date, to_date: date, region: str | None, group_by: str
    ) -> list[StatRow]:
        """Dispensations aggregated by the system (``group_by`` atc, region, month, program,
        pharmacy); the gateway never counts individual dispensations."""
        group = group_by.lower()
        if group not in DISPENSATION_GROUPINGS:
            raise ValueError(f"cannot group dispensations by {group_by!r}")
        params = [("from", from_date.isoformat()), ("to", to_date.isoformat())]
        if region:
            params.append(("region", region))
        params.append(("groupBy", group))
        with source_errors(self.source):
            data = await self._get("/v1/stats/dispensations", params)
            rows = data.get("rows")
            if not isinstance(rows, list):
                raise SourceError(self.source, BAD_RESPONSE, "no rows list")
            return [
                StatRow(
                    key=str(row["key"]),
                    label=_text(row.get("label")),
                    count=_int(row.get("dispensations")),
                    patients=_int(row.get("patients")),
                    amount=money(row.get("amountKzt")),
                )
                for row in rows
                if isinstance(row, dict)
            ]
