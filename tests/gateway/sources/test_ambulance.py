"""Ambulance adapter: the contract's XML, missing elements, hostile XML, size cap, stats."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest

from gateway.config import SourceSettings
from gateway.records import Coding, OrgRef, PractitionerRef, Vitals, decode_record, encode_record
from gateway.sources.ambulance import AmbulanceAdapter, call_to_encounter
from gateway.sources.errors import SourceError
from gateway.sources.registry import create_client

IIN = "900101300007"
ALMATY = timezone(timedelta(hours=5))
CONTRACT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<calls iin="900101300007" count="2">
  <call id="103-AST-2026-000451">
    <received>2026-11-20T03:12:00+05:00</received>
    <arrived>2026-11-20T03:27:00+05:00</arrived>
    <station code="AST-03" bin="070740007777">Ambulance station 3</station>
    <crew><paramedic id="PM-5">Serikov N.</paramedic></crew>
    <complaint>Chest pain</complaint>
    <diagnosis icd10="I21.0">Acute transmural myocardial infarction of anterior wall</diagnosis>
    <vitals bp="160/95" hr="110" spo2="93" glucose="7.1"/>
    <outcome code="HOSPITALIZED"><hospital bin="080840008888">City hospital 1</hospital></outcome>
  </call>
  <call id="103-AST-2026-000500">
    <received>2026-11-21T10:00:00</received>
    <vitals hr="88"/>
  </call>
  <call id="no-received"><complaint>lost</complaint></call>
</calls>
"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE calls [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<calls iin="900101300007" count="1"><call id="x"><received>&lol3;</received></call></calls>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE calls [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<calls iin="900101300007" count="1"><call id="x"><complaint>&secret;</complaint>
<received>2026-11-20T03:12:00+05:00</received></call></calls>
"""


def settings() -> SourceSettings:
    return SourceSettings(
        name="ambulance",
        kind="ambulance-xml",
        base_url="http://103.test",
        username="ehp",
        password="pw",
    )


def adapter(handler) -> tuple[AmbulanceAdapter, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request):
        seen.append(request)
        return handler(request)

    config = settings()
    client = create_client(config, transport=httpx.MockTransport(record))
    return AmbulanceAdapter(config, client), seen


def xml(body: bytes, status: int = 200):
    return lambda request: httpx.Response(
        status, content=body, headers={"Content-Type": "application/xml; charset=utf-8"}
    )


async def test_contract_example_and_missing_elements():
    ambulance, seen = adapter(xml(CONTRACT_XML))
    calls = (await ambulance.calls(IIN, date(2026, 1, 1))).value
    assert seen[0].url.path == "/api/calls"
    assert dict(seen[0].url.params) == {"iin": IIN, "from": "2026-01-01"}
    assert seen[0].headers["authorization"] == "Basic " + base64.b64encode(b"ehp:pw").decode()
    full, sparse = calls  # the call without <received> is dropped
    assert full.id == "103-AST-2026-000451"
    assert full.received == datetime(2026, 11, 20, 3, 12, tzinfo=ALMATY)
    assert full.arrived == datetime(2026, 11, 20, 3, 27, tzinfo=ALMATY)
    assert (full.station_code, full.station) == (
        "AST-03",
        OrgRef("070740007777", "Ambulance station 3"),
    )
    assert full.paramedic == PractitionerRef("PM-5", "Serikov N.")
    assert full.complaint == "Chest pain"
    assert full.diagnosis == Coding(
        "http://hl7.org/fhir/sid/icd-10",
        "I21.0",
        "Acute transmural myocardial infarction of anterior wall",
    )
    assert full.vitals == Vitals("160/95", 110, 93, 7.1)
    assert full.outcome == "HOSPITALIZED"
    assert full.hospital == OrgRef("080840008888", "City hospital 1")
    assert full.provenance.source == "ambulance"

    assert sparse.received == datetime(2026, 11, 21, 10, 0, tzinfo=ALMATY)  # naive = Almaty
    assert (sparse.arrived, sparse.station, sparse.paramedic, sparse.diagnosis) == (
        None,
        None,
        None,
        None,
    )
    assert sparse.vitals == Vitals(None, 88, None, None)
    assert (sparse.outcome, sparse.hospital) == (None, None)
    assert decode_record(encode_record(calls)) == tuple(calls)


async def test_unknown_patient_has_no_calls():
    ambulance, seen = adapter(xml(b'<calls iin="900101300007" count="0"/>'))
    assert (await ambulance.calls(IIN)).value == []
    assert "from" not in seen[0].url.params


