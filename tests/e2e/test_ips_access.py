"""The IPS face under ACCESS.md's rules, its audit, its errors, and sources that fail.

What each role may read is written here from ACCESS.md's table, not taken from the gateway's
policy; who cares for whom comes from the ground truth.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.e2e import ips_rules as ips
from tests.e2e.conftest import Gateway, Stack, described, random_subject
from tests.e2e.test_access_matrix import RESTRICT, unknown_valid_iin
from tests.e2e.test_audit_trail import ACCESS_LOG, _stranger, disclosures, sqlite_url

# ACCESS.md: the sections a nurse may read, among those the summary shows.
NURSE_READS = {
    "IDENTITY",
    "CARE_TEAM",
    "EMERGENCY",
    "ALLERGIES",
    "LIFESTYLE",
    "PHYSIOLOGICAL_STATE",
    "IMMUNIZATIONS",
    "SCREENINGS",
    "PROBLEMS",
    "MEDICATIONS",
    "ANTHROPOMETRICS",
}
# ...and the three more a doctor and the patient read.
ALL_READS = NURSE_READS | {"LAB_RESULTS", "DIAGNOSTIC_STUDIES", "RISK_BEHAVIOURS"}
LABORATORY = "laboratory"


def get_summary(
    base: str, client: httpx.Client, iin: str, token: str | None, **headers: str | bytes
) -> httpx.Response:
    """GET the ``$summary`` of ``iin`` with a bearer token and extra headers."""
    sent: dict[str, str | bytes] = {"Authorization": f"Bearer {token}"} if token else {}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    return client.get(f"{base}/fhir/Patient/{iin}/$summary", headers=sent)


def summary(stack: Stack, iin: str, token: str | None, **headers: str | bytes) -> httpx.Response:
    """GET from the session gateway."""
    return get_summary(stack.gateway.url, stack.client, iin, token, **headers)


def rich_people(truth: dict[str, Any]) -> list[str]:
    """People whose summary has every part: labs, studies, vaccines, problems, behaviours."""
    return [
        iin
        for iin, p in sorted(truth["people"].items())
        if p["ehrRegions"]
        and p["inLis"]
        and p["labResults"]
        and p["diagnosticStudies"]
        and p["immunizations"]
        and any(x["status"] != "RESOLVED" for x in p["problems"])
        and p["riskBehaviours"]
        and p["lifestyle"]
    ]


def left_out(bundle: dict[str, Any]) -> set[tuple[str | None, str | None, str | None]]:
    """(IPS section code, passport section, ACCESS.md code) of each part the Bundle leaves out."""
    return {
        (
            ips.named(issue, "loinc.org"),
            ips.named(issue, "passport-section"),
            ips.named(issue, "error-code"),
        )
        for issue in ips.issues(bundle)
    }


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an OperationOutcome answer with this status and ACCESS.md code; return it."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    [issue] = body["issue"]
    assert issue["severity"] == "error"
    assert ips.named(issue, "error-code") == code
    return body


def access_events(stack: Stack, iin: str, subject: str) -> list[dict[str, Any]]:
    """The patient's accessLog events of one reader (token subject)."""
    token = stack.token("patient", iin=iin, subject=random_subject())
    log = stack.graphql(ACCESS_LOG, {"iin": iin}, token).json()
    assert "errors" not in log, log.get("errors")
    return [e for e in log["data"]["passport"]["accessLog"] if e["subject"] == subject]


def _lab_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        r
        for r in ips.of_type(bundle, "Observation")
        if any(c["coding"][0]["code"] == LABORATORY for c in r.get("category", []))
    ]


# --- roles ---------------------------------------------------------------------------------------


