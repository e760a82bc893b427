"""FHIR adapters: one-round-trip record with _revinclude, paging, mapping, register look-ups."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest

from gateway.config import SourceSettings
from gateway.records import (
    Coding,
    OrgRef,
    PractitionerRef,
    Quantity,
    decode_record,
    encode_record,
)
from gateway.sources.errors import SourceError
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.fhir_client import FhirClient
from gateway.sources.registry import create_client

IIN = "900101300007"
BASE = "http://ehr.test/fhir"
ALMATY = timezone(timedelta(hours=5))
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ORG = {
    "identifier": {"system": "urn:kz:bin", "value": "040340001234"},
    "display": "City polyclinic 4",
}
DOC = {
    "identifier": {"system": "urn:kz:practitioner", "value": "PR-77"},
    "display": "Abenova A. B.",
}
DOC_NO_DISPLAY = {"identifier": {"system": "urn:kz:practitioner", "value": "PR-78"}}
PATIENT_REF = {"reference": "Patient/p1"}

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:kz:iin", "value": IIN}],
    "name": [
        {"family": "Abenov", "given": ["Arman", "Serikovich"], "text": "Abenov Arman Serikovich"}
    ],
    "gender": "male",
    "birthDate": "1990-01-01",
    "address": [{"state": "astana"}],
    "managingOrganization": {"reference": "Organization/o1"},
    "generalPractitioner": [{"reference": "Practitioner/d1"}],
}


def cc(system, code, display=None, text=None):
    concept = {
        "coding": [{"system": system, "code": code, **({"display": display} if display else {})}]
    }
    if text:
        concept["text"] = text
    return concept


CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": PATIENT_REF,
    "code": cc(ICD10, "E11.9", "Type 2 diabetes mellitus without complications"),
    "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "relapse"),
    "category": [
        cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
    ],
    "onsetDateTime": "2019-03-01",
    "recordedDate": "2019-03-02T10:15:00+05:00",
    "recorder": DOC,
    "encounter": {"reference": "Encounter/e1"},
}
ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "patient": PATIENT_REF,
    "code": cc(SNOMED, "764146007", "Penicillin"),
    "category": ["medication"],
    "criticality": "high",
    "clinicalStatus": cc(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"
    ),
    "reaction": [
        {"manifestation": [{"text": "hives"}, {"text": "angioedema"}], "severity": "severe"}
    ],
    "recordedDate": "2020-05-05T09:00:00",
    "recorder": DOC_NO_DISPLAY,
}
BLOOD_PRESSURE = {
    "resourceType": "Observation",
    "subject": PATIENT_REF,
    "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
    "code": cc(LOINC, "85354-9", "Blood pressure panel"),
    "component": [
        {"code": cc(LOINC, "8480-6"), "valueQuantity": {"value": 128, "unit": "mm[Hg]"}},
        {"code": cc(LOINC, "8462-4"), "valueQuantity": {"value": 82, "unit": "mm[Hg]"}},
    ],
    "effectiveDateTime": "2026-10-01T09:30:00+05:00",
    "performer": [ORG, DOC],
}
WEIGHT = {
    "resourceType": "Observation",
    "subject": PATIENT_REF,
    "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")],
    "code": cc(LOINC, "29463-7", "Body weight"),
    "valueQuantity": {"value": 81.5, "unit": "kg", "system": "http://unitsofmeasure.org"},
    "effectiveDateTime": "2026-10-01T09:31:00Z",
}
BLOOD_GROUP = {
    "resourceType": "Observation",
    "subject": PATIENT_REF,
    "code": cc(LOINC, "883-9"),
    "valueCodeableConcept": cc(SNOMED, "112144000", "Blood group A"),
}
AUDIT_C = {
    "resourceType": "Observation",
    "subject": PATIENT_REF,
    "code": cc(LOINC, "75626-2"),
    "valueInteger": 3,
}
DELIVERY = {
    "resourceType": "Observation",
    "subject": PATIENT_REF,
    "code": cc(LOINC, "11778-8"),
    "valueDateTime": "2027-03-15",
}
MEDICATION = {
    "resourceType": "MedicationStatement",
    "subject": PATIENT_REF,
    "status": "active",
    "medicationCodeableConcept": cc("http://www.whocc.no/atc", "A10BA02", text="metformin"),
    "dosage": [
        {
            "text": "500 mg twice daily",
            "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}],
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "route": {"text": "oral"},
        }
    ],
    "effectivePeriod": {"start": "2024-02-01"},
    "informationSource": DOC,
}
IMMUNIZATION = {
    "resourceType": "Immunization",
    "patient": PATIENT_REF,
    "vaccineCode": cc("urn:kz:vaccine", "MMR", "Measles, mumps, rubella"),
    "status": "completed",
    "occurrenceDateTime": "1991-01-10",
    "protocolApplied": [{"doseNumberPositiveInt": 1}],
    "lotNumber": "L-42",
    "performer": [{"actor": ORG}],
}
PROCEDURE = {
    "resourceType": "Procedure",
    "subject": PATIENT_REF,
    "status": "completed",
    "code": cc(SNOMED, "268547008", "Diabetes screening"),
    "category": {"text": "screening"},
    "performedDateTime": "2025-06-01T11:00:00+05:00",
    "outcome": {"text": "normal"},
    "performer": [{"actor": DOC}, {"actor": ORG}],
}
REPORT = {
    "resourceType": "DiagnosticReport",
    "subject": PATIENT_REF,
    "status": "final",
    "code": cc(LOINC, "30746-2", "Chest X-ray"),
    "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD")],
    "effectiveDateTime": "2026-01-20T14:00:00+05:00",
    "conclusion": "No pathology",
    "performer": [ORG],
}
ENCOUNTER = {
    "resourceType": "Encounter",
    "subject": PATIENT_REF,
    "status": "finished",
    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
    "period": {"start": "2026-03-01T08:00:00+05:00", "end": "2026-03-09T12:00:00+05:00"},
    "serviceProvider": ORG,
    "participant": [{"individual": DOC}],
    "reasonCode": [cc(ICD10, "I21.0", "Acute MI")],
}
DEVICE = {
    "resourceType": "Device",
    "patient": PATIENT_REF,
    "type": cc(SNOMED, "14106009", "Cardiac pacemaker"),
    "status": "active",
}
EVERY_TYPE = frozenset(
    {
        "AllergyIntolerance",
        "Observation",
        "Condition",
        "MedicationStatement",
        "Immunization",
        "Procedure",
        "DiagnosticReport",
        "Encounter",
        "Device",
    }
)


def owned(resource_type: str) -> dict:
    """The element by which a resource of this type names its patient (FHIR R4), as p1's."""
    element = (
        "patient"
        if resource_type in ("AllergyIntolerance", "Immunization", "Device")
        else "subject"
    )
    return {element: PATIENT_REF}


