"""The FHIR emulator over real HTTP: SOURCES.md section 1, interaction by interaction.

Two data sets: a small hand-built EHR and register (paging, dates and edge cases with
values chosen here) and the generated population, checked against its ground truth.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.clock import search_date
from emulators.fhir import create_fhir_app
from emulators.storage import create_database, database_path
from tests.servers import serve_app

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IIN = "urn:kz:iin"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


# --- the hand-built databases -------------------------------------------------------------

# (id, iin, gender, birthDate)
PATIENTS = [
    ("p1", "900101300007", "male", "1990-01-01"),
    ("p2", "061211600012", "female", "2006-12-11"),
    ("p3", "900101300811", "male", "1990-01-01"),
]
# (id, patient, icd10, category, clinical status, recorded)
CONDITIONS = [
    ("c1", "p1", "E11", "problem-list-item", "active", "2020-03-04"),
    ("c2", "p1", "E11.9", "encounter-diagnosis", "resolved", "2021-05-06"),
    ("c3", "p1", "I10", "problem-list-item", "active", "2019-01-02"),
    ("c4", "p1", "E10.1", "problem-list-item", "inactive", "2018-07-08"),
    ("c5", "p2", "E11.65", "problem-list-item", "active", "2022-02-03"),
    *[
        (f"c{n}", "p3", f"J0{n % 10}", "encounter-diagnosis", "resolved", f"2023-01-{n:02d}")
        for n in range(10, 17)
    ],
]
# Observations of p1: one a day at 10:00 local time from 2026-01-01, alternating categories.
OBSERVATION_DAYS = 60


def _observation_time(n: int) -> str:
    return f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}T10:00:00+05:00"


# (id, patient, class, start)
ENCOUNTERS = [
    ("e1", "p1", "AMB", "2025-12-31T23:30:00+05:00"),
    ("e2", "p1", "IMP", "2026-01-01T00:30:00+05:00"),
    ("e3", "p2", "EMER", "2026-02-10T12:00:00+05:00"),
    # Almaty was UTC+06:00 until 2024-03-01 (tzdata Asia/Almaty): local days decide.
    ("e4", "p3", "AMB", "2023-05-01T00:30:00+06:00"),
    ("e5", "p3", "AMB", "2023-04-30T23:30:00+06:00"),
    ("e6", "p3", "AMB", "2024-03-01T00:30:00+05:00"),
]


def _insert(db: Any, resource: dict, patient: str | None, date: str | None, tokens: list) -> None:
    db.execute(
        "INSERT INTO resource VALUES (?, ?, ?, ?, ?)",
        (resource["resourceType"], resource["id"], patient, date, json.dumps(resource)),
    )
    for param, system, code in tokens:
        db.execute(
            "INSERT INTO token VALUES (?, ?, ?, ?, ?)",
            (resource["resourceType"], resource["id"], param, system, code),
        )


def _coding(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def _build_ehr(data_dir: Path) -> Path:
    db = create_database(data_dir, "ehr-astana")
    for pid, iin, gender, birth in PATIENTS:
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": IIN, "value": iin}],
            "gender": gender,
            "birthDate": birth,
        }
        tokens = [("identifier", IIN, iin), ("gender", "", gender)]
        _insert(db, patient, pid, birth, tokens)
    for cid, pid, icd, category, status, recorded in CONDITIONS:
        condition = {
            "resourceType": "Condition",
            "id": cid,
            "subject": {"reference": f"Patient/{pid}"},
            "code": _coding(ICD10, icd),
            "category": [_coding(CONDITION_CATEGORY, category)],
            "clinicalStatus": _coding(CLINICAL_STATUS, status),
            "recordedDate": recorded,
        }
        tokens = [
            ("code", ICD10, icd),
            ("category", CONDITION_CATEGORY, category),
            ("clinical-status", CLINICAL_STATUS, status),
        ]
        _insert(db, condition, pid, recorded, tokens)
    for n in range(OBSERVATION_DAYS):
        category = "vital-signs" if n % 2 == 0 else "laboratory"
        when = _observation_time(n)
        observation = {
            "resourceType": "Observation",
            "id": f"o{n:03d}",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "category": [_coding(OBS_CATEGORY, category)],
            "code": _coding(LOINC, "8867-4"),
            "effectiveDateTime": when,
            "valueQuantity": {"value": 60 + n, "unit": "/min"},
        }
        tokens = [("category", OBS_CATEGORY, category), ("code", LOINC, "8867-4")]
        _insert(db, observation, "p1", when, tokens)
    for eid, pid, klass, start in ENCOUNTERS:
        encounter = {
            "resourceType": "Encounter",
            "id": eid,
            "status": "finished",
            "class": {"system": ACT_CODE, "code": klass},
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": start},
        }
        _insert(db, encounter, pid, search_date(start), [("class", ACT_CODE, klass)])
    db.commit()
    db.close()
    return database_path(data_dir, "ehr-astana")


def _build_register(data_dir: Path) -> Path:
    db = create_database(data_dir, "register")
    organization = {
        "resourceType": "Organization",
        "id": "org1",
        "identifier": [{"system": "urn:kz:bin", "value": "990140000013"}],
        "name": "City polyclinic 1",
    }
    _insert(db, organization, None, None, [("identifier", "urn:kz:bin", "990140000013")])
    for pid, iin, gender, birth in PATIENTS:
        patient = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": IIN, "value": iin}],
            "gender": gender,
            "birthDate": birth,
            "managingOrganization": {"reference": "Organization/org1"},
        }
        tokens = [
            ("identifier", IIN, iin),
            ("gender", "", gender),
            ("organization", "", "Organization/org1"),
        ]
        _insert(db, patient, pid, birth, tokens)
    db.commit()
    db.close()
    return database_path(data_dir, "register")


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the hand-built EHR and register databases."""
    data_dir = tmp_path_factory.mktemp("fhir-small")
    _build_ehr(data_dir)
    _build_register(data_dir)
    return data_dir


@pytest.fixture(scope="module")
def ehr_url(small_dir: Path) -> Iterator[str]:
    """Base URL of an EHR emulator over the hand-built database."""
    app = create_fhir_app(database_path(small_dir, "ehr-astana"), "fhir-ehr", TOKEN)
    with serve_app(app) as url:
        yield url