def test_a_nurse_gets_no_results_and_is_told_so(stack: Stack) -> None:
    truth = stack.ground_truth
    iin = rich_people(truth)[0]
    subject = random_subject()
    token = _attached_staff(stack, iin, "nurse", subject)
    response = summary(stack, iin, token)
    assert response.status_code == 200
    bundle = response.json()
    assert ips.problems_of(bundle) == []
    assert ips.section(bundle, ips.RESULTS) is None
    assert _lab_resources(bundle) == [] and ips.of_type(bundle, "DiagnosticReport") == []
    assert left_out(bundle) == {
        (ips.RESULTS, "LAB_RESULTS", "FORBIDDEN"),
        (ips.RESULTS, "DIAGNOSTIC_STUDIES", "FORBIDDEN"),
        (ips.SOCIAL_HISTORY, "RISK_BEHAVIOURS", "FORBIDDEN"),
    }
    # Social history shows the lifestyle the nurse may read, and nothing of the behaviours.
    social = ips.section_resources(bundle, ips.SOCIAL_HISTORY)
    codes = {r["code"]["coding"][0]["code"] for r in social}
    assert codes and not codes & {"72166-2", "75626-2", "11343-1"}
    for result in truth["people"][iin]["labResults"]:
        assert result["orderNumber"] not in response.text
    # What was read is in the patient's access log, exactly the nurse's sections.
    [event] = access_events(stack, iin, subject)
    assert (event["role"], set(event["sections"]), event["breakGlass"]) == (
        "NURSE",
        NURSE_READS,
        False,
    )


def test_no_source_is_asked_for_what_a_nurse_may_not_read(stack: Stack) -> None:
    truth = stack.ground_truth
    iin = rich_people(truth)[0]
    region = truth["people"][iin]["ehrRegions"][0]
    with stack.fresh_gateway() as gateway:  # a cold cache: every load is a request
        stack.reset_requests()
        token = _attached_staff(stack, iin, "nurse", random_subject())
        assert get_summary(gateway.url, stack.client, iin, token).status_code == 200
        asked = [described(r) for r in stack.emulator_requests(f"ehr-{region}")["recent"]]
        assert stack.emulator_requests("lis")["count"] == 0
    assert any(iin in call for call in asked)
    # No diagnostic reports, and none of the risk behaviours' observation codes.
    assert not [call for call in asked if "DiagnosticReport" in call or "72166-2" in call]


def _attached_staff(stack: Stack, iin: str, role: str, subject: str) -> str:
    """A token of a nurse or doctor of the patient's own polyclinic (a care relationship)."""
    truth = stack.ground_truth
    org = truth["people"][iin]["careTeam"]["attachedOrganization"]["bin"]
    staff = sorted((p for p in truth["practitioners"] if p["orgBin"] == org), key=lambda p: p["id"])
    return stack.token(role, subject=subject, org_bin=org, practitioner_id=staff[0]["id"])


@pytest.fixture
def restricted(stack: Stack) -> Iterator[str]:
    """A patient who restricted IMMUNIZATIONS and PROBLEMS (lifted afterwards)."""
    iin = rich_people(stack.ground_truth)[1]
    token = stack.token("patient", iin=iin, subject=random_subject())
    try:
        for section in ("IMMUNIZATIONS", "PROBLEMS"):
            answer = stack.graphql(RESTRICT, {"section": section, "on": True}, token).json()
            assert "errors" not in answer, answer
        yield iin
    finally:
        for section in ("IMMUNIZATIONS", "PROBLEMS"):
            stack.graphql(RESTRICT, {"section": section, "on": False}, token)