def make_settings(kind="fhir-ehr", **overrides) -> SourceSettings:
    values = {
        "name": "ehr-astana" if kind == "fhir-ehr" else "register",
        "kind": kind,
        "base_url": BASE,
        "region": "astana" if kind == "fhir-ehr" else None,
        "token": "secret-token",
        "ttl_s": 3600,
    }
    values.update(overrides)
    return SourceSettings(**values)


def searchset(*resources, match_first=True, next_url=None, total=None):
    entries = []
    for index, resource in enumerate(resources):
        mode = "match" if (match_first and index == 0) else "include"
        entries.append({"resource": resource, "search": {"mode": mode}})
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total or 1, "entry": entries}
    if next_url:
        bundle["link"] = [{"relation": "self", "url": BASE}, {"relation": "next", "url": next_url}]
    return bundle


class Upstream:
    """A scripted FHIR server: answers in order, records every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.pop(0)
        return httpx.Response(status, json=body, headers={"Content-Type": "application/fhir+json"})

    def query(self, index=0):
        return parse_qsl(urlsplit(str(self.requests[index].url)).query)


def ehr(upstream: Upstream, **overrides) -> EhrAdapter:
    settings = make_settings(**overrides)
    return EhrAdapter(settings, create_client(settings, transport=httpx.MockTransport(upstream)))


def register(upstream: Upstream) -> RegisterAdapter:
    settings = make_settings("fhir-register")
    return RegisterAdapter(
        settings, create_client(settings, transport=httpx.MockTransport(upstream))
    )


async def test_record_asks_once_with_revinclude_for_the_requested_types():
    upstream = Upstream((200, searchset(PATIENT, CONDITION, ALLERGY)))
    record = (await ehr(upstream).record(IIN, frozenset({"Condition", "AllergyIntolerance"}))).value
    assert len(upstream.requests) == 1
    request = upstream.requests[0]
    assert request.url.path == "/fhir/Patient"
    assert request.headers["authorization"] == "Bearer secret-token"
    query = upstream.query()
    assert ("identifier", f"urn:kz:iin|{IIN}") in query
    assert sorted(v for k, v in query if k == "_revinclude") == [
        "AllergyIntolerance:patient",
        "Condition:patient",
    ]
    assert ("_count", "500") in query
    assert record.patient.iin == IIN
    assert record.patient.local_id == "p1"
    assert record.region == "astana"
    assert len(record.problems) == 1
    assert len(record.allergies) == 1
    assert record.observations == ()


async def test_record_follows_next_links_verbatim():
    next_url = f"{BASE}?_getpages=abc&_getpagesoffset=2&_count=500"
    upstream = Upstream(
        (200, searchset(PATIENT, CONDITION, next_url=next_url, total=1)),
        (200, searchset(ENCOUNTER, DEVICE, match_first=False)),
    )
    record = (
        await ehr(upstream).record(IIN, frozenset({"Condition", "Encounter", "Device"}))
    ).value
    assert len(upstream.requests) == 2
    assert str(upstream.requests[1].url) == next_url
    assert upstream.requests[1].headers["authorization"] == "Bearer secret-token"
    assert (len(record.problems), len(record.encounters), len(record.devices)) == (1, 1, 1)


async def test_next_link_to_another_origin_is_refused():
    upstream = Upstream((200, searchset(PATIENT, next_url="http://evil.test/fhir?page=2")))
    with pytest.raises(SourceError) as raised:
        await ehr(upstream).record(IIN, frozenset({"Condition"}))
    assert raised.value.kind == "bad_response"
    assert len(upstream.requests) == 1


async def test_record_separates_match_from_include_and_ignores_other_types():
    other_patient = {
        **PATIENT,
        "id": "p2",
        "identifier": [{"system": "urn:kz:iin", "value": "900101300811"}],
    }
    upstream = Upstream((200, searchset(PATIENT, other_patient, CONDITION, DEVICE)))
    record = (await ehr(upstream).record(IIN, frozenset({"Condition"}))).value
    assert record.patient.local_id == "p1"
    assert record.devices == ()  # Device was not asked for
    assert record.types == ("Condition",)


async def test_no_such_patient_is_none():
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    record = (await ehr(Upstream((200, empty))).record(IIN, frozenset({"Condition"}))).value
    assert record is None


async def test_unknown_resource_type_is_refused_before_any_request():
    upstream = Upstream()
    with pytest.raises(ValueError):
        await ehr(upstream).record(IIN, frozenset({"Claim"}))
    with pytest.raises(ValueError):
        await ehr(upstream).record("90010130000X", frozenset({"Condition"}))
    assert upstream.requests == []


async def test_every_type_is_mapped_with_provenance():
    resources = (
        PATIENT,
        CONDITION,
        ALLERGY,
        BLOOD_PRESSURE,
        WEIGHT,
        BLOOD_GROUP,
        AUDIT_C,
        DELIVERY,
        MEDICATION,
        IMMUNIZATION,
        PROCEDURE,
        REPORT,
        ENCOUNTER,
        DEVICE,
    )
    record = (await ehr(Upstream((200, searchset(*resources)))).record(IIN, EVERY_TYPE)).value
    patient = record.patient
    assert (patient.family, patient.given, patient.patronymic) == ("Abenov", "Arman", "Serikovich")
    assert patient.full_name == "Abenov Arman Serikovich"
    assert (patient.sex, patient.birth_date, patient.region) == ("MALE", date(1990, 1, 1), "astana")
    assert (patient.managing_org_id, patient.gp_id) == ("o1", "d1")

    (problem,) = record.problems
    assert problem.code == Coding(ICD10, "E11.9", "Type 2 diabetes mellitus without complications")
    assert (problem.clinical_status, problem.category) == ("relapse", "problem-list-item")
    assert problem.onset == datetime(2019, 3, 1, tzinfo=ALMATY)
    assert problem.recorded == datetime(2019, 3, 2, 10, 15, tzinfo=ALMATY)
    assert problem.provenance.source == "ehr-astana"
    assert problem.provenance.region == "astana"
    assert problem.provenance.practitioner == PractitionerRef("PR-77", "Abenova A. B.")
    assert problem.encounter_ref == "Encounter/e1"

    (allergy,) = record.allergies
    assert allergy.substance == Coding(SNOMED, "764146007", "Penicillin")
    assert (allergy.category, allergy.criticality, allergy.clinical_status) == (
        "medication",
        "high",
        "active",
    )
    assert allergy.reactions == ("hives", "angioedema")
    assert allergy.severity == "severe"
    assert allergy.provenance.recorded_at == datetime(2020, 5, 5, 9, 0, tzinfo=ALMATY)  # naive
    assert allergy.provenance.practitioner == PractitionerRef("PR-78", None)

    by_code = {o.code.code: o for o in record.observations}
    bp = by_code["85354-9"]
    assert bp.category == "vital-signs"
    assert bp.value is None
    assert [(c.code.code, c.value, c.unit) for c in bp.components] == [
        ("8480-6", 128.0, "mm[Hg]"),
        ("8462-4", 82.0, "mm[Hg]"),
    ]
    assert bp.provenance.organization == OrgRef("040340001234", "City polyclinic 4")
    assert bp.provenance.practitioner == PractitionerRef("PR-77", "Abenova A. B.")
    weight = by_code["29463-7"]
    assert (weight.value, weight.unit) == (81.5, "kg")
    assert weight.effective == datetime(2026, 10, 1, 9, 31, tzinfo=UTC)
    assert by_code["883-9"].value == Coding(SNOMED, "112144000", "Blood group A")
    assert by_code["75626-2"].value == 3
    assert isinstance(by_code["75626-2"].value, int)
    assert by_code["11778-8"].value == datetime(2027, 3, 15, tzinfo=ALMATY)

    (medication,) = record.medications
    assert medication.medication == Coding("http://www.whocc.no/atc", "A10BA02", "metformin")
    assert (medication.name, medication.status) == ("metformin", "active")
    assert medication.dose == Quantity(500.0, "mg")
    assert (medication.times_per_day, medication.route) == (2, "oral")
    assert medication.dosage_text == "500 mg twice daily"
    assert medication.since == datetime(2024, 2, 1, tzinfo=ALMATY)

    (immunization,) = record.immunizations
    assert immunization.vaccine == Coding("urn:kz:vaccine", "MMR", "Measles, mumps, rubella")
    assert (immunization.dose_number, immunization.lot_number) == (1, "L-42")
    assert immunization.occurred == datetime(1991, 1, 10, tzinfo=ALMATY)
    assert immunization.provenance.organization.bin == "040340001234"

    (procedure,) = record.procedures
    assert (procedure.category, procedure.outcome) == ("screening", "normal")
    assert procedure.code.code == "268547008"
    assert procedure.provenance.practitioner.id == "PR-77"
    assert procedure.provenance.organization.bin == "040340001234"

    (report,) = record.diagnostic_reports
    assert (report.category, report.conclusion) == ("RAD", "No pathology")
    assert report.effective == datetime(2026, 1, 20, 14, 0, tzinfo=ALMATY)

    (encounter,) = record.encounters
    assert encounter.kind == "INPATIENT"
    assert encounter.start == datetime(2026, 3, 1, 8, 0, tzinfo=ALMATY)
    assert encounter.end == datetime(2026, 3, 9, 12, 0, tzinfo=ALMATY)
    assert encounter.organization.bin == "040340001234"
    assert encounter.practitioner.id == "PR-77"
    assert encounter.diagnosis == Coding(ICD10, "I21.0", "Acute MI")

    (device,) = record.devices
    assert device.type == Coding(SNOMED, "14106009", "Cardiac pacemaker")
    assert device.status == "active"

    # The cache stores records as bytes: everything round-trips exactly.
    decoded = decode_record(encode_record(record))
    assert decoded == record
    assert decoded.observations[1].effective.utcoffset() == timedelta(0)


async def test_missing_elements_are_tolerated():
    # Bare but for the patient reference every clinical resource carries (SOURCES.md).
    bare = [{"resourceType": t, "id": f"x-{t}", **owned(t)} for t in sorted(EVERY_TYPE)]
    odd_condition = {
        "resourceType": "Condition",
        "subject": PATIENT_REF,
        "code": {"text": "free text only"},
        "onsetDateTime": "not a date",
        "recorder": {"reference": "Practitioner/d9"},
        "extra": {"anything": [1, 2, 3]},
    }
    upstream = Upstream((200, searchset(PATIENT, *bare, odd_condition)))
    record = (await ehr(upstream).record(IIN, EVERY_TYPE)).value
    assert len(record.problems) == 2
    assert record.problems[0].code is None
    assert record.problems[0].provenance.practitioner is None
    assert record.problems[1].onset is None
    assert record.problems[1].provenance.practitioner == PractitionerRef(None, None, "d9")
    assert record.encounters[0].kind is None and record.encounters[0].start is None
    assert record.medications[0].dose is None and record.medications[0].times_per_day is None
    assert record.allergies[0].reactions == ()
    assert record.observations[0].components == ()
    minimal_patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:kz:iin", "value": IIN}],
    }
    record = (await ehr(Upstream((200, searchset(minimal_patient)))).record(IIN, EVERY_TYPE)).value
    assert record.patient.full_name == IIN
    assert record.patient.sex is None and record.patient.birth_date is None


OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "processing", "diagnostics": f"bad search for {IIN}"}],
}


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "http_400"), (500, "http_500"), (401, "unauthorized")]
)
async def test_operation_outcome_errors(status, kind):
    with pytest.raises(SourceError) as raised:
        await ehr(Upstream((status, OUTCOME))).record(IIN, frozenset({"Condition"}))
    assert raised.value.kind == kind
    assert raised.value.source == "ehr-astana"
    assert IIN not in str(raised.value)
    if status != 401:
        assert "processing" in raised.value.detail


async def test_operation_outcome_with_200_is_a_bad_response():
    with pytest.raises(SourceError) as raised:
        await ehr(Upstream((200, OUTCOME))).record(IIN, frozenset({"Condition"}))
    assert raised.value.kind == "bad_response"


async def test_garbage_body_is_a_bad_response():
    def handler(request):
        return httpx.Response(200, content=b"<html>proxy error</html>")

    settings = make_settings()
    adapter = EhrAdapter(settings, create_client(settings, transport=httpx.MockTransport(handler)))
    with pytest.raises(SourceError) as raised:
        await adapter.record(IIN, frozenset({"Condition"}))
    assert raised.value.kind == "bad_response"


def encounter_at(bin_):
    return {**ENCOUNTER, "serviceProvider": {"identifier": {"system": "urn:kz:bin", "value": bin_}}}


async def test_has_encounter_with_filters_the_provider_here():
    upstream = Upstream(
        (200, searchset(encounter_at("111111111111"), encounter_at("040340001234"))),
        (200, searchset(encounter_at("111111111111"))),
    )
    adapter = ehr(upstream)
    assert await adapter.has_encounter_with(IIN, "040340001234", date(2025, 11, 25)) is True
    assert await adapter.has_encounter_with(IIN, "040340001234", date(2025, 11, 25)) is False
    assert upstream.requests[0].url.path == "/fhir/Encounter"
    query = dict(upstream.query())
    assert query["patient.identifier"] == f"urn:kz:iin|{IIN}"
    assert query["date"] == "ge2025-11-25"
    assert not any("provider" in key for key in query)


async def test_count_active_conditions_uses_summary_count():
    upstream = Upstream((200, {"resourceType": "Bundle", "type": "searchset", "total": 42}))
    assert await ehr(upstream).count_active_conditions("E11") == 42
    query = dict(upstream.query())
    assert query == {
        "code:below": "http://hl7.org/fhir/sid/icd-10|E11",
        "clinical-status": "active",
        "_summary": "count",
    }
    with pytest.raises(ValueError):
        await ehr(upstream).count_active_conditions("E11,I10")


ORGANIZATION = {
    "resourceType": "Organization",
    "id": "o1",
    "identifier": [{"system": "urn:kz:bin", "value": "040340001234"}],
    "name": "City polyclinic 4",
    "type": [{"text": "polyclinic"}],
    "address": [{"state": "astana"}],
}
PRACTITIONER = {
    "resourceType": "Practitioner",
    "id": "d1",
    "identifier": [{"system": "urn:kz:practitioner", "value": "PR-77"}],
    "name": [{"text": "Abenova Aigul Bolatovna"}],
}


def batch_response(*resources):
    return {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"resource": r, "response": {"status": "200 OK"}} for r in resources],
    }


async def test_register_patient_resolves_org_and_gp_in_one_batch_then_caches():
    upstream = Upstream(
        (200, searchset(PATIENT)),
        (200, batch_response(ORGANIZATION, PRACTITIONER)),
        (200, searchset(PATIENT)),
    )
    adapter = register(upstream)
    patient = await adapter.patient_by_iin(IIN)
    assert patient.managing_org == OrgRef("040340001234", "City polyclinic 4", "astana", "o1")
    assert patient.gp == PractitionerRef("PR-77", "Abenova Aigul Bolatovna", "d1")
    assert patient.provenance.source == "register"
    assert patient.provenance.organization == patient.managing_org
    batch = upstream.requests[1]
    assert batch.method == "POST"
    assert batch.url.path in ("/fhir", "/fhir/")
    body = orjson.loads(batch.content)
    assert body["type"] == "batch"
    assert [e["request"] for e in body["entry"]] == [
        {"method": "GET", "url": "Organization/o1"},
        {"method": "GET", "url": "Practitioner/d1"},
    ]
    again = await adapter.patient_by_iin(IIN)
    assert again == patient
    assert len(upstream.requests) == 3  # the second time: the search only


async def test_register_unknown_person_is_none():
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
    upstream = Upstream((200, empty))
    assert await register(upstream).patient_by_iin(IIN) is None
    assert len(upstream.requests) == 1


async def test_register_tolerates_a_failed_batch_entry():
    missing = {"response": {"status": "404 Not Found"}, "resource": OUTCOME}
    answer = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [missing, {"resource": PRACTITIONER, "response": {"status": "200"}}],
    }
    patient = await register(Upstream((200, searchset(PATIENT)), (200, answer))).patient_by_iin(IIN)
    assert patient.managing_org == OrgRef(None, None, None, "o1")
    assert patient.gp.name == "Abenova Aigul Bolatovna"


async def test_organizations_one_or_search_per_hundred_and_cached():
    bins = [f"{n:012d}" for n in range(150)]

    def organizations_for(request):
        values = dict(parse_qsl(urlsplit(str(request.url)).query))["identifier"].split(",")
        found = [
            {
                **ORGANIZATION,
                "id": f"o{v}",
                "identifier": [{"system": "urn:kz:bin", "value": v.split("|")[1]}],
            }
            for v in values
            if not v.endswith("149")
        ]
        return httpx.Response(200, json=searchset(*found, total=len(found)))

    seen = []

    def handler(request):
        seen.append(request)
        return organizations_for(request)

    settings = make_settings("fhir-register")
    adapter = RegisterAdapter(
        settings, create_client(settings, transport=httpx.MockTransport(handler))
    )
    found = await adapter.organizations(bins)
    assert len(seen) == 2
    sizes = sorted(
        len(dict(parse_qsl(r.url.query.decode()))["identifier"].split(",")) for r in seen
    )
    assert sizes == [50, 100]
    assert all(
        v.startswith("urn:kz:bin|")
        for v in dict(parse_qsl(seen[0].url.query.decode()))["identifier"].split(",")
    )
    assert len(found) == 149 and "000000000149" not in found
    assert found["000000000007"].name == "City polyclinic 4"
    again = await adapter.organizations(bins[:10])
    assert len(seen) == 2 and len(again) == 10


async def test_practitioners_by_identifier():
    upstream = Upstream((200, searchset(PRACTITIONER)))
    found = await register(upstream).practitioners(["PR-77", "PR-99"])
    assert found == {"PR-77": PractitionerRef("PR-77", "Abenova Aigul Bolatovna", "d1")}
    assert (
        dict(upstream.query())["identifier"]
        == "urn:kz:practitioner|PR-77,urn:kz:practitioner|PR-99"
    )


# --- against the FHIR emulators over real HTTP (expected values from the ground truth) -------


@pytest.fixture(scope="module")
def fhir_emulators(request):
    """Register and Astana EHR emulators on loopback ports, with the session's ground truth."""
    pytest.importorskip("emulators.population")
    from emulators.serve import Credentials, base_url, create_app
    from tests.servers import free_port, serve_app

    data_dir = request.getfixturevalue("population_dir")
    truth = request.getfixturevalue("ground_truth")
    credentials = Credentials()
    urls = {}
    with contextlib.ExitStack() as stack:
        for system in ("register", "ehr-astana"):
            port = free_port()
            stack.enter_context(serve_app(create_app(system, data_dir, credentials), port=port))
            urls[system] = base_url(system, port)
        yield urls, credentials.fhir_token, truth