@pytest.fixture(scope="module")
def ehr(ehr_url: str) -> Iterator[httpx.Client]:
    """An authorised client of the hand-built EHR, based at its FHIR base."""
    with httpx.Client(base_url=f"{ehr_url}/fhir", headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def register(small_dir: Path) -> Iterator[httpx.Client]:
    """An authorised client of the hand-built register."""
    app = create_fhir_app(database_path(small_dir, "register"), "fhir-register", TOKEN)
    with (
        serve_app(app) as url,
        httpx.Client(base_url=f"{url}/fhir", headers=AUTH, timeout=10) as client,
    ):
        yield client


# --- helpers ------------------------------------------------------------------------------


def validate(resource: dict) -> None:
    """Validate one resource (a Bundle validates its entries too) with the R4B models."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def fhir_json(response: httpx.Response, status: int = 200) -> dict:
    """Check status and media type, validate the FHIR body, and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    return body


def outcome(response: httpx.Response, status: int) -> dict:
    """Check the response is an OperationOutcome error with ``status``; return its issue."""
    body = fhir_json(response, status)
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] in ("error", "fatal")
    assert issue["code"] and issue["diagnostics"]
    return issue


def ids(bundle: dict, mode: str = "match") -> list[str]:
    """The ids of the bundle's entries of one search mode, in order."""
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def next_link(bundle: dict) -> str | None:
    """The URL of the bundle's next page, if any."""
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def search_all(client: httpx.Client, url: str, **params: Any) -> tuple[list[dict], list[dict]]:
    """Follow next links verbatim; return every page and every matched resource."""
    pages = [fhir_json(client.get(url, params=params))]
    while (link := next_link(pages[-1])) is not None:
        assert link.startswith("http://127.0.0.1:")  # absolute, usable as given
        pages.append(fhir_json(client.get(link)))
    matches = [e["resource"] for page in pages for e in page.get("entry", [])]
    return pages, matches


# --- auth ---------------------------------------------------------------------------------


def test_requests_without_a_token_are_refused(ehr_url: str) -> None:
    """No Authorization header: 401 with an OperationOutcome."""
    issue = outcome(httpx.get(f"{ehr_url}/fhir/Patient/p1"), 401)
    assert issue["code"] == "login"


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", "Basic dGVzdC10b2tlbg==", "Bearer", "test-token"]
)
def test_requests_with_a_wrong_token_are_refused(ehr_url: str, header: str) -> None:
    """A wrong token or scheme: 401."""
    response = httpx.get(f"{ehr_url}/fhir/Patient/p1", headers={"Authorization": header})
    outcome(response, 401)


def test_the_scheme_is_case_insensitive(ehr_url: str) -> None:
    """RFC 7235: 'bearer' is the same scheme as 'Bearer'."""
    response = httpx.get(f"{ehr_url}/fhir/Patient/p1", headers={"Authorization": f"bearer {TOKEN}"})
    assert fhir_json(response)["id"] == "p1"


def test_no_configured_token_means_no_auth(small_dir: Path) -> None:
    """token=None serves anyone."""
    app = create_fhir_app(database_path(small_dir, "ehr-astana"), "fhir-ehr", None)
    with serve_app(app) as url:
        assert fhir_json(httpx.get(f"{url}/fhir/Patient/p2"))["id"] == "p2"


# --- read ---------------------------------------------------------------------------------


def test_read_returns_the_resource(ehr: httpx.Client) -> None:
    """GET {type}/{id} answers the resource itself."""
    condition = fhir_json(ehr.get("/Condition/c1"))
    assert condition["resourceType"] == "Condition"
    assert condition["code"]["coding"][0]["code"] == "E11"
    assert condition["subject"]["reference"] == "Patient/p1"


def test_read_of_a_missing_resource_is_404(ehr: httpx.Client) -> None:
    """Unknown id: 404 OperationOutcome."""
    assert outcome(ehr.get("/Condition/nope"), 404)["code"] == "not-found"


def test_types_a_kind_does_not_hold_are_404(ehr: httpx.Client, register: httpx.Client) -> None:
    """The EHR holds no Organization, the register no Condition: 404 for read and search."""
    outcome(ehr.get("/Organization/org1"), 404)
    outcome(ehr.get("/Organization", params={"identifier": "990140000013"}), 404)
    outcome(register.get("/Condition", params={"patient": "p1"}), 404)
    outcome(ehr.get("/Banana"), 404)


def test_other_methods_are_refused(ehr: httpx.Client) -> None:
    """The emulator is read-only: PUT/DELETE get an OperationOutcome, not a change."""
    outcome(ehr.put("/Condition/c1", json={"resourceType": "Condition"}), 405)
    outcome(ehr.delete("/Condition/c1"), 405)
    outcome(ehr.get(""), 405)
    assert fhir_json(ehr.get("/Condition/c1"))["id"] == "c1"


def test_metadata_is_a_capability_statement(ehr: httpx.Client) -> None:
    """GET metadata answers a CapabilityStatement naming the served types."""
    statement = fhir_json(ehr.get("/metadata"))
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Condition", "Observation"} <= types
    assert "Organization" not in types


# --- search basics ------------------------------------------------------------------------


def test_search_answers_a_searchset(ehr: httpx.Client, ehr_url: str) -> None:
    """A search Bundle has total, fullUrl, the resource and search.mode, and a self link."""
    bundle = fhir_json(ehr.get("/Condition", params={"patient": "Patient/p1"}))
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 4
    assert sorted(ids(bundle)) == ["c1", "c2", "c3", "c4"]
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{ehr_url}/fhir/Condition/{resource['id']}"
        assert entry["search"]["mode"] == "match"
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_patient_accepts_a_bare_id_and_an_absolute_reference(ehr: httpx.Client) -> None:
    """patient=p1, patient=Patient/p1 and an absolute URL all mean the same patient."""
    for value in ("p1", "Patient/p1", "http://elsewhere/fhir/Patient/p1"):
        assert fhir_json(ehr.get("/Condition", params={"patient": value}))["total"] == 4


def test_or_values_are_a_union(ehr: httpx.Client) -> None:
    """patient=Patient/p1,Patient/p2 finds both people's conditions."""
    bundle = fhir_json(ehr.get("/Condition", params={"patient": "Patient/p1,Patient/p2"}))
    assert sorted(ids(bundle)) == ["c1", "c2", "c3", "c4", "c5"]


def test_more_than_100_or_values_are_refused(ehr: httpx.Client) -> None:
    """At most 100 comma-separated values: 101 is a 400."""
    many = ",".join(f"Patient/x{n}" for n in range(101))
    assert (
        fhir_json(ehr.get("/Condition", params={"patient": many[: many.rfind(",")]}))["total"] == 0
    )
    outcome(ehr.get("/Condition", params={"patient": many}), 400)