def test_restricted_sections_are_absent_for_a_doctor_until_break_glass(
    stack: Stack, restricted: str
) -> None:
    truth = stack.ground_truth
    iin = restricted
    person = truth["people"][iin]
    subject = random_subject()
    token = _attached_staff(stack, iin, "doctor", subject)

    bundle = summary(stack, iin, token).json()
    assert ips.problems_of(bundle) == []
    assert ips.section(bundle, ips.IMMUNIZATIONS) is None
    assert ips.of_type(bundle, "Immunization") == [] and ips.of_type(bundle, "Condition") == []
    # The guide requires the problem list: it stays, empty, saying the content is withheld.
    problems = ips.section(bundle, ips.PROBLEMS)
    assert problems is not None and "entry" not in problems
    assert problems["emptyReason"]["coding"][0]["code"] == "withheld"
    assert left_out(bundle) == {
        (ips.IMMUNIZATIONS, "IMMUNIZATIONS", "RESTRICTED_BY_PATIENT"),
        (ips.PROBLEMS, "PROBLEMS", "RESTRICTED_BY_PATIENT"),
        (ips.PAST_PROBLEMS, "PROBLEMS", "RESTRICTED_BY_PATIENT"),
    }
    # A doctor reads results; the restriction does not touch them.
    assert len(_lab_resources(bundle)) == len(person["labResults"])

    reason = "Пациент без сознания, нужна история прививок"
    glass = summary(stack, iin, token, X_Break_Glass_Reason=quote(reason)).json()
    assert ips.problems_of(glass) == []
    assert left_out(glass) == set()
    assert len(ips.section_resources(glass, ips.IMMUNIZATIONS)) == len(person["immunizations"])
    assert ips.section_resources(glass, ips.PROBLEMS)

    events = access_events(stack, iin, subject)
    assert [(e["breakGlass"], e["reason"]) for e in events] == [(True, reason), (False, None)]
    assert set(events[0]["sections"]) == ALL_READS
    assert set(events[1]["sections"]) == ALL_READS - {"IMMUNIZATIONS", "PROBLEMS"}


def test_without_a_care_relationship_only_break_glass_opens(stack: Stack) -> None:
    truth = stack.ground_truth
    iin = rich_people(truth)[2]
    stranger = _stranger(truth, iin)
    subject = random_subject()
    token = stack.token(
        "doctor", subject=subject, org_bin=stranger["orgBin"], practitioner_id=stranger["id"]
    )
    name = truth["people"][iin]["identity"]["fullName"]

    body = refused(summary(stack, iin, token), 403, "FORBIDDEN")
    assert name not in json.dumps(body, ensure_ascii=False)
    refused(summary(stack, iin, token, X_Break_Glass_Reason="too short"), 400, "BAD_USER_INPUT")
    refused(
        summary(stack, iin, token, X_Break_Glass_Reason=b"\xff\xfe bad bytes"),
        400,
        "BAD_USER_INPUT",
    )
    # Every attempt is audited (ACCESS.md): the refusal for want of a relationship and the
    # too-short reason are in the patient's log, with nothing disclosed; the unreadable
    # header never became a read.
    refusals = access_events(stack, iin, subject)
    assert [(e["outcome"], e["basis"], e["sections"]) for e in reversed(refusals)] == [
        ("REFUSED", "CARE_RELATIONSHIP", []),
        ("REFUSED", "BREAK_GLASS", []),
    ]

    # Raw UTF-8 in the header is read as UTF-8, as percent-encoded UTF-8 is.
    reason = "Доставлен без сознания, ДТП на трассе"
    opened = summary(stack, iin, token, X_Break_Glass_Reason=reason.encode())
    assert opened.status_code == 200
    assert ips.problems_of(opened.json()) == []
    event = access_events(stack, iin, subject)[0]  # newest first
    assert (event["reason"], event["breakGlass"], event["role"]) == (reason, True, "DOCTOR")
    assert (event["outcome"], event["basis"]) == ("DISCLOSED", "BREAK_GLASS")


@pytest.mark.parametrize("role", ["emergency", "manager"])
def test_roles_without_passport_access_are_refused(stack: Stack, role: str) -> None:
    iin = rich_people(stack.ground_truth)[0]
    token = stack.token(role, org_bin=stack.ground_truth["organizations"][0]["bin"])
    body = refused(
        summary(stack, iin, token, X_Break_Glass_Reason="crew on scene, patient down"),
        403,
        "FORBIDDEN",
    )
    assert stack.ground_truth["people"][iin]["identity"]["fullName"] not in json.dumps(
        body, ensure_ascii=False
    )