def live_settings(urls, token, system):
    kind = "fhir-register" if system == "register" else "fhir-ehr"
    region = None if system == "register" else system.removeprefix("ehr-")
    return SourceSettings(name=system, kind=kind, base_url=urls[system], region=region, token=token)


async def test_live_register_identity_and_care_team(fhir_emulators):
    urls, token, truth = fhir_emulators
    settings = live_settings(urls, token, "register")
    async with create_client(settings) as client:
        await check_register(RegisterAdapter(settings, client), truth)


async def check_register(adapter, truth):
    for iin, person in list(truth["people"].items())[:10]:
        patient = await adapter.patient_by_iin(iin)
        identity = person["identity"]
        assert (patient.family, patient.given, patient.patronymic) == (
            identity["familyName"],
            identity["givenName"],
            identity["patronymic"],
        )
        assert patient.birth_date == date.fromisoformat(identity["birthDate"])
        assert (patient.sex, patient.region) == (identity["sex"], identity["region"])
        team = person["careTeam"]
        assert patient.managing_org.bin == team["attachedOrganization"]["bin"]
        assert patient.managing_org.name == team["attachedOrganization"]["name"]
        if team.get("generalPractitioner"):
            assert patient.gp.id == team["generalPractitioner"]["id"]
            assert patient.gp.name == team["generalPractitioner"]["name"]
    assert await adapter.patient_by_iin("900101300008") is None