def test_call_as_encounter():
    from gateway.sources.ambulance import map_call, parse_xml

    call = map_call(parse_xml("ambulance", CONTRACT_XML, "calls").find("call"), "ambulance")
    encounter = call_to_encounter(call)
    assert encounter.kind == "AMBULANCE"
    assert encounter.start == call.received
    assert encounter.organization == call.station
    assert encounter.practitioner == call.paramedic
    assert encounter.diagnosis.code == "I21.0"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, b"<calls><call>", b"{}"])
async def test_hostile_or_malformed_xml_is_a_bad_response(body):
    ambulance, _ = adapter(xml(body))
    with pytest.raises(SourceError) as raised:
        await ambulance.calls(IIN)
    assert raised.value.kind == "bad_response"
    assert "lol" not in str(raised.value) and "passwd" not in str(raised.value)


async def test_wrong_root_is_a_bad_response():
    ambulance, _ = adapter(xml(b"<html><body>maintenance</body></html>"))
    with pytest.raises(SourceError) as raised:
        await ambulance.calls(IIN)
    assert raised.value.kind == "bad_response"


async def test_oversize_answer_is_refused_while_streaming():
    async def huge():
        yield b'<?xml version="1.0"?><calls iin="900101300007" count="99999">'
        call = b"<call><received>2026-11-20T03:12:00+05:00</received></call>" * 100
        for _ in range(1000):  # ~6 MB, more than the 2 MiB cap, sent without a length
            yield call

    ambulance, _ = adapter(lambda request: httpx.Response(200, content=huge()))
    with pytest.raises(SourceError) as raised:
        await ambulance.calls(IIN)
    assert raised.value.kind == "too_large"


async def test_wrong_password_is_unauthorized():
    ambulance, _ = adapter(xml(b"", status=401))
    with pytest.raises(SourceError) as raised:
        await ambulance.calls(IIN)
    assert raised.value.kind == "unauthorized"
    assert "pw" not in raised.value.detail


async def test_call_stats():
    body = (
        b'<stats><row key="I21" label="Myocardial infarction" calls="12" patients="11"/>'
        b'<row key="J45" calls="3"/></stats>'
    )
    ambulance, seen = adapter(xml(body))
    rows = await ambulance.call_stats(date(2026, 1, 1), date(2026, 3, 31), None, "DIAGNOSIS")
    assert dict(seen[0].url.params) == {
        "from": "2026-01-01",
        "to": "2026-03-31",
        "groupBy": "diagnosis",
    }
    assert [(r.key, r.label, r.count, r.patients, r.amount) for r in rows] == [
        ("I21", "Myocardial infarction", 12, 11, None),
        ("J45", None, 3, None, None),
    ]
    with pytest.raises(ValueError):
        await ambulance.call_stats(date(2026, 1, 1), date(2026, 3, 31), None, "iin")


# --- against the ambulance emulator over real HTTP (expected values from the ground truth) ----


@pytest.fixture(scope="module")
def live_ambulance(request):
    """The ambulance emulator on a loopback port, its credentials and the ground truth."""
    pytest.importorskip("emulators.population")
    from emulators.serve import Credentials, base_url, create_app
    from tests.servers import free_port, serve_app

    data_dir = request.getfixturevalue("population_dir")
    truth = request.getfixturevalue("ground_truth")
    credentials = Credentials()
    port = free_port()
    with serve_app(create_app("ambulance", data_dir, credentials), port=port):
        yield base_url("ambulance", port), credentials, truth


async def test_live_calls_match_ground_truth(live_ambulance):
    url, credentials, truth = live_ambulance
    settings = SourceSettings(
        name="ambulance",
        kind="ambulance-xml",
        base_url=url,
        username=credentials.ambulance_user,
        password=credentials.ambulance_password,
    )
    async with create_client(settings) as client:
        ambulance = AmbulanceAdapter(settings, client)
        people = truth["people"]
        iins = list(truth["edgeCases"]["ambulance"])[:10] + list(people)[:10]
        seen = 0
        for iin in iins:
            answer = await ambulance.calls(iin)
            assert answer.dropped == 0  # the emulator's root names the person asked
            calls = answer.value
            got = sorted(
                (c.id, c.received, c.diagnosis.code if c.diagnosis else None, c.outcome)
                for c in calls
            )
            expected = sorted(
                (
                    c["id"],
                    datetime.fromisoformat(c["received"]),
                    c["diagnosisIcd10"],
                    c["outcome"],
                )
                for c in people[iin]["ambulanceCalls"]
            )
            assert got == expected
            seen += len(got)
        assert seen > 0