def test_summary_count_returns_only_the_total(ehr: httpx.Client) -> None:
    """_summary=count: the total and no entries."""
    bundle = fhir_json(ehr.get("/Observation", params={"patient": "p1", "_summary": "count"}))
    assert bundle["total"] == OBSERVATION_DAYS
    assert "entry" not in bundle


def test_default_page_is_50_and_count_is_capped_at_500(ehr: httpx.Client) -> None:
    """Without _count a page holds 50; _count above 500 is served as 500."""
    bundle = fhir_json(ehr.get("/Observation", params={"patient": "p1"}))
    assert bundle["total"] == OBSERVATION_DAYS
    assert len(bundle["entry"]) == 50
    assert next_link(bundle) is not None
    big = fhir_json(ehr.get("/Observation", params={"patient": "p1", "_count": "5000"}))
    assert len(big["entry"]) == OBSERVATION_DAYS
    assert "_count=500" in big["link"][0]["url"]


def test_paging_collects_every_resource_exactly_once(ehr: httpx.Client) -> None:
    """_count=2 over 60 observations: 30 pages, next links followed verbatim, no repeats."""
    pages, matches = search_all(ehr, "/Observation", patient="Patient/p1", _count=2)
    assert len(pages) == OBSERVATION_DAYS // 2
    assert all(page["total"] == OBSERVATION_DAYS for page in pages)
    assert all(len(page["entry"]) == 2 for page in pages)
    found = [m["id"] for m in matches]
    assert sorted(found) == [f"o{n:03d}" for n in range(OBSERVATION_DAYS)]
    assert next_link(pages[-1]) is None


def test_next_links_keep_every_filter(ehr: httpx.Client) -> None:
    """Paging a filtered, sorted search keeps the filter and the order."""
    pages, matches = search_all(
        ehr,
        "/Observation",
        patient="p1",
        category="laboratory",
        date="ge2026-02-01",
        _sort="-date",
        _count=3,
    )
    expected = [n for n in range(OBSERVATION_DAYS) if n % 2 and _observation_time(n) >= "2026-02"]
    assert len(matches) == len(expected) == pages[0]["total"]
    times = [m["effectiveDateTime"] for m in matches]
    assert times == sorted((_observation_time(n) for n in expected), reverse=True)


def test_sort_by_date(ehr: httpx.Client) -> None:
    """_sort=-date is newest first, _sort=date oldest first."""
    newest = fhir_json(ehr.get("/Condition", params={"patient": "p1", "_sort": "-date"}))
    assert ids(newest) == ["c2", "c1", "c3", "c4"]
    oldest = fhir_json(ehr.get("/Condition", params={"patient": "p1", "_sort": "date"}))
    assert ids(oldest) == ["c4", "c3", "c1", "c2"]


# --- tokens -------------------------------------------------------------------------------


def _codes(client: httpx.Client, **params: str) -> list[str]:
    bundle = fhir_json(client.get("/Condition", params=params))
    return sorted(e["resource"]["code"]["coding"][0]["code"] for e in bundle.get("entry", []))


def test_code_below_matches_the_code_and_its_children(ehr: httpx.Client) -> None:
    """code:below=icd-10|E11 finds E11, E11.9, E11.65, and not E10.1 or I10."""
    assert _codes(ehr, **{"code:below": f"{ICD10}|E11"}) == ["E11", "E11.65", "E11.9"]
    assert _codes(ehr, patient="p1", **{"code:below": f"{ICD10}|E11"}) == ["E11", "E11.9"]
    assert _codes(ehr, **{"code:below": f"{ICD10}|E1"}) == ["E10.1", "E11", "E11.65", "E11.9"]


def test_token_forms(ehr: httpx.Client) -> None:
    """system|code, code alone, |code (no system) and a wrong system."""
    assert _codes(ehr, code=f"{ICD10}|E11") == ["E11"]
    assert _codes(ehr, code="E11") == ["E11"]
    assert _codes(ehr, code="|E11") == []  # stored with a system
    assert _codes(ehr, code=f"{LOINC}|E11") == []
    assert _codes(ehr, code="E11,I10") == ["E11", "I10"]


def test_condition_category_and_clinical_status(ehr: httpx.Client) -> None:
    """category and clinical-status filter, repeated parameters are ANDed."""
    assert _codes(ehr, patient="p1", category="problem-list-item") == ["E10.1", "E11", "I10"]
    assert _codes(ehr, patient="p1", **{"clinical-status": f"{CLINICAL_STATUS}|active"}) == [
        "E11",
        "I10",
    ]
    both = {"category": "problem-list-item", "clinical-status": "active,inactive"}
    assert _codes(ehr, patient="p1", **both) == ["E10.1", "E11", "I10"]
    assert _codes(ehr, category=f"{CONDITION_CATEGORY}|encounter-diagnosis", patient="p3") == [
        f"J0{n % 10}" for n in range(10, 17)
    ]


def test_encounter_class(ehr: httpx.Client) -> None:
    """Encounter class token."""
    bundle = fhir_json(ehr.get("/Encounter", params={"class": "IMP,EMER"}))
    assert sorted(ids(bundle)) == ["e2", "e3"]


def test_dates_before_2024_are_days_of_the_old_almaty_offset(ehr: httpx.Client) -> None:
    """A day is an Almaty calendar day, at +06:00 before 2024-03-01; instants compare in time."""

    def found(**params: str) -> list[str]:
        return ids(fhir_json(ehr.get("/Encounter", params={"patient": "p3", **params})))

    assert found(date="2023-05-01") == ["e4"]
    assert found(date="2023-04-30") == ["e5"]
    assert found(date="2023-05") == ["e4"]
    assert found(date="2024-03-01") == ["e6"]
    assert found(date="ge2023-04-30T18:00:00Z") == ["e4", "e6"]  # e5 is 17:30 UTC
    assert found(date="lt2023-05-01T00:00:00") == ["e5"]  # local time without an offset
    assert found(_sort="-date") == ["e6", "e4", "e5"]


def test_patient_search_by_identifier_gender_and_birthdate(ehr: httpx.Client) -> None:
    """Patient identifier (system|value and value), gender, birthdate."""
    found = fhir_json(ehr.get("/Patient", params={"identifier": f"{IIN}|061211600012"}))
    assert ids(found) == ["p2"]
    assert ids(fhir_json(ehr.get("/Patient", params={"identifier": "900101300811"}))) == ["p3"]
    males = fhir_json(ehr.get("/Patient", params={"gender": "male"}))
    assert sorted(ids(males)) == ["p1", "p3"]
    born = fhir_json(ehr.get("/Patient", params={"birthdate": "1990-01-01"}))
    assert sorted(ids(born)) == ["p1", "p3"]
    young = fhir_json(ehr.get("/Patient", params={"birthdate": "ge2000"}))
    assert ids(young) == ["p2"]


