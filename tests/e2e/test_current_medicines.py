"""Issue 12, item 2: current medicines are what the records, prescriptions and pharmacies say.

For every person of the demo population, `currentMedications` (and the emergency summary's)
equals the ground truth's current set: active EHR statements, active DPS prescriptions and
dispensations whose supply covers today, one per ATC code, each with the kind of every record
that holds it, and `pharmacyOnly` when only a pharmacy does (docs/ground-truth.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.displays import medicine_name
from tests.e2e.conftest import Stack

MEDICINES = """
query($iin: IIN!) { passport(iin: $iin) {
  currentMedications {
    code { system code } name dose { value unit } timesPerDay route since pharmacyOnly
    sources { kind provenance { source } coversUntil }
  }
  emergency { currentMedications { code { code } pharmacyOnly } }
} }
"""
EMERGENCY = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
  currentMedications { code { code } name pharmacyOnly sources { kind } }
} }
"""
KIND_OF = {"ehr": "STATEMENT", "prescription": "PRESCRIPTION", "dispensation": "DISPENSATION"}


def _expected(person: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The truth's current medicines by ATC code, in the contract's words (names in English,
    the tests' language: the ATC index's name when the data files have it)."""
    return {
        m["code"]["code"]: {
            "name": medicine_name(m["code"]["code"], m["name"]),
            "dose": {"value": float(m["dose"]["value"]), "unit": m["dose"]["unit"]},
            "timesPerDay": m["timesPerDay"],
            "route": m["route"],
            "since": m["since"],
            "pharmacyOnly": m["pharmacyOnly"],
            "kinds": {KIND_OF[s] for s in m["sources"]},
        }
        for m in person["currentMedications"]
    }


def _got(medications: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        m["code"]["code"]: {
            "name": m["name"],
            "dose": m["dose"],
            "timesPerDay": m["timesPerDay"],
            "route": m["route"],
            "since": m["since"],
            "pharmacyOnly": m["pharmacyOnly"],
            "kinds": {s["kind"] for s in m["sources"]},
        }
        for m in medications
    }


@pytest.fixture(scope="module")
def passports(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every person's current medicines, each read by themself."""
    answers = {}
    for iin in sorted(stack.ground_truth["people"]):
        response = stack.graphql(MEDICINES, {"iin": iin}, stack.token("patient", iin=iin))
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (iin, body.get("errors"))
        answers[iin] = body["data"]["passport"]
    return answers


def test_every_persons_current_medicines_are_the_truths(
    stack: Stack, passports: dict[str, dict[str, Any]]
) -> None:
    people = stack.ground_truth["people"]
    assert len(passports) == len(people)
    for iin, passport in passports.items():
        medications = passport["currentMedications"]
        assert len(medications) == len({m["code"]["code"] for m in medications}), iin  # by ATC
        assert all(m["code"]["system"] == "http://www.whocc.no/atc" for m in medications)
        assert _got(medications) == _expected(people[iin]), iin


def test_the_emergency_summary_lists_the_same_medicines(
    stack: Stack, passports: dict[str, dict[str, Any]]
) -> None:
    for iin, passport in passports.items():
        inside = {
            m["code"]["code"]: m["pharmacyOnly"]
            for m in passport["emergency"]["currentMedications"]
        }
        listed = {m["code"]["code"]: m["pharmacyOnly"] for m in passport["currentMedications"]}
        assert inside == listed, iin


def test_medicines_known_only_from_the_pharmacy_reach_the_crew(stack: Stack) -> None:
    truth = stack.ground_truth
    cases = truth["edgeCases"]["pharmacyOnly"]
    assert cases, "the generator has people whose medicine only a pharmacy knows"
    crew = stack.token("emergency", org_bin="000000000000")
    for iin in cases:
        response = stack.graphql(EMERGENCY, {"iin": iin, "reason": "found unconscious"}, crew)
        body = response.json()
        assert "errors" not in body, body.get("errors")
        got = {m["code"]["code"]: m for m in body["data"]["emergency"]["currentMedications"]}
        for medicine in truth["people"][iin]["currentMedications"]:
            if medicine["pharmacyOnly"]:
                shown = got[medicine["code"]["code"]]
                assert shown["pharmacyOnly"] is True
                assert [s["kind"] for s in shown["sources"]] == ["DISPENSATION"]


def test_a_dispensation_says_until_when_its_supply_lasts(
    stack: Stack, passports: dict[str, dict[str, Any]]
) -> None:
    today = stack.ground_truth["today"]
    seen = 0
    for passport in passports.values():
        for medication in passport["currentMedications"]:
            for source in medication["sources"]:
                if source["kind"] == "DISPENSATION":
                    assert source["coversUntil"] >= today  # covers today, by the rule
                    assert source["provenance"]["source"] == "drugs"
                    seen += 1
                else:
                    assert source["coversUntil"] is None
    assert seen
