"""What the gateway asks of each source system, read from the emulators' own counters."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from tests.e2e.conftest import Stack
from tests.e2e.test_passport import FULL_PASSPORT

ALLERGIES_ONLY = """
query($iin: IIN!) { passport(iin: $iin) { allergies { substance { code } criticality } } }
"""
EHRS = ("ehr-astana", "ehr-almaty", "ehr-shymkent")


def _two_patients_of_one_gp(truth: dict[str, Any]) -> tuple[str, str]:
    """Two people with EHR and lab records who share a polyclinic and a GP."""
    by_gp: dict[tuple[str, str], list[str]] = {}
    for iin, person in sorted(truth["people"].items()):
        if not person["ehrRegions"] or not person["inLis"]:
            continue
        care = person["careTeam"]
        key = (care["attachedOrganization"]["bin"], care["generalPractitioner"]["id"])
        by_gp.setdefault(key, []).append(iin)
    first, second = next(iins for iins in by_gp.values() if len(iins) >= 2)[:2]
    return first, second


# Reference data the gateway loads in the background (the register's directory) and the
# OAuth token endpoint are not reads of a person's record.
_NOT_PERSON_DATA = ("/oauth/token", "/Organization", "/Practitioner")


def _api_requests(stack: Stack, name: str) -> list[dict[str, str]]:
    """Requests an emulator served for a person's record."""
    recent = stack.emulator_requests(name)["recent"]
    return [r for r in recent if not r["path"].endswith(_NOT_PERSON_DATA)]


def test_full_passport_asks_each_source_once(stack: Stack) -> None:
    first, second = _two_patients_of_one_gp(stack.ground_truth)
    with stack.fresh_gateway() as gateway:
        # The first read also learns the polyclinic's and GP's names (register reference data).
        warm = gateway.graphql(FULL_PASSPORT, {"iin": first}, stack.token("patient", iin=first))
        assert "errors" not in warm.json()
        stack.reset_requests()
        answer = gateway.graphql(FULL_PASSPORT, {"iin": second}, stack.token("patient", iin=second))
        assert "errors" not in answer.json()

    assert len(_api_requests(stack, "register")) == 1
    for name in (*EHRS, "lis", "ambulance"):
        assert len(_api_requests(stack, name)) == 1, name
    # The drug provision system has separate endpoints for prescriptions and dispensations.
    paths = sorted(r["path"].rsplit("/", 1)[1] for r in _api_requests(stack, "dps"))
    assert paths == ["dispensations", "prescriptions"]
    # One batch: the record by _revinclude, and the Observations of the passport's codes.
    (ehr_call,) = _api_requests(stack, "ehr-astana")
    searches = [url.partition("?") for url in ehr_call["batch"]]
    assert [kind for kind, _, _ in searches] == ["Patient", "Observation"]
    assert parse_qs(searches[0][2])["identifier"] == [f"urn:kz:iin|{second}"]
    assert parse_qs(searches[1][2])["patient.identifier"] == [f"urn:kz:iin|{second}"]


def test_allergies_alone_ask_only_the_register_and_the_ehrs(stack: Stack) -> None:
    iin = stack.ground_truth["edgeCases"]["twoRegions"][0]
    with stack.fresh_gateway() as gateway:
        stack.reset_requests()
        answer = gateway.graphql(ALLERGIES_ONLY, {"iin": iin}, stack.token("patient", iin=iin))
    assert "errors" not in answer.json()
    counts = stack.request_counts()
    assert counts["lis"] == counts["dps"] == counts["ambulance"] == 0
    assert len(_api_requests(stack, "register")) == 1
    for name in EHRS:
        requests = stack.emulator_requests(name)["recent"]
        assert len(requests) == 1
        assert parse_qs(requests[0]["query"])["_revinclude"] == ["AllergyIntolerance:patient"]


def test_invalid_iin_asks_nothing(stack: Stack) -> None:
    stack.reset_requests()
    answer = stack.graphql(
        FULL_PASSPORT, {"iin": "900101300008"}, stack.token("patient", iin="900101300007")
    )
    body = answer.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body.get("data") is None
    assert set(stack.request_counts().values()) == {0}


def test_unknown_iin_is_not_found(stack: Stack) -> None:
    known = set(stack.ground_truth["people"])
    unknown = "900101300007"
    assert unknown not in known
    answer = stack.graphql(FULL_PASSPORT, {"iin": unknown}, stack.token("patient", iin=unknown))
    body = answer.json()
    assert body["data"]["passport"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