def test_register_organization_search(register: httpx.Client) -> None:
    """Organization by identifier, Patient by organization (id or reference)."""
    org = fhir_json(register.get("/Organization", params={"identifier": "urn:kz:bin|990140000013"}))
    assert ids(org) == ["org1"]
    for value in ("org1", "Organization/org1"):
        attached = fhir_json(register.get("/Patient", params={"organization": value}))
        assert sorted(ids(attached)) == ["p1", "p2", "p3"]
    outcome(register.get("/Patient", params={"organization": "Practitioner/org1"}), 400)


# --- dates --------------------------------------------------------------------------------


def _observation_ids(client: httpx.Client, *dates: str) -> list[str]:
    params = [("patient", "p1"), ("_count", "500"), *(("date", d) for d in dates)]
    return sorted(ids(fhir_json(client.get("/Observation", params=params))))


def _days(*numbers: int) -> list[str]:
    return [f"o{n:03d}" for n in numbers]


def test_date_prefixes(ehr: httpx.Client) -> None:
    """ge/le together, gt/lt, eq and bare dates, year/month precision, date-times."""
    # n=0..27 are January, 28..55 February 1..28, 56..59 March 1..4.
    assert _observation_ids(ehr, "ge2026-02-01", "le2026-02-03") == _days(28, 29, 30)
    assert _observation_ids(ehr, "gt2026-02-01", "lt2026-02-03") == _days(29)
    assert _observation_ids(ehr, "2026-01-05") == _days(4)
    assert _observation_ids(ehr, "eq2026-01-05") == _days(4)
    assert _observation_ids(ehr, "2026-03") == _days(56, 57, 58, 59)
    assert _observation_ids(ehr, "lt2026") == []
    assert _observation_ids(ehr, "ge2026-03-04T10:00:00+05:00") == _days(59)
    # The same with "+" left unencoded by a careless client (decoded as a space).
    raw = ehr.get("/Observation?patient=p1&date=ge2026-03-04T10:00:00+05:00")
    assert ids(fhir_json(raw)) == _days(59)
    # 05:00 UTC is 10:00 in Almaty: the instant itself is included by ge and le.
    assert _observation_ids(ehr, "le2026-01-02T05:00:00Z") == _days(0, 1)
    assert _observation_ids(ehr, "lt2026-01-02T10:00:00+05:00") == _days(0)
    assert len(_observation_ids(ehr, "ne2026-01-01")) == OBSERVATION_DAYS - 1
    assert _observation_ids(ehr, "2026-01-01,2026-03-04") == _days(0, 59)


def test_encounter_dates_near_midnight(ehr: httpx.Client) -> None:
    """Encounter date: the local day of the start decides."""
    bundle = fhir_json(ehr.get("/Encounter", params={"patient": "p1", "date": "ge2026-01-01"}))
    assert ids(bundle) == ["e2"]
    bundle = fhir_json(ehr.get("/Encounter", params={"patient": "p1", "date": "le2025-12-31"}))
    assert ids(bundle) == ["e1"]


# --- chained search and _revinclude -------------------------------------------------------


def test_chained_search_equals_patient_search(ehr: httpx.Client) -> None:
    """patient.identifier=urn:kz:iin|{iin} finds what patient=Patient/{id} finds."""
    chained = fhir_json(ehr.get("/Condition", params={"patient.identifier": f"{IIN}|900101300007"}))
    direct = fhir_json(ehr.get("/Condition", params={"patient": "Patient/p1"}))
    assert ids(chained) == ids(direct)
    assert chained["total"] == 4
    two = {"patient.identifier": f"{IIN}|900101300007,{IIN}|061211600012"}
    assert sorted(ids(fhir_json(ehr.get("/Condition", params=two)))) == [
        "c1",
        "c2",
        "c3",
        "c4",
        "c5",
    ]
    unknown = {"patient.identifier": f"{IIN}|000000000000"}
    assert fhir_json(ehr.get("/Condition", params=unknown))["total"] == 0


def test_revinclude_returns_the_patient_and_their_resources(ehr: httpx.Client) -> None:
    """One searchset: the patient (match) plus conditions and encounters (include)."""
    params = [
        ("identifier", f"{IIN}|900101300007"),
        ("_revinclude", "Condition:patient"),
        ("_revinclude", "Encounter:patient"),
    ]
    bundle = fhir_json(ehr.get("/Patient", params=params))
    assert bundle["total"] == 1
    assert ids(bundle) == ["p1"]
    included = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"][1:]}
    assert included == {
        ("Condition", "c1"),
        ("Condition", "c2"),
        ("Condition", "c3"),
        ("Condition", "c4"),
        ("Encounter", "e1"),
        ("Encounter", "e2"),
    }
    assert all(e["search"]["mode"] == "include" for e in bundle["entry"][1:])


def test_revinclude_pages_the_matches(ehr: httpx.Client) -> None:
    """Paged by patient: each page includes exactly its patients' conditions."""
    pages, _ = search_all(
        ehr, "/Patient", _id="p1,p2,p3", _revinclude="Condition:patient", _count=1
    )
    assert len(pages) == 3
    for page in pages:
        assert page["total"] == 3
        (patient,) = ids(page)
        included = ids(page, "include")
        assert sorted(included) == sorted(c[0] for c in CONDITIONS if c[1] == patient)


def test_revinclude_is_refused_where_it_cannot_be_served(
    ehr: httpx.Client, register: httpx.Client
) -> None:
    """Only on Patient, only clinical types, and only those the server holds."""
    outcome(
        ehr.get("/Condition", params={"patient": "p1", "_revinclude": "Encounter:patient"}), 400
    )
    outcome(ehr.get("/Patient", params={"_revinclude": "Condition:subject"}), 400)
    outcome(ehr.get("/Patient", params={"_revinclude": "Organization:patient"}), 400)
    outcome(register.get("/Patient", params={"_id": "p1", "_revinclude": "Condition:patient"}), 400)