async def test_live_ehr_record_matches_ground_truth(fhir_emulators):
    urls, token, truth = fhir_emulators
    settings = live_settings(urls, token, "ehr-astana")
    async with create_client(settings) as client:
        assert await check_ehr(EhrAdapter(settings, client), truth) > 0


async def check_ehr(adapter, truth):
    checked = 0
    for iin, person in truth["people"].items():
        answer = await adapter.record(iin, EVERY_TYPE)
        assert answer.dropped == 0  # every resource the emulator sent references the Patient
        record = answer.value
        if "astana" not in person["ehrRegions"]:
            assert record is None
            continue
        checked += 1
        problems = sorted(p.code.code for p in record.problems if p.category == "problem-list-item")
        expected = sorted(p["code"]["code"] for p in person["problems"] if p["region"] == "astana")
        assert problems == expected
        assert sorted(i.vaccine.code for i in record.immunizations) == sorted(
            i["vaccine"]["code"] for i in person["immunizations"] if i["region"] == "astana"
        )
        assert sorted(a.substance.code for a in record.allergies) == sorted(
            a["substance"]["code"] for a in person["allergies"] if a["region"] == "astana"
        )
        if checked >= 15:
            break
    return checked


@pytest.mark.parametrize("batched", [False, True])
async def test_a_search_past_the_page_limit_is_an_error_not_a_shortened_record(batched):
    looping = searchset(PATIENT, next_url=f"{BASE}/Patient?page=again")
    first = batch_response(looping) if batched else looping
    upstream = Upstream((200, first), (200, looping))
    settings = make_settings()
    client = FhirClient(
        "ehr-astana", create_client(settings, transport=httpx.MockTransport(upstream))
    )
    params = [("identifier", f"urn:kz:iin|{IIN}")]
    with pytest.raises(SourceError) as raised:
        if batched:
            await client.search_batch([("Patient", params)], max_pages=2)
        else:
            await client.search("Patient", params, max_pages=2)
    assert raised.value.kind == "bad_response" and "too many pages" in str(raised.value)
    assert len(upstream.requests) == 2