def test_a_patient_reads_only_their_own(stack: Stack) -> None:
    first, second = rich_people(stack.ground_truth)[:2]
    refused(summary(stack, second, stack.token("patient", iin=first)), 403, "FORBIDDEN")


# --- bad requests -----------------------------------------------------------------------------


def test_bad_requests_are_operation_outcomes(stack: Stack) -> None:
    truth = stack.ground_truth
    iin = rich_people(truth)[0]
    own = stack.token("patient", iin=iin)
    response = refused(summary(stack, iin, None), 401, "UNAUTHENTICATED")
    assert response["issue"][0]["code"] == "login"
    unauthenticated = summary(stack, iin, "not.a.token")
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    refused(unauthenticated, 401, "UNAUTHENTICATED")
    wrong_digit = iin[:11] + str((int(iin[11]) + 1) % 10)
    refused(summary(stack, wrong_digit, own), 400, "BAD_USER_INPUT")
    refused(summary(stack, "12345", own), 400, "BAD_USER_INPUT")
    base = f"{stack.gateway.url}/fhir/Patient/$summary"
    for params in ({}, {"identifier": iin}, {"identifier": f"urn:kz:bin|{iin}"}):
        answer = stack.client.get(base, params=params, headers={"Authorization": f"Bearer {own}"})
        refused(answer, 400, "BAD_USER_INPUT")
    unknown = unknown_valid_iin(truth)
    refused(summary(stack, unknown, stack.token("patient", iin=unknown)), 404, "NOT_FOUND")
    refused(summary(stack, iin, own, Accept="application/fhir+xml"), 406, "NOT_ACCEPTABLE")
    # A Kazakh reader gets Kazakh; a language not offered gets the configured one, told so.
    kazakh = summary(stack, iin, own, Accept_Language="kk, ru;q=0.8")
    assert kazakh.status_code == 200 and kazakh.headers["content-language"] == "kk"
    german = summary(stack, iin, own, Accept_Language="de-DE")
    default = stack.gateway.settings.app.default_language
    assert german.status_code == 200 and german.headers["content-language"] == default


# --- audit ------------------------------------------------------------------------------------


@pytest.fixture
def own_audit(stack: Stack, tmp_path: Path) -> Iterator[tuple[Gateway, Path]]:
    """A gateway with an audit file of its own."""
    database = tmp_path / "audit.db"
    with stack.fresh_gateway(audit={"database_url": sqlite_url(database)}) as gateway:
        yield gateway, database


def test_each_read_is_one_audit_event(stack: Stack, own_audit: tuple[Gateway, Path]) -> None:
    gateway, database = own_audit
    people = rich_people(stack.ground_truth)[:3]
    for iin in people:
        response = get_summary(gateway.url, stack.client, iin, stack.token("patient", iin=iin))
        assert response.status_code == 200
    events = disclosures(database)
    assert len(events) == 3
    assert [set(json.loads(e["sections"])) for e in events] == [ALL_READS] * 3
    assert len({e["patient_key"] for e in events}) == 3
    assert all(e["role"] == "PATIENT" and not e["break_glass"] for e in events)


def test_no_bundle_leaves_without_its_event(stack: Stack, own_audit: tuple[Gateway, Path]) -> None:
    gateway, database = own_audit
    iin = rich_people(stack.ground_truth)[0]
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TRIGGER audit_events_disk_full BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )
    conn.close()
    response = get_summary(gateway.url, stack.client, iin, stack.token("patient", iin=iin))
    body = refused(response, 500, "INTERNAL")
    assert body["issue"][0]["details"]["text"] == "internal error"
    assert stack.ground_truth["people"][iin]["identity"]["fullName"] not in response.text
    assert disclosures(database) == []