# --- bad searches -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/Condition", {"colour": "red"}),
        ("/Condition", {"patient": ""}),
        ("/Condition", {"code:text": "diabetes"}),
        ("/Condition", {"clinical-status:below": "act"}),
        ("/Condition", {"date": "ge2020-01-01"}),
        ("/Condition", {"patient": "Group/p1"}),
        ("/Observation", {"date": "sa2026-01-01"}),
        ("/Observation", {"date": "ge2026-13-01"}),
        ("/Observation", {"date": "yesterday"}),
        ("/Observation", {"_count": "-1"}),
        ("/Observation", {"_count": "many"}),
        ("/Observation", {"_offset": "x"}),
        ("/Observation", {"_sort": "value"}),
        ("/Observation", {"_summary": "text"}),
        ("/Patient", {"organization:missing": "true"}),
        ("/Device", {"code": "14106009"}),
        ("/Encounter", {"reason-code:below": "E11"}),
    ],
)
def test_bad_searches_are_400(ehr: httpx.Client, path: str, params: dict) -> None:
    """Unknown parameters, modifiers, prefixes and malformed values: 400 OperationOutcome."""
    assert outcome(ehr.get(path, params=params), 400)["code"] == "invalid"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(
        ["patient", "code", "code:below", "date", "_count", "_sort", "category", "_id", "x"]
    ),
    value=st.text(max_size=30),
)
def test_arbitrary_values_never_break_the_server(ehr: httpx.Client, name: str, value: str) -> None:
    """Whatever the value, the answer is a searchset or a 400 OperationOutcome, never a 500."""
    response = ehr.get("/Observation", params={name: value})
    if response.status_code == 200:
        assert fhir_json(response)["type"] == "searchset"
    else:
        outcome(response, 400)


# --- batch --------------------------------------------------------------------------------


def _batch(*urls: str, method: str = "GET") -> dict:
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": method, "url": url}} for url in urls],
    }


def test_batch_answers_in_order_like_single_requests(ehr: httpx.Client) -> None:
    """Each entry's resource equals the single request's answer, in the same order."""
    urls = [
        "Condition?patient=Patient/p1",
        "Encounter?patient=Patient/p1&_sort=-date",
        "Patient/p2",
        "Observation?patient=p1&_count=2",
        "Condition?patient=Patient/p2",
    ]
    answer = fhir_json(ehr.post("", json=_batch(*urls)))
    assert answer["type"] == "batch-response"
    assert len(answer["entry"]) == len(urls)
    for url, entry in zip(urls, answer["entry"], strict=True):
        assert entry["response"]["status"] == "200 OK"
        assert entry["resource"] == fhir_json(ehr.get(f"/{url}"))


def test_batch_entries_fail_one_by_one(ehr: httpx.Client) -> None:
    """A missing resource is 404, a bad search 400; the other entries still answer."""
    urls = ["Condition/nope", "Condition?colour=red", "Condition?patient=p2"]
    answer = fhir_json(ehr.post("", json=_batch(*urls)))
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert statuses == ["404 Not Found", "400 Bad Request", "200 OK"]
    assert answer["entry"][0]["resource"]["resourceType"] == "OperationOutcome"
    assert answer["entry"][1]["resource"]["resourceType"] == "OperationOutcome"
    assert ids(answer["entry"][2]["resource"]) == ["c5"]


def test_batch_next_links_are_followable(ehr: httpx.Client) -> None:
    """A searchset inside a batch pages with absolute links like a direct search."""
    answer = fhir_json(ehr.post("", json=_batch("Observation?patient=p1&_count=40")))
    link = next_link(answer["entry"][0]["resource"])
    assert link is not None
    second = fhir_json(ehr.get(link))
    assert len(second["entry"]) == OBSERVATION_DAYS - 40


def test_batch_limits_and_shape(ehr: httpx.Client) -> None:
    """50 entries are fine, 51 are 400; non-GET entries, non-batch bundles and junk are refused."""
    fifty = fhir_json(ehr.post("", json=_batch(*["Patient/p1"] * 50)))
    assert len(fifty["entry"]) == 50
    outcome(ehr.post("", json=_batch(*["Patient/p1"] * 51)), 400)
    posted = fhir_json(ehr.post("", json=_batch("Condition", method="POST")))
    assert posted["entry"][0]["response"]["status"] == "400 Bad Request"
    outcome(ehr.post("", json={**_batch("Patient/p1"), "type": "transaction"}), 400)
    outcome(ehr.post("", json={"resourceType": "Patient"}), 400)
    outcome(ehr.post("", content=b"{not json"), 400)


# --- faults and request counting ----------------------------------------------------------


def test_faults(ehr: httpx.Client) -> None:
    """down: 503 at once; error_rate 1.0 with status 500: 500; latency delays the answer."""
    try:
        ehr.post("/__faults", json={"down": True}).raise_for_status()
        assert ehr.get("/Patient/p1").status_code == 503
        ehr.post("/__faults", json={"error_rate": 1.0, "status": 500}).raise_for_status()
        assert ehr.get("/Patient/p1").status_code == 500
        ehr.post("/__faults", json={"latency_ms": 1500}).raise_for_status()
        with pytest.raises(httpx.ReadTimeout):
            ehr.get("/Patient/p1", timeout=0.3)
    finally:
        ehr.delete("/__faults").raise_for_status()
    assert fhir_json(ehr.get("/Patient/p1"))["id"] == "p1"


def test_requests_are_counted(ehr: httpx.Client) -> None:
    """__requests counts what was served, refused ones included, and DELETE resets it."""
    ehr.delete("/__requests").raise_for_status()
    ehr.get("/Condition", params={"patient": "p1"})
    ehr.get("/Patient/p1")
    ehr.get("/Patient/p1", headers={"Authorization": "Bearer nope"})
    seen = ehr.get("/__requests").json()
    assert seen["count"] == 3
    assert [r["path"] for r in seen["recent"]] == [
        "/fhir/Condition",
        "/fhir/Patient/p1",
        "/fhir/Patient/p1",
    ]
    assert seen["recent"][0]["query"] == "patient=p1"
    assert ehr.delete("/__requests").json()["count"] == 0


# --- the generated population, against its ground truth -----------------------------------

REGIONS = ("astana", "almaty", "shymkent")
SAMPLE = 40  # people per check: enough to meet every edge case, fast enough for seconds


@pytest.fixture(scope="module")
def truth(request: pytest.FixtureRequest) -> dict:
    """The ground truth; skips while the population generator does not exist."""
    pytest.importorskip("emulators.population")
    return request.getfixturevalue("ground_truth")


