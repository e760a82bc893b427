"""DPS adapter: OAuth2 client credentials (reuse, refresh once, single flight), cursors, money."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qsl

import httpx
import pytest

from gateway.config import SourceSettings
from gateway.records import Coding, OrgRef, PractitionerRef, Quantity, decode_record, encode_record
from gateway.sources.dps import DpsAdapter
from gateway.sources.errors import SourceError
from gateway.sources.registry import create_client

IIN = "900101300007"
ALMATY = timezone(timedelta(hours=5))
PRESCRIPTION = {
    "id": "RX-8812",
    "issuedAt": "2026-11-01T10:00:00+05:00",
    "validUntil": "2026-12-01",
    "status": "active",
    "drug": {
        "atc": "A10BA02",
        "inn": "metformin",
        "tradeName": "Siofor",
        "form": "tablet",
        "strength": {"value": 500, "unit": "mg"},
    },
    "dosage": {
        "dose": {"value": 500, "unit": "mg"},
        "timesPerDay": 2,
        "route": "oral",
        "durationDays": 30,
        "text": "500 mg twice daily",
    },
    "prescriber": {"practitionerId": "PR-77", "name": "Abenova A. B."},
    "organization": {"bin": "040340001234", "name": "City polyclinic 4"},
    "program": "GOBMP",
}
DISPENSATION = {
    "id": "D-1",
    "dispensedAt": "2026-11-02T16:20:00+05:00",
    "prescriptionId": "RX-8812",
    "drug": PRESCRIPTION["drug"],
    "quantity": 60,
    "unitPriceKzt": "21.50",
    "amountKzt": "1290.00",
    "program": "GOBMP",
    "pharmacy": {"bin": "060640005555", "name": "Pharmacy 12", "region": "astana"},
}


class Dps:
    """A scripted DPS: a token endpoint and API answers keyed by path."""

    def __init__(self, api=None, *, expires_in=300, reject_tokens=(), token_status=200):
        self.api = api or (lambda request: httpx.Response(200, json={"items": []}))
        self.expires_in = expires_in
        self.reject_tokens = set(reject_tokens)
        self.token_status = token_status
        self.token_forms: list[dict] = []
        self.api_requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_forms.append(dict(parse_qsl(request.content.decode())))
            await asyncio.sleep(0)  # let concurrent callers pile up behind the lock
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_client"})
            token = f"tok-{len(self.token_forms)}"
            return httpx.Response(
                200,
                json={"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in},
            )
        self.api_requests.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or token in self.reject_tokens:
            return httpx.Response(401, json={"error": "invalid_token"})
        return self.api(request)


def adapter(dps: Dps) -> DpsAdapter:
    settings = SourceSettings(
        name="drugs",
        kind="dps-json",
        base_url="http://dps.test",
        client_id="ehp-gateway",
        client_secret="s3cret",
    )
    return DpsAdapter(settings, create_client(settings, transport=httpx.MockTransport(dps)))


async def test_token_is_fetched_once_and_reused():
    dps = Dps()
    drugs = adapter(dps)
    for _ in range(3):
        assert (await drugs.active_prescriptions(IIN)).value == []
    assert len(dps.token_forms) == 1
    assert dps.token_forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "ehp-gateway",
        "client_secret": "s3cret",
        "scope": "read",
    }
    assert [r.headers["authorization"] for r in dps.api_requests] == ["Bearer tok-1"] * 3


async def test_concurrent_calls_share_one_token_request():
    dps = Dps()
    drugs = adapter(dps)
    await asyncio.gather(*(drugs.active_prescriptions(IIN) for _ in range(5)))
    assert len(dps.token_forms) == 1
    assert len(dps.api_requests) == 5


async def test_token_near_expiry_is_renewed_before_the_call():
    dps = Dps(expires_in=10)  # inside authlib's 60 s leeway: stale at once
    drugs = adapter(dps)
    await drugs.active_prescriptions(IIN)
    await drugs.active_prescriptions(IIN)
    assert len(dps.token_forms) >= 2
    assert dps.api_requests[-1].headers["authorization"] == f"Bearer tok-{len(dps.token_forms)}"


async def test_401_fetches_a_new_token_once_and_retries():
    dps = Dps(reject_tokens={"tok-1"})
    drugs = adapter(dps)
    assert (await drugs.active_prescriptions(IIN)).value == []
    assert len(dps.token_forms) == 2
    assert [r.headers["authorization"] for r in dps.api_requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_second_401_is_unauthorized():
    dps = Dps(reject_tokens={"tok-1", "tok-2"})
    with pytest.raises(SourceError) as raised:
        await adapter(dps).active_prescriptions(IIN)
    assert raised.value.kind == "unauthorized"
    assert len(dps.token_forms) == 2 and len(dps.api_requests) == 2
    assert "s3cret" not in str(raised.value) and "tok-" not in str(raised.value)


async def test_token_endpoint_refusal_is_unauthorized():
    dps = Dps(token_status=401)
    with pytest.raises(SourceError) as raised:
        await adapter(dps).active_prescriptions(IIN)
    assert raised.value.kind == "unauthorized"
    assert dps.api_requests == []
    assert "s3cret" not in str(raised.value)


async def test_prescriptions_follow_cursors():
    def api(request):
        assert request.url.path == f"/v1/patients/{IIN}/prescriptions"
        assert request.url.params["status"] == "active"
        cursor = request.url.params.get("cursor")
        if cursor is None:
            return httpx.Response(200, json={"items": [PRESCRIPTION], "next_cursor": "c2"})
        assert cursor == "c2"
        second = {**PRESCRIPTION, "id": "RX-8813"}
        return httpx.Response(200, json={"items": [second], "next_cursor": None})

    dps = Dps(api)
    prescriptions = (await adapter(dps).active_prescriptions(IIN)).value
    assert [p.id for p in prescriptions] == ["RX-8812", "RX-8813"]
    first = prescriptions[0]
    assert first.drug == Coding("http://www.whocc.no/atc", "A10BA02", "metformin")
    assert (first.inn, first.trade_name, first.form) == ("metformin", "Siofor", "tablet")
    assert first.strength == Quantity(500.0, "mg") and first.dose == Quantity(500.0, "mg")
    assert (first.times_per_day, first.route, first.duration_days) == (2, "oral", 30)
    assert first.issued_at == datetime(2026, 11, 1, 10, 0, tzinfo=ALMATY)
    assert first.valid_until == date(2026, 12, 1)
    assert first.program == "GOBMP"
    assert first.provenance.practitioner == PractitionerRef("PR-77", "Abenova A. B.")
    assert first.provenance.organization == OrgRef("040340001234", "City polyclinic 4")


async def test_repeating_cursor_is_a_bad_response():
    dps = Dps(lambda r: httpx.Response(200, json={"items": [], "next_cursor": "same"}))
    with pytest.raises(SourceError) as raised:
        await adapter(dps).active_prescriptions(IIN)
    assert raised.value.kind == "bad_response"


async def test_dispensations_keep_money_exact():
    def api(request):
        assert request.url.path == f"/v1/patients/{IIN}/dispensations"
        assert request.url.params["from"] == "2026-01-01"
        assert request.url.params["to"] == "2026-11-25"
        return httpx.Response(200, json={"items": [DISPENSATION], "next_cursor": None})

    answer = await adapter(Dps(api)).dispensations(IIN, date(2026, 1, 1), date(2026, 11, 25))
    (dispensation,) = answer.value
    assert dispensation.amount == Decimal("1290.00")
    assert str(dispensation.amount) == "1290.00"
    assert dispensation.unit_price == Decimal("21.50")
    assert dispensation.quantity == 60.0
    assert dispensation.pharmacy == OrgRef("060640005555", "Pharmacy 12", "astana")
    assert dispensation.dispensed_at == datetime(2026, 11, 2, 16, 20, tzinfo=ALMATY)
    decoded = decode_record(encode_record([dispensation]))
    assert decoded == (dispensation,)
    assert str(decoded[0].amount) == "1290.00"


async def test_malformed_money_is_a_bad_response():
    bad = {**DISPENSATION, "amountKzt": "12,90"}
    dps = Dps(lambda r: httpx.Response(200, json={"items": [bad], "next_cursor": None}))
    with pytest.raises(SourceError) as raised:
        await adapter(dps).dispensations(IIN, date(2026, 1, 1), date(2026, 2, 1))
    assert raised.value.kind == "bad_response"


async def test_dispensation_stats():
    def api(request):
        assert request.url.path == "/v1/stats/dispensations"
        assert dict(request.url.params) == {
            "from": "2026-01-01",
            "to": "2026-06-30",
            "region": "astana",
            "groupBy": "atc",
        }
        row = {
            "key": "A10BA02",
            "label": "metformin",
            "dispensations": 123,
            "patients": 45,
            "amountKzt": "123456.70",
        }
        return httpx.Response(200, json={"rows": [row]})

    rows = await adapter(Dps(api)).dispensation_stats(
        date(2026, 1, 1), date(2026, 6, 30), "astana", "ATC"
    )
    (row,) = rows
    assert (row.key, row.label, row.count, row.patients) == ("A10BA02", "metformin", 123, 45)
    assert row.amount == Decimal("123456.70")
    with pytest.raises(ValueError):
        await adapter(Dps(api)).dispensation_stats(date(2026, 1, 1), date(2026, 2, 1), None, "iin")


# --- against the dps emulator over real HTTP (expected values from the ground truth) ----


@pytest.fixture(scope="module")
def live_dps(request):
    """The dps emulator on a loopback port, its credentials and the ground truth."""
    pytest.importorskip("emulators.population")
    from emulators.serve import Credentials, base_url, create_app
    from tests.servers import free_port, serve_app

    data_dir = request.getfixturevalue("population_dir")
    truth = request.getfixturevalue("ground_truth")
    credentials = Credentials()
    port = free_port()
    with serve_app(create_app("dps", data_dir, credentials), port=port):
        yield base_url("dps", port), credentials, truth


async def test_live_drugs_match_ground_truth(live_dps):
    url, credentials, truth = live_dps
    settings = SourceSettings(
        name="drugs",
        kind="dps-json",
        base_url=url,
        client_id=credentials.dps_client_id,
        client_secret=credentials.dps_secret,
    )
    async with create_client(settings) as client:
        drugs = DpsAdapter(settings, client)
        seen = 0
        for iin, person in list(truth["people"].items())[:25]:
            answer = await drugs.active_prescriptions(iin)
            assert answer.dropped == 0  # the emulator answers about the person asked only
            active = answer.value
            assert sorted(p.id for p in active) == sorted(
                p["id"] for p in person["prescriptions"] if p["status"] == "active"
            )
            dispensed = (await drugs.dispensations(iin, date(1900, 1, 1), date(2100, 1, 1))).value
            assert sorted((d.id, d.amount) for d in dispensed) == sorted(
                (d["id"], Decimal(d["amountKzt"])) for d in person["dispensations"]
            )
            seen += len(dispensed) + len(active)
            whole = await drugs.dispensations(iin)  # no window: the whole history
            assert (whole.value, whole.dropped) == (dispensed, 0)
        assert seen > 0
