"""LIS adapter: values, flags, local times, paging, unknown patients and overload."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.clock import KAZAKHSTAN
from gateway.config import SourceSettings
from gateway.records import (
    Coding,
    LabHistory,
    OrgRef,
    PractitionerRef,
    decode_record,
    encode_record,
)
from gateway.sources.errors import SourceError
from gateway.sources.lis import LisAdapter, parse_local_time
from gateway.sources.registry import create_client

IIN = "900101300007"
ALMATY = timezone(timedelta(hours=5))

# The example of SOURCES.md, plus a bound value, a cancelled order and a high flag.
CONTRACT_PAGE = {
    "page": 1,
    "pageSize": 200,
    "total": 3,
    "orders": [
        {
            "orderNo": "LIS-2026-000123",
            "orderedAt": "25.11.2026 09:14",
            "status": "DONE",
            "lab": {"bin": "050140001111", "name": "Central lab"},
            "doctor": {"id": "PR-77", "fio": "Abenova A. B."},
            "results": [
                {
                    "testCode": "GLU",
                    "loinc": "14749-6",
                    "testName": "Glucose",
                    "value": "5.4",
                    "units": "mmol/L",
                    "ref": "3.9-6.1",
                    "flag": "N",
                    "validatedAt": "25.11.2026 12:30",
                },
                {
                    "testCode": "HBSAG",
                    "loinc": None,
                    "testName": "HBsAg",
                    "value": "negative",
                    "units": None,
                    "ref": "negative",
                    "flag": "N",
                    "validatedAt": "25.11.2026 15:02",
                },
                {
                    "testCode": "CRP",
                    "loinc": "1988-5",
                    "testName": "CRP",
                    "value": "<0.1",
                    "units": "mg/L",
                    "ref": "0-5",
                    "flag": None,
                    "validatedAt": None,
                },
                {
                    "testCode": "CHOL",
                    "loinc": "14647-2",
                    "testName": "Cholesterol",
                    "value": "7",
                    "units": "mmol/L",
                    "ref": "<5.2",
                    "flag": "H",
                    "validatedAt": "26.11.2026 08:00",
                },
            ],
        },
        {
            "orderNo": "LIS-2026-000124",
            "orderedAt": "26.11.2026 10:00",
            "status": "CANCELLED",
            "lab": {"bin": "050140001111", "name": "Central lab"},
            "results": [{"testCode": "GLU", "value": "9.9", "flag": "H"}],
        },
        {
            "orderNo": "LIS-2026-000125",
            "orderedAt": "27.11.2026 10:00",
            "status": "IN_WORK",
            "lab": {"bin": "050140001111", "name": "Central lab"},
            "results": [],
        },
    ],
}


def make_settings() -> SourceSettings:
    return SourceSettings(name="lis", kind="lis-json", base_url="http://lis.test", api_key="k-1")


class Upstream:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        return self.answers.pop(0)


def adapter(upstream) -> LisAdapter:
    settings = make_settings()
    return LisAdapter(settings, create_client(settings, transport=httpx.MockTransport(upstream)))


async def test_contract_example_is_parsed():
    upstream = Upstream(httpx.Response(200, json=CONTRACT_PAGE))
    history = (await adapter(upstream).history(IIN, date(2026, 1, 1), date(2026, 12, 31))).value
    request = upstream.requests[0]
    assert request.url.path == f"/api/v2/patients/{IIN}/orders"
    assert request.headers["x-api-key"] == "k-1"
    assert dict(request.url.params) == {
        "from": "01.01.2026",
        "to": "31.12.2026",
        "page": "1",
        "pageSize": "200",
    }
    glucose, hbsag, crp, cholesterol = history.results
    assert glucose.test == Coding("http://loinc.org", "14749-6", "Glucose")
    assert (glucose.value, glucose.numeric_value, glucose.unit) == ("5.4", 5.4, "mmol/L")
    assert (glucose.reference_range, glucose.flag) == ("3.9-6.1", "NORMAL")
    assert glucose.resulted_at == datetime(2026, 11, 25, 12, 30, tzinfo=ALMATY)
    assert glucose.order_number == "LIS-2026-000123"
    assert glucose.ordered_at == datetime(2026, 11, 25, 9, 14, tzinfo=ALMATY)
    assert glucose.provenance.organization == OrgRef("050140001111", "Central lab")
    assert glucose.provenance.practitioner == PractitionerRef("PR-77", "Abenova A. B.")
    assert glucose.provenance.source == "lis"
    assert hbsag.test == Coding("urn:kz:lis:test", "HBSAG", "HBsAg")
    assert (hbsag.value, hbsag.numeric_value, hbsag.unit) == ("negative", None, None)
    assert (crp.value, crp.numeric_value, crp.flag, crp.resulted_at) == ("<0.1", None, None, None)
    assert (cholesterol.numeric_value, cholesterol.flag) == (7.0, "HIGH")
    # Only DONE orders carry results; every order is listed.
    assert [o.status for o in history.orders] == ["DONE", "CANCELLED", "IN_WORK"]
    assert len(history.results) == 4
    assert decode_record(encode_record(history)) == history


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("5.4", 5.4),
        ("12", 12.0),
        ("-1.5", -1.5),
        ("<0.1", None),
        (">100", None),
        ("1e3", None),
        ("5,4", None),
        ("positive", None),
        ("", None),
        ("1.", None),
    ],
)
async def test_numeric_value_only_for_plain_numbers(value, number):
    page = {
        "total": 1,
        "orders": [
            {
                "orderNo": "O1",
                "status": "DONE",
                "results": [{"testCode": "X", "value": value, "flag": "A"}],
            }
        ],
    }
    history = (await adapter(Upstream(httpx.Response(200, json=page))).history(IIN)).value
    (result,) = history.results
    assert result.value == value
    assert result.numeric_value == number
    assert result.flag == "ABNORMAL"


_TIME_PARTS = st.one_of(st.integers(0, 99).map(str), st.integers(0, 9).map("{:02d}".format))


@given(
    st.one_of(
        st.tuples(
            _TIME_PARTS, _TIME_PARTS, st.integers(0, 9999).map(str), _TIME_PARTS, _TIME_PARTS
        ).map(lambda p: f"{p[0]}.{p[1]}.{p[2]} {p[3]}:{p[4]}"),
        st.text(alphabet="0123456789.: \t٠x", max_size=20),
    )
)
def test_local_times_read_as_strptime_reads_them(text):
    # The fast reader must accept and refuse exactly what "%d.%m.%Y %H:%M" does.
    try:
        expected = datetime.strptime(text.strip(), "%d.%m.%Y %H:%M").replace(tzinfo=KAZAKHSTAN)
    except ValueError:
        expected = None
    assert parse_local_time(text) == expected


async def test_pages_until_total():
    def order(n):
        return {
            "orderNo": f"O{n}",
            "status": "DONE",
            "orderedAt": "01.02.2026 10:00",
            "results": [{"testCode": "GLU", "value": str(n)}],
        }

    first = {"page": 1, "pageSize": 200, "total": 250, "orders": [order(n) for n in range(200)]}
    second = {
        "page": 2,
        "pageSize": 200,
        "total": 250,
        "orders": [order(n) for n in range(200, 250)],
    }
    upstream = Upstream(httpx.Response(200, json=first), httpx.Response(200, json=second))
    history = (await adapter(upstream).history(IIN)).value
    assert [r.url.params["page"] for r in upstream.requests] == ["1", "2"]
    assert "from" not in upstream.requests[0].url.params
    assert len(history.orders) == 250 and len(history.results) == 250


async def test_unknown_patient_is_an_empty_history():
    answer = httpx.Response(404, json={"code": "PATIENT_NOT_FOUND", "message": "no such patient"})
    history = (await adapter(Upstream(answer)).history(IIN)).value
    assert history == LabHistory("lis", IIN)


async def test_other_404_is_an_error():
    with pytest.raises(SourceError) as raised:
        await adapter(Upstream(httpx.Response(404, text="Not Found"))).history(IIN)
    assert raised.value.kind == "http_404"


async def test_overload_is_rate_limited_with_retry_after():
    answer = httpx.Response(429, headers={"Retry-After": "30"}, json={"code": "BUSY"})
    with pytest.raises(SourceError) as raised:
        await adapter(Upstream(answer)).history(IIN)
    assert (raised.value.kind, raised.value.retry_after_s) == ("rate_limited", 30.0)


async def test_missing_key_is_unauthorized():
    with pytest.raises(SourceError) as raised:
        await adapter(Upstream(httpx.Response(401, json={"code": "UNAUTHORIZED"}))).history(IIN)
    assert raised.value.kind == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"total": 1}',
        b'{"total": 1, "orders": [{"status": "DONE"}]}',
        b'{"total": 1, "orders": [{"orderNo": "O", "status": "DONE",'
        b' "results": [{"testCode": "X"}]}]}',
    ],
)
async def test_malformed_answers_are_bad_responses(body):
    with pytest.raises(SourceError) as raised:
        await adapter(Upstream(httpx.Response(200, content=body))).history(IIN)
    assert raised.value.kind == "bad_response"
    assert IIN not in str(raised.value)


# --- against the lis emulator over real HTTP (expected values from the ground truth) ----


@pytest.fixture(scope="module")
def live_lis(request):
    """The lis emulator on a loopback port, its credentials and the ground truth."""
    pytest.importorskip("emulators.population")
    from emulators.serve import Credentials, base_url, create_app
    from tests.servers import free_port, serve_app

    data_dir = request.getfixturevalue("population_dir")
    truth = request.getfixturevalue("ground_truth")
    credentials = Credentials()
    port = free_port()
    with serve_app(create_app("lis", data_dir, credentials), port=port):
        yield base_url("lis", port), credentials, truth


async def test_live_lab_history_matches_ground_truth(live_lis):
    url, credentials, truth = live_lis
    settings = SourceSettings(
        name="lis", kind="lis-json", base_url=url, api_key=credentials.lis_key
    )
    async with create_client(settings) as client:
        lis = LisAdapter(settings, client)
        seen_results = 0
        for iin, person in list(truth["people"].items())[:25]:
            answer = await lis.history(iin)
            assert answer.dropped == 0
            history = answer.value
            if not person["inLis"]:
                assert history.results == () and history.orders == ()
                continue
            got = sorted(
                (r.order_number, r.test.code, r.value, r.numeric_value, r.flag, r.resulted_at)
                for r in history.results
            )
            expected = sorted(
                (
                    r["orderNumber"],
                    r["test"]["loinc"] or r["test"]["testCode"],
                    r["value"],
                    r["numericValue"],
                    r["flag"],
                    datetime.fromisoformat(r["resultedAt"]) if r["resultedAt"] else None,
                )
                for r in person["labResults"]
            )
            assert got == expected
            seen_results += len(got)
            assert len(history.orders) == len(person["labOrders"])
        assert seen_results > 0