@pytest.fixture(scope="module")
def population(request: pytest.FixtureRequest) -> Iterator[dict[str, httpx.Client]]:
    """Clients of the register and the three regional EHRs over the generated population."""
    pytest.importorskip("emulators.population")
    population_dir: Path = request.getfixturevalue("population_dir")
    clients: dict[str, httpx.Client] = {}
    with contextlib.ExitStack() as stack:
        for system in ("register", *(f"ehr-{r}" for r in REGIONS)):
            kind = "fhir-register" if system == "register" else "fhir-ehr"
            app = create_fhir_app(database_path(population_dir, system), kind, TOKEN)
            url = stack.enter_context(serve_app(app))
            clients[system] = stack.enter_context(
                httpx.Client(base_url=f"{url}/fhir", headers=AUTH, timeout=30)
            )
        yield clients


def sample(truth: dict, *, region: str | None = None) -> list[str]:
    """A deterministic sample of IINs: every edge case first, then others (in ``region``)."""
    people = truth["people"]
    edge = [iin for iins in truth["edgeCases"].values() for iin in iins]
    ordered = list(dict.fromkeys([*edge, *sorted(people)]))
    if region is not None:
        ordered = [iin for iin in ordered if region in people[iin]["ehrRegions"]]
    return ordered[:SAMPLE]


def ehr_search(client: httpx.Client, resource_type: str, iin: str, **params: str) -> list[dict]:
    """Every resource of ``resource_type`` for one person, by chained search, all pages."""
    _, matches = search_all(
        client, f"/{resource_type}", _count=500, **{"patient.identifier": f"{IIN}|{iin}"}, **params
    )
    return matches


def test_register_patients_match_the_truth(population: dict, truth: dict) -> None:
    """Every person is in the register once, with the identity and care team of the truth."""
    register = population["register"]
    people = truth["people"]
    count = fhir_json(register.get("/Patient", params={"_summary": "count"}))
    assert count["total"] == len(people)
    for iin in sample(truth):
        identity = people[iin]["identity"]
        bundle = fhir_json(register.get("/Patient", params={"identifier": f"{IIN}|{iin}"}))
        assert bundle["total"] == 1
        patient = bundle["entry"][0]["resource"]
        assert patient["birthDate"] == identity["birthDate"]
        assert patient["gender"] == identity["sex"].lower()
        assert patient["name"][0]["family"] == identity["familyName"]
        assert patient["address"][0]["state"] == identity["region"]
        org_ref = patient["managingOrganization"]["reference"]
        organization = fhir_json(register.get(f"/{org_ref}"))
        care = people[iin]["careTeam"]
        assert organization["identifier"][0]["value"] == care["attachedOrganization"]["bin"]
        gp_ref = patient["generalPractitioner"][0]["reference"]
        practitioner = fhir_json(register.get(f"/{gp_ref}"))
        assert practitioner["identifier"][0]["value"] == care["generalPractitioner"]["id"]


def test_register_organizations_and_practitioners(population: dict, truth: dict) -> None:
    """Organizations by BIN and practitioners by id resolve to the truth's FHIR ids."""
    register = population["register"]
    orgs = fhir_json(register.get("/Organization", params={"_summary": "count"}))
    assert orgs["total"] == len(truth["organizations"])
    for org in truth["organizations"][:SAMPLE]:
        bundle = fhir_json(
            register.get("/Organization", params={"identifier": f"urn:kz:bin|{org['bin']}"})
        )
        assert ids(bundle) == [org["fhirId"]]
        assert bundle["entry"][0]["resource"]["name"] == org["name"]
    for practitioner in truth["practitioners"][:SAMPLE]:
        value = f"urn:kz:practitioner|{practitioner['id']}"
        bundle = fhir_json(register.get("/Practitioner", params={"identifier": value}))
        assert ids(bundle) == [practitioner["fhirId"]]
    attached = truth["organizations"][0]
    expected = sum(
        1
        for person in truth["people"].values()
        if person["careTeam"]["attachedOrganization"]["bin"] == attached["bin"]
    )
    org_search = {"organization": f"Organization/{attached['fhirId']}", "_summary": "count"}
    assert fhir_json(register.get("/Patient", params=org_search))["total"] == expected


def test_register_patient_filters(population: dict, truth: dict) -> None:
    """gender, address-state and birthdate ranges count what the truth counts."""
    register = population["register"]
    people = truth["people"].values()

    def total(**params: str) -> int:
        return fhir_json(register.get("/Patient", params={**params, "_summary": "count"}))["total"]

    assert total(gender="female") == sum(p["identity"]["sex"] == "FEMALE" for p in people)
    assert total(**{"address-state": "almaty"}) == sum(
        p["identity"]["region"] == "almaty" for p in people
    )
    born = [p["identity"]["birthDate"] for p in people]
    params = [("birthdate", "ge1980-01-01"), ("birthdate", "le1999-12-31"), ("_summary", "count")]
    expected = sum("1980-01-01" <= b <= "1999-12-31" for b in born)
    assert fhir_json(register.get("/Patient", params=params))["total"] == expected


def test_ehr_patient_copies(population: dict, truth: dict) -> None:
    """Each EHR holds exactly the people whose truth names its region."""
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        expected = sum(region in p["ehrRegions"] for p in truth["people"].values())
        assert fhir_json(ehr.get("/Patient", params={"_summary": "count"}))["total"] == expected
    for iin in sample(truth):
        for region in REGIONS:
            bundle = fhir_json(
                population[f"ehr-{region}"].get("/Patient", params={"identifier": f"{IIN}|{iin}"})
            )
            assert bundle["total"] == (region in truth["people"][iin]["ehrRegions"])


def _in_region(items: list[dict], region: str) -> list[dict]:
    return [item for item in items if item["region"] == region]


def test_clinical_counts_match_the_truth(population: dict, truth: dict) -> None:
    """Per person and region: problems, immunizations, allergies, studies, screenings."""
    checked = 0
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin in sample(truth, region=region):
            person = truth["people"][iin]
            problems = ehr_search(ehr, "Condition", iin, category="problem-list-item")
            assert len(problems) == len(_in_region(person["problems"], region))
            immunizations = ehr_search(ehr, "Immunization", iin)
            assert len(immunizations) == len(_in_region(person["immunizations"], region))
            allergies = ehr_search(ehr, "AllergyIntolerance", iin)
            assert len(allergies) == len(_in_region(person["allergies"], region))
            studies = ehr_search(ehr, "DiagnosticReport", iin)
            assert len(studies) == len(_in_region(person["diagnosticStudies"], region))
            screenings = ehr_search(ehr, "Procedure", iin, category="screening")
            assert len(screenings) == len(_in_region(person["screenings"], region))
            active = ehr_search(ehr, "MedicationStatement", iin, status="active")
            medications = _in_region(person["ehrMedications"], region)
            assert len(active) == sum(m["status"] == "active" for m in medications)
            checked += 1
    assert checked >= SAMPLE  # the sample really reached the EHRs


