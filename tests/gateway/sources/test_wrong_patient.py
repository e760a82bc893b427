"""A source's records about another person never pass for the person asked (issue 11, hole 3).

Hostile sources are real servers on loopback. Each adapter keeps only what belongs to the
person asked and counts the rest; the reader marks that source ``wrong_patient`` (ok false),
also when the answer is served again from the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config import SourceSettings
from gateway.deadline import Deadline
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.dps import DpsAdapter
from gateway.sources.fetcher import Fetcher
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.lis import LisAdapter
from gateway.sources.reader import PersonReader, SourceReport, combined_report
from gateway.sources.registry import create_client
from gateway.sources.systems import SourceSystems
from tests.hostile import Recorder
from tests.servers import serve_app

IIN = "900101300007"  # the person asked
OTHER = "900101300811"  # someone else (both valid examples of SOURCES.md)
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def patient(local_id: str, iin: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": local_id,
        "identifier": [{"system": "urn:kz:iin", "value": iin}],
    }


def condition(code: str, reference: str | None, element: str = "subject") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "code": {"coding": [{"system": ICD10, "code": code}]},
        "clinicalStatus": {"coding": [{"code": "active"}]},
    }
    if reference is not None:
        resource[element] = {"reference": reference}
    return resource


def allergy(code: str, reference: str) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": reference},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    }


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [
            {
                "resource": r,
                "search": {"mode": "match" if r["resourceType"] == "Patient" else "include"},
            }
            for r in resources
        ],
    }


def answering(body: Callable[[Request], Any], media_type: str = "application/json") -> Recorder:
    """A source that answers every request with ``body(request)`` (bytes as is, else JSON)."""

    async def handler(request: Request) -> Response:
        if request.url.path == "/oauth/token":  # the DPS's token endpoint
            return JSONResponse({"access_token": "t", "token_type": "Bearer", "expires_in": 300})
        made = body(request)
        if isinstance(made, bytes):
            return Response(made, media_type=media_type)
        return JSONResponse(made, media_type=media_type)

    return Recorder(handler)


def source_settings(kind: str, url: str) -> SourceSettings:
    values: dict[str, Any] = {
        "name": {"fhir-ehr": "ehr-astana", "fhir-register": "register"}.get(kind, kind),
        "kind": kind,
        "base_url": url,
        "region": "astana" if kind == "fhir-ehr" else None,
        "token": "t" if kind.startswith("fhir") else None,
        "api_key": "k" if kind == "lis-json" else None,
        "client_id": "gw" if kind == "dps-json" else None,
        "client_secret": "s" if kind == "dps-json" else None,
        "username": "u" if kind == "ambulance-xml" else None,
        "password": "p" if kind == "ambulance-xml" else None,
        "ttl_s": 300,
    }
    return SourceSettings(**values)


async def read_from(server: Recorder, cls, kind: str, read):
    with serve_app(server.app) as url:
        made = source_settings(kind, url + ("/fhir" if kind.startswith("fhir") else ""))
        async with create_client(made) as client:
            return await read(cls(made, client))


MIXED_EHR = searchset(
    patient("p1", IIN),
    condition("J45", "Patient/p1"),  # the person's own
    condition("I10", "Patient/p1/_history/3", "subject"),  # their own, a versioned reference
    allergy("91936005", "Patient/p1"),  # their own
    condition("C50", "Patient/p2"),  # another patient of this EHR
    allergy("300916003", "Patient/p2"),  # another patient's allergy
    condition("F20", None),  # no patient at all
    condition("B20", "http://evil.test/fhir/Patient/p1"),  # p1 of another server
    condition("E66", "Group/p1"),  # not a Patient
)


async def test_an_ehr_answer_keeps_only_the_matched_patients_resources(caplog):
    server = answering(lambda r: MIXED_EHR, "application/fhir+json")
    caplog.set_level(logging.WARNING, "gateway.sources.ownership")
    answer = await read_from(
        server,
        EhrAdapter,
        "fhir-ehr",
        lambda a: a.record(IIN, frozenset({"Condition", "AllergyIntolerance"})),
    )
    record = answer.value
    assert sorted(p.code.code for p in record.problems) == ["I10", "J45"]
    assert [a.substance.code for a in record.allergies] == ["91936005"]
    assert answer.dropped == 5
    (line,) = [r.getMessage() for r in caplog.records]
    assert "ehr-astana" in line and " 5 " in line
    assert IIN not in line and "p2" not in line and "C50" not in line


async def test_an_ehr_answering_about_someone_else_gives_no_record():
    others = searchset(patient("p2", OTHER), condition("C50", "Patient/p2"))
    answer = await read_from(
        answering(lambda r: others, "application/fhir+json"),
        EhrAdapter,
        "fhir-ehr",
        lambda a: a.record(IIN, frozenset({"Condition"})),
    )
    assert answer.value is None
    assert answer.dropped == 2


async def test_observations_by_code_must_reference_the_patient_too():
    def batch(request: Request) -> dict[str, Any]:
        weight = {
            "resourceType": "Observation",
            "subject": {"reference": "Patient/p2"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": 120, "unit": "kg"},
        }
        return {
            "resourceType": "Bundle",
            "type": "batch-response",
            "entry": [
                {"response": {"status": "200 OK"}, "resource": searchset(patient("p1", IIN))},
                {"response": {"status": "200 OK"}, "resource": searchset(weight)},
            ],
        }

    answer = await read_from(
        answering(batch, "application/fhir+json"),
        EhrAdapter,
        "fhir-ehr",
        lambda a: a.record(IIN, frozenset({"Observation"}), frozenset({"29463-7"})),
    )
    assert answer.value.observations == ()
    assert answer.dropped == 1


def calls_xml(root_iin: str | None) -> bytes:
    root = f'<calls iin="{root_iin}" count="1">' if root_iin is not None else '<calls count="1">'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{root}<call id="103-AST-2026-000451">'
        "<received>2026-11-20T03:12:00+05:00</received>"
        '<diagnosis icd10="I21.0">Acute myocardial infarction</diagnosis></call></calls>'
    ).encode()


@pytest.mark.parametrize("root_iin", [OTHER, None, ""])
async def test_an_ambulance_answer_about_another_iin_is_nobodys_here(root_iin):
    server = answering(lambda r: calls_xml(root_iin), "application/xml")
    answer = await read_from(server, AmbulanceAdapter, "ambulance-xml", lambda a: a.calls(IIN))
    assert (answer.value, answer.dropped) == ([], 1)
    encounters = await read_from(
        server, AmbulanceAdapter, "ambulance-xml", lambda a: a.encounters(IIN)
    )
    assert (encounters.value, encounters.dropped) == ([], 1)


async def test_an_ambulance_answer_about_the_person_is_kept():
    server = answering(lambda r: calls_xml(IIN), "application/xml")
    answer = await read_from(server, AmbulanceAdapter, "ambulance-xml", lambda a: a.calls(IIN))
    assert [call.id for call in answer.value] == ["103-AST-2026-000451"]
    assert answer.dropped == 0


def dps_item(item_id: str, iin: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "issuedAt": "2026-11-01T10:00:00+05:00",
        "dispensedAt": "2026-11-02T10:00:00+05:00",
        "status": "active",
        "drug": {"atc": "A10BA02", "inn": "metformin"},
        "amountKzt": "10.00",
    }
    if iin is not None:
        item["iin"] = iin
    return item


DPS_ITEMS = {
    "items": [dps_item("RX-1", None), dps_item("RX-2", IIN), dps_item("RX-3", OTHER)],
    "next_cursor": None,
}


@pytest.mark.parametrize("read", ["active_prescriptions", "dispensations"])
async def test_dps_items_naming_another_iin_are_dropped(read):
    answer = await read_from(
        answering(lambda r: DPS_ITEMS),
        DpsAdapter,
        "dps-json",
        lambda a: getattr(a, read)(IIN),
    )
    assert sorted(item.id for item in answer.value) == ["RX-1", "RX-2"]
    assert answer.dropped == 1


async def test_lis_orders_naming_another_iin_are_dropped_with_their_results():
    def order(number: str, iin: str | None) -> dict[str, Any]:
        made: dict[str, Any] = {
            "orderNo": number,
            "orderedAt": "25.11.2026 09:14",
            "status": "DONE",
            "results": [{"testCode": "GLU", "testName": "Glucose", "value": "5.4"}],
        }
        if iin is not None:
            made["iin"] = iin
        return made

    page = {
        "page": 1,
        "pageSize": 200,
        "total": 3,
        "orders": [order("L-1", None), order("L-2", IIN), order("L-3", OTHER)],
    }
    answer = await read_from(
        answering(lambda r: page), LisAdapter, "lis-json", lambda a: a.history(IIN)
    )
    assert [o.order_number for o in answer.value.orders] == ["L-1", "L-2"]
    assert [r.order_number for r in answer.value.results] == ["L-1", "L-2"]
    assert answer.dropped == 1


async def test_the_reader_reports_wrong_patient_and_the_cache_keeps_it():
    ehr_server = answering(lambda r: MIXED_EHR, "application/fhir+json")
    register_server = answering(lambda r: searchset(patient("r1", IIN)), "application/fhir+json")
    types = frozenset({"Condition"})
    with serve_app(ehr_server.app) as ehr_url, serve_app(register_server.app) as register_url:
        ehr_settings = source_settings("fhir-ehr", f"{ehr_url}/fhir")
        register_settings = source_settings("fhir-register", f"{register_url}/fhir")
        systems = SourceSystems(
            settings={s.name: s for s in (ehr_settings, register_settings)},
            fetcher=Fetcher.create(),
            register=RegisterAdapter(register_settings, create_client(register_settings)),
            ehrs=(EhrAdapter(ehr_settings, create_client(ehr_settings)),),
        )
        systems.clients = [systems.register.fhir.client, systems.ehrs[0].fhir.client]
        reports = []
        for _ in range(2):  # the second request is served from the cache
            reader = PersonReader(systems, IIN, Deadline.after(5))
            (fetched,) = await reader.ehr_records(types)
            await reader.patient()
            assert sorted(p.code.code for p in fetched.value.problems) == ["I10", "J45"]
            reports.append({r.source: r for r in reader.reports()})
        await systems.close()
    assert len(ehr_server.seen) == 1
    for by_source in reports:
        assert (by_source["ehr-astana"].ok, by_source["ehr-astana"].error) == (
            False,
            "wrong_patient",
        )
        assert (by_source["register"].ok, by_source["register"].error) == (True, None)


def test_wrong_patient_is_the_error_a_combined_report_names() -> None:
    wrong = SourceReport("drugs", False, False, None, "wrong_patient")
    failed = SourceReport("drugs", False, True, None, "bad_response")
    assert combined_report(wrong, failed).error == "wrong_patient"
    assert combined_report(failed, wrong).error == "wrong_patient"
