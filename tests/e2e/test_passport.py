"""A whole passport over real HTTP equals the ground truth, section by section."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import Stack

FULL_PASSPORT = """
query($iin: IIN!) { passport(iin: $iin) {
  iin
  identity { iin familyName givenName patronymic fullName birthDate sex age region
             provenance { source } }
  careTeam { attachedOrganization { bin name region } generalPractitioner { id name } }
  allergies { substance { system code display } category criticality reactions
              provenance { source region } }
  lifestyle { exerciseMinutesPerWeek sleepHoursPerDay }
  diagnosticStudies { code { system code } category date conclusion provenance { region } }
  labResults { test { system code display } value numericValue unit referenceRange flag
               resultedAt orderNumber provenance { source } }
  physiologicalState { pregnancy { status expectedDeliveryDate gestationalWeeks }
                       bloodPressure heartRate }
  riskBehaviours { smoking alcoholAuditC drugUse }
  immunizations { vaccine { system code } date doseNumber provenance { region } }
  screenings { code { system code } date outcome provenance { region } }
  problems(includeResolved: true) { code { system code } status onset provenance { source region } }
  currentMedications { code { system code } name dose { value unit } timesPerDay route since }
  anthropometrics { weightKg heightCm bmi waistCm measuredAt }
  encounters { kind start end organization { bin } practitioner { id } diagnosis { code }
               provenance { source region } }
  dispensations { drug { code } name quantity amountKzt program dispensedAt pharmacy { bin } }
  emergency { bloodGroup implants { system code } weightKg }
  sources { source ok stale error }
} }
"""


def _bag(items: Any) -> Counter:
    """A multiset: order-free comparison that tolerates None inside tuples."""
    return Counter(items)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


EDGE_CASES = (
    "twoRegions",
    "registerOnly",
    "noLabHistory",
    "pregnant",
    "child",
    "veryOld",
    "secondPassIin",
    "kazakhLetters",
    "ambulance",
    "implant",
    "overdueScreening",
)


def _person(truth: dict[str, Any], case: str) -> str:
    """The first person of one of the generator's edge cases."""
    return truth["edgeCases"][case][0]


@pytest.fixture(scope="module")
def passports(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every edge-case person's full passport, read by the patient themselves."""
    answers = {}
    for iin in {_person(stack.ground_truth, case) for case in EDGE_CASES}:
        token = stack.token("patient", iin=iin)
        response = stack.graphql(FULL_PASSPORT, {"iin": iin}, token)
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body, body.get("errors")
        answers[iin] = body["data"]["passport"]
    return answers


@pytest.mark.parametrize("case", EDGE_CASES)
def test_every_section_equals_ground_truth(
    case: str, passports: dict[str, dict[str, Any]], stack: Stack
) -> None:
    iin = _person(stack.ground_truth, case)
    truth = stack.ground_truth["people"][iin]
    got = passports[iin]

    identity = {k: v for k, v in got["identity"].items() if k != "provenance"}
    assert identity == truth["identity"]
    assert got["identity"]["provenance"]["source"] == "register"
    assert got["careTeam"] == truth["careTeam"]

    expected_allergies = {
        (a["substance"]["code"], a["criticality"], tuple(sorted(a["reactions"])), a["region"])
        for a in truth["allergies"]
        if a.get("clinicalStatus", "active") == "active"
    }
    assert {
        (
            a["substance"]["code"],
            a["criticality"],
            tuple(sorted(a["reactions"])),
            a["provenance"]["region"],
        )
        for a in got["allergies"]
    } == expected_allergies

    assert got["lifestyle"] == truth["lifestyle"]
    assert got["riskBehaviours"] == truth["riskBehaviours"]
    physiological = truth["physiologicalState"]
    if physiological is not None and not any(physiological.values()):
        physiological = None  # nothing recorded: the section is null
    assert got["physiologicalState"] == physiological

    assert {
        (p["code"]["code"], p["status"], p["onset"], p["provenance"]["region"])
        for p in got["problems"]
    } == {(p["code"]["code"], p["status"], p["onset"], p["region"]) for p in truth["problems"]}
    for problem in got["problems"]:
        assert problem["provenance"]["source"] == f"ehr-{problem['provenance']['region']}"

    assert {
        (
            m["code"]["code"],
            m["name"],
            m["dose"]["value"] if m["dose"] else None,
            m["timesPerDay"],
            m["route"],
            m["since"],
        )
        for m in got["currentMedications"]
    } == {
        (
            m["code"]["code"],
            m["name"],
            float(m["dose"]["value"]) if m["dose"] else None,
            m["timesPerDay"],
            m["route"],
            m["since"],
        )
        for m in truth["currentMedications"]
    }

    anthropometrics = dict(got["anthropometrics"] or {}) or None
    if truth["anthropometrics"] is None:
        assert anthropometrics is None
    else:
        expected = dict(truth["anthropometrics"])
        assert _time(anthropometrics.pop("measuredAt")) == _time(expected.pop("measuredAt"))
        assert anthropometrics == expected

    assert _bag(
        (i["vaccine"]["code"], i["date"], i["doseNumber"], i["provenance"]["region"])
        for i in got["immunizations"]
    ) == _bag(
        (i["vaccine"]["code"], i["date"], i["doseNumber"], i["region"])
        for i in truth["immunizations"]
    )
    assert _bag((s["code"]["code"], s["date"], s["outcome"]) for s in got["screenings"]) == _bag(
        (s["code"]["code"], s["date"], s["outcome"]) for s in truth["screenings"]
    )
    assert _bag(
        (d["code"]["code"], d["category"], _time(d["date"]), d["conclusion"])
        for d in got["diagnosticStudies"]
    ) == _bag(
        (d["code"]["code"], d["category"], _time(d["date"]), d["conclusion"])
        for d in truth["diagnosticStudies"]
    )

    assert _bag(
        (
            r["test"]["code"],
            r["value"],
            r["numericValue"],
            r["unit"],
            r["referenceRange"],
            r["flag"],
            _time(r["resultedAt"]),
            r["orderNumber"],
        )
        for r in got["labResults"]
    ) == _bag(
        (
            r["test"]["loinc"] or r["test"]["testCode"],
            r["value"],
            r["numericValue"],
            r["unit"],
            r["referenceRange"],
            r["flag"],
            _time(r["resultedAt"]),
            r["orderNumber"],
        )
        for r in truth["labResults"]
    )

    assert _bag(
        (
            e["kind"],
            _time(e["start"]),
            _time(e["end"]),
            (e["organization"] or {}).get("bin"),
            (e["diagnosis"] or {}).get("code"),
        )
        for e in got["encounters"]
    ) == _bag(
        (
            e["kind"],
            _time(e["start"]),
            _time(e["end"]),
            (e["organization"] or {}).get("bin"),
            (e["diagnosis"] or {}).get("code"),
        )
        for e in truth["encounters"]
    )
    assert _bag(
        (d["drug"]["code"], d["amountKzt"], d["program"], _time(d["dispensedAt"]))
        for d in got["dispensations"]
    ) == _bag(
        (d["drug"]["code"], d["amountKzt"], d["program"], _time(d["dispensedAt"]))
        for d in truth["dispensations"]
    )

    assert got["emergency"]["bloodGroup"] == truth["bloodGroup"]
    assert _bag(c["code"] for c in got["emergency"]["implants"]) == _bag(
        c["code"] for c in truth["implants"]
    )
    assert all(status["ok"] for status in got["sources"])