ENCOUNTER_CLASSES = {"OUTPATIENT": "AMB", "INPATIENT": "IMP", "EMERGENCY": "EMER"}


def test_encounter_classes_count_what_the_truth_counts(population: dict, truth: dict) -> None:
    """Encounter?class=... over a whole region equals the truth's EHR encounters of that kind."""
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for kind, code in ENCOUNTER_CLASSES.items():
            expected = sum(
                e["kind"] == kind and e["region"] == region
                for person in truth["people"].values()
                for e in person["encounters"]
            )
            params = {"class": f"{ACT_CODE}|{code}", "_summary": "count"}
            assert fhir_json(ehr.get("/Encounter", params=params))["total"] == expected


def test_devices_are_the_truths_implants(population: dict, truth: dict) -> None:
    """Across the EHRs, a person's Devices are the implants of the truth."""
    implanted = truth["edgeCases"]["implant"]
    assert implanted
    for iin in implanted:
        found = [
            device["type"]["coding"][0]["code"]
            for region in REGIONS
            for device in ehr_search(population[f"ehr-{region}"], "Device", iin)
        ]
        assert sorted(found) == sorted(c["code"] for c in truth["people"][iin]["implants"])


def test_code_below_finds_exactly_the_e11_problems(population: dict, truth: dict) -> None:
    """code:below=icd-10|E11 finds E11 and E11.x problems, and no other."""
    found_any = False
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin, person in truth["people"].items():
            expected = sorted(
                p["code"]["code"]
                for p in _in_region(person["problems"], region)
                if p["code"]["code"] == "E11" or p["code"]["code"].startswith("E11.")
            )
            if not expected:
                continue
            found_any = True
            below = {"code:below": f"{ICD10}|E11", "category": "problem-list-item"}
            found = ehr_search(ehr, "Condition", iin, **below)
            assert sorted(c["code"]["coding"][0]["code"] for c in found) == expected
    assert found_any, "the population should hold some type 2 diabetes"


def test_chained_search_equals_patient_search_in_the_population(
    population: dict, truth: dict
) -> None:
    """Chained search and search by the local patient id give the same resources."""
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin in sample(truth, region=region)[:10]:
            patient = fhir_json(ehr.get("/Patient", params={"identifier": f"{IIN}|{iin}"}))
            local_id = patient["entry"][0]["resource"]["id"]
            for resource_type in ("Condition", "Observation", "Encounter"):
                chained = ehr_search(ehr, resource_type, iin)
                direct = search_all(ehr, f"/{resource_type}", patient=f"Patient/{local_id}")[1]
                assert chained == direct


def test_revinclude_fetches_a_whole_record(population: dict, truth: dict) -> None:
    """One Patient search with _revinclude returns what the separate searches return."""
    types = ("Condition", "Observation", "Immunization", "MedicationStatement", "Device")
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin in sample(truth, region=region)[:8]:
            params = [("identifier", f"{IIN}|{iin}")]
            params += [("_revinclude", f"{t}:patient") for t in types]
            bundle = fhir_json(ehr.get("/Patient", params=params))
            assert bundle["total"] == 1
            included = sorted(
                (e["resource"]["resourceType"], e["resource"]["id"])
                for e in bundle["entry"]
                if e["search"]["mode"] == "include"
            )
            separate = sorted((t, r["id"]) for t in types for r in ehr_search(ehr, t, iin))
            assert included == separate


def test_batch_equals_single_searches(population: dict, truth: dict) -> None:
    """A batch of a person's searches answers, in order, what each search answers alone."""
    region = "almaty"
    ehr = population[f"ehr-{region}"]
    iins = sample(truth, region=region)[:6]
    urls = [
        f"{t}?patient.identifier={IIN}|{iin}&_count=500"
        for iin in iins
        for t in ("Condition", "AllergyIntolerance", "Encounter")
    ]
    answer = fhir_json(ehr.post("", json=_batch(*urls)))
    for url, entry in zip(urls, answer["entry"], strict=True):
        assert entry["response"]["status"] == "200 OK"
        assert entry["resource"] == fhir_json(ehr.get(f"/{url}"))


def test_immunization_date_range_matches_the_truth(population: dict, truth: dict) -> None:
    """date=ge&date=le finds the immunizations the truth dates in that range."""
    low, high = "2015-01-01", "2022-12-31"
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin in sample(truth, region=region)[:15]:
            person = truth["people"][iin]
            expected = sorted(
                i["date"]
                for i in _in_region(person["immunizations"], region)
                if low <= i["date"] <= high
            )
            params = [
                ("patient.identifier", f"{IIN}|{iin}"),
                ("date", f"ge{low}"),
                ("date", f"le{high}"),
                ("_count", "500"),
            ]
            found = fhir_json(ehr.get("/Immunization", params=params)).get("entry", [])
            dates = sorted(e["resource"]["occurrenceDateTime"][:10] for e in found)
            assert dates == expected


def test_latest_observation_by_sort(population: dict, truth: dict) -> None:
    """_sort=-date&_count=1 gives the latest weight, the one the truth's anthropometrics hold."""
    checked = 0
    for iin, person in truth["people"].items():
        if len(person["ehrRegions"]) != 1 or not person["anthropometrics"]:
            continue
        ehr = population[f"ehr-{person['ehrRegions'][0]}"]
        params = {
            "patient.identifier": f"{IIN}|{iin}",
            "code": f"{LOINC}|29463-7",
            "_sort": "-date",
            "_count": "1",
        }
        bundle = fhir_json(ehr.get("/Observation", params=params))
        latest = bundle["entry"][0]["resource"]
        assert latest["valueQuantity"]["value"] == person["anthropometrics"]["weightKg"]
        checked += 1
        if checked == SAMPLE:
            break
    assert checked


def test_every_resource_of_sampled_people_validates(population: dict, truth: dict) -> None:
    """Every resource type, for a sample of people, validates with the R4B models."""
    for region in REGIONS:
        ehr = population[f"ehr-{region}"]
        for iin in sample(truth, region=region)[:12]:
            for resource_type in (
                "Condition",
                "AllergyIntolerance",
                "Observation",
                "MedicationStatement",
                "Immunization",
                "Procedure",
                "DiagnosticReport",
                "Encounter",
                "Device",
            ):
                for resource in ehr_search(ehr, resource_type, iin):  # validates the pages
                    assert resource["resourceType"] == resource_type