# --- sources that fail ------------------------------------------------------------------------


def test_the_laboratory_down_leaves_lab_results_out(clean_faults: Stack) -> None:
    stack = clean_faults
    iin = rich_people(stack.ground_truth)[3]
    person = stack.ground_truth["people"][iin]
    stack.fault("lis", down=True)
    with stack.fresh_gateway() as gateway:
        response = get_summary(gateway.url, stack.client, iin, stack.token("patient", iin=iin))
    bundle = response.json()
    assert response.status_code == 200 and ips.problems_of(bundle) == []
    assert left_out(bundle) == {(ips.RESULTS, "LAB_RESULTS", "SOURCE_UNAVAILABLE")}
    [issue] = ips.issues(bundle)
    assert (issue["severity"], issue["code"]) == ("warning", "incomplete")
    # The studies come from the EHR and are still shown; no laboratory value is.
    results = ips.section_resources(bundle, ips.RESULTS)
    assert {r["resourceType"] for r in results} == {"DiagnosticReport"}
    assert len(results) == len(person["diagnosticStudies"])
    assert "could not be read" in ips.section(bundle, ips.RESULTS)["text"]["div"]


def test_the_record_down_never_looks_like_none(clean_faults: Stack) -> None:
    stack = clean_faults
    truth = stack.ground_truth
    iin = next(i for i in rich_people(truth) if len(truth["people"][i]["ehrRegions"]) == 1)
    region = truth["people"][iin]["ehrRegions"][0]
    stack.fault(f"ehr-{region}", down=True)
    with stack.fresh_gateway() as gateway:
        response = get_summary(gateway.url, stack.client, iin, stack.token("patient", iin=iin))
    bundle = response.json()
    assert response.status_code == 200 and ips.problems_of(bundle) == []
    for code in ips.REQUIRED:
        section = ips.section(bundle, code)
        assert section is not None and "entry" not in section
        assert section["emptyReason"]["coding"][0]["code"] == "unavailable"
        assert "recorded" not in section["text"]["div"]  # not "none recorded"
    present = {s["code"]["coding"][0]["code"] for s in ips.composition(bundle)["section"]}
    # Only the laboratory's results remain beside the required sections.
    assert present == {*ips.REQUIRED, ips.RESULTS}
    assert {r["resourceType"] for r in ips.section_resources(bundle, ips.RESULTS)} == {
        "Observation"
    }
    unavailable = {(part, code) for _, part, code in left_out(bundle)}
    ehr_parts = ALL_READS - {"IDENTITY", "CARE_TEAM", "LAB_RESULTS"}
    assert unavailable == {(part, "SOURCE_UNAVAILABLE") for part in ehr_parts}


def test_the_register_down_leaves_the_iin_alone(clean_faults: Stack) -> None:
    stack = clean_faults
    iin = rich_people(stack.ground_truth)[4]
    stack.fault("register", down=True)
    with stack.fresh_gateway() as gateway:
        response = get_summary(gateway.url, stack.client, iin, stack.token("patient", iin=iin))
    bundle = response.json()
    assert response.status_code == 200 and ips.problems_of(bundle) == []
    [patient] = ips.of_type(bundle, "Patient")
    assert patient["identifier"] == [{"system": "urn:kz:iin", "value": iin}]
    assert "text" not in patient["name"][0] and "birthDate" not in patient
    # The screening plan needs the register's age and sex; the screenings done do not.
    assert left_out(bundle) == {
        (None, "IDENTITY", "SOURCE_UNAVAILABLE"),
        (None, "CARE_TEAM", "SOURCE_UNAVAILABLE"),
        (ips.PLAN_OF_CARE, "SCREENINGS", "SOURCE_UNAVAILABLE"),
    }
    assert ips.section_resources(bundle, ips.IMMUNIZATIONS)