# --- parents and guardians (RelatedPerson) and emergency contacts ---------------------------


def guardians_in_truth(truth: dict) -> list[tuple[str, dict]]:
    """(child IIN, guardian entry) for every RelatedPerson the truth knows."""
    return [(iin, g) for iin, p in truth["people"].items() for g in p["guardians"]]


def related_key(resource: dict) -> tuple:
    """What the truth says of one RelatedPerson resource."""
    period = resource["period"]
    return (
        resource["identifier"][0]["value"],
        resource["relationship"][0]["coding"][0]["code"],
        resource["active"],
        period["start"],
        period.get("end"),
    )


def truth_key(entry: dict) -> tuple:
    """The same tuple from a ground-truth guardian entry."""
    return (
        entry["iin"],
        entry["relationship"],
        entry["active"],
        entry["periodStart"],
        entry["periodEnd"],
    )


def family_sample(truth: dict) -> list[str]:
    """Children of every family edge case, then other children with guardians."""
    cases = truth["edgeCases"]
    edge = [*cases["twins"], *cases["legalGuardian"], *cases["guardianEnded"]]
    edge += cases["childTurned18"]
    others = sorted(iin for iin, p in truth["people"].items() if p["guardians"])
    return list(dict.fromkeys([*edge, *others]))[:SAMPLE]


def test_related_persons_of_a_child_are_the_truths_guardians(population: dict, truth: dict) -> None:
    """By chained search and by patient reference: exactly the guardians the truth lists."""
    register = population["register"]
    people = truth["people"]
    for iin in family_sample(truth):
        chained = search_all(register, "/RelatedPerson", **{"patient.identifier": f"{IIN}|{iin}"})
        found = sorted(related_key(r) for r in chained[1])
        assert found == sorted(truth_key(g) for g in people[iin]["guardians"])
        patient = fhir_json(register.get("/Patient", params={"identifier": f"{IIN}|{iin}"}))
        pid = patient["entry"][0]["resource"]["id"]
        direct = search_all(register, "/RelatedPerson", patient=f"Patient/{pid}")[1]
        assert direct == chained[1]
        for resource in direct:
            assert resource["patient"]["reference"] == f"Patient/{pid}"
            assert fhir_json(register.get(f"/RelatedPerson/{resource['id']}")) == resource


def test_related_persons_of_an_adult_by_identifier_and_active(
    population: dict, truth: dict
) -> None:
    """identifier = the adult's IIN; active=true keeps only the active records."""
    register = population["register"]
    by_adult: dict[str, list[tuple[str, dict]]] = {}
    for child, entry in guardians_in_truth(truth):
        by_adult.setdefault(entry["iin"], []).append((child, entry))
    adults = sorted(by_adult)[:SAMPLE]
    patients = {
        r["id"]: r["identifier"][0]["value"]
        for r in search_all(register, "/Patient", _count=500)[1]
    }
    for adult in adults:
        found = search_all(register, "/RelatedPerson", identifier=f"{IIN}|{adult}")[1]
        children = sorted(patients[r["patient"]["reference"].split("/")[1]] for r in found)
        assert children == sorted(child for child, _ in by_adult[adult])
        active = search_all(register, "/RelatedPerson", identifier=f"{IIN}|{adult}", active="true")[
            1
        ]
        assert len(active) == sum(1 for _, e in by_adult[adult] if e["active"])
        assert all(r["active"] is True for r in active)


def test_patient_search_reverse_includes_related_persons(population: dict, truth: dict) -> None:
    """Patient?identifier=...&_revinclude=RelatedPerson:patient: the child and its guardians."""
    register = population["register"]
    for iin in family_sample(truth)[:10]:
        bundle = fhir_json(
            register.get(
                "/Patient",
                params={"identifier": f"{IIN}|{iin}", "_revinclude": "RelatedPerson:patient"},
            )
        )
        assert bundle["total"] == 1
        included = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
        assert sorted(related_key(r) for r in included) == sorted(
            truth_key(g) for g in truth["people"][iin]["guardians"]
        )


def test_related_person_searches_in_a_batch(population: dict, truth: dict) -> None:
    """A batch of RelatedPerson searches answers what each search answers alone."""
    register = population["register"]
    urls = [f"RelatedPerson?patient.identifier={IIN}|{iin}" for iin in family_sample(truth)[:5]]
    answer = fhir_json(register.post("", json=_batch(*urls)))
    for url, entry in zip(urls, answer["entry"], strict=True):
        assert entry["response"]["status"] == "200 OK"
        assert entry["resource"] == fhir_json(register.get(f"/{url}"))


def test_related_person_is_only_in_the_register_and_searches_are_strict(
    population: dict,
) -> None:
    """The EHR holds none (404); an unknown parameter or sort is 400, never ignored."""
    outcome(population["ehr-almaty"].get("/RelatedPerson", params={"patient": "x"}), 404)
    register = population["register"]
    outcome(register.get("/RelatedPerson", params={"name": "Ахметова"}), 400)
    outcome(register.get("/RelatedPerson", params={"_sort": "-date"}), 400)
    outcome(register.get("/RelatedPerson", params={"patient": "Organization/org-1"}), 400)


def test_patient_contacts_are_the_truths_emergency_contacts(population: dict, truth: dict) -> None:
    """Patient.contact: v2-0131 C or N, the register's word, name and phones, as the truth says."""
    register = population["register"]
    people = truth["people"]
    with_contacts = [iin for iin in sorted(people) if people[iin]["contacts"]]
    for iin in [*family_sample(truth)[:10], *with_contacts[:SAMPLE]]:
        bundle = fhir_json(register.get("/Patient", params={"identifier": f"{IIN}|{iin}"}))
        patient = bundle["entry"][0]["resource"]
        shown = []
        for contact in patient.get("contact", []):
            relationship = contact["relationship"][0]
            coding = relationship["coding"][0]
            assert coding["system"] == "http://terminology.hl7.org/CodeSystem/v2-0131"
            assert coding["code"] in ("C", "N")
            phones = [t["value"] for t in contact.get("telecom", []) if t["system"] == "phone"]
            word = relationship.get("text") or coding["display"]
            shown.append({"name": contact["name"]["text"], "relationship": word, "phones": phones})
        assert shown == people[iin]["contacts"]
