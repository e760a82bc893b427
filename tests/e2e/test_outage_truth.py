"""Issue 12, item 1: during an outage nothing unknown looks like "none".

Every source down in turn, then `passport` and `emergency` for a person who has facts in that
source: every field that source feeds is null with exactly one SOURCE_UNAVAILABLE error at its
path (never an empty list), everything else is served, and `complete` is false. With a stale
copy allowed (the cache warmed, then the source taken down past its ttl), the same fields are
served from the copy, flagged stale in `sources`, and `complete` is still false.

Which field each source feeds is this test's own reading of SOURCES.md ("used for") and the
contract; the people come from the ground truth.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_resilience import (
    EHR_FIELDS,
    SOURCE_OF,
    errors_by_path,
    gateway_settings,
    running_gateway,
    source_report,
)

EMERGENCY_SELECTION = """
  identity { iin }
  bloodGroup
  allergies { substance { code } }
  activeProblems { code { code } }
  currentMedications { code { code } pharmacyOnly }
  implants { code }
  pregnancy { status }
  weightKg
  contacts { name relationship phones }
  complete
  sources { source ok stale error }
"""
PASSPORT = (
    """
query($iin: IIN!) { passport(iin: $iin) {
  identity { iin fullName }
  careTeam { attachedOrganization { bin } }
  allergies { substance { code } }
  lifestyle { exerciseMinutesPerWeek sleepHoursPerDay }
  diagnosticStudies { code { code } date }
  labResults { orderNumber value }
  physiologicalState { bloodPressure heartRate }
  riskBehaviours { smoking }
  immunizations { vaccine { code } date }
  screenings { code { code } date }
  screeningPlan { code { code } dueMonth }
  problems(includeResolved: true) { code { code } status }
  currentMedications { code { code } pharmacyOnly }
  anthropometrics { weightKg }
  encounters { kind start }
  dispensations { drug { code } dispensedAt }
  emergency {"""
    + EMERGENCY_SELECTION
    + """}
  sources { source ok stale error }
} }
"""
)
EMERGENCY = (
    """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {"""
    + EMERGENCY_SELECTION
    + "} }"
)

# The passport fields the EHRs feed (test_resilience's list) and the screening plan: its
# exclusions read the problem list.
EHR_PASSPORT = EHR_FIELDS | {"screeningPlan"}
EHR_EMERGENCY = frozenset(
    {
        "bloodGroup",
        "allergies",
        "activeProblems",
        "currentMedications",
        "implants",
        "pregnancy",
        "weightKg",
    }
)
# Passport fields each source feeds (the screening plan needs the register's birth date and sex).
PASSPORT_FED: dict[str, frozenset[str]] = {
    "register": frozenset({"identity", "careTeam", "screeningPlan"}),
    "ehr-astana": EHR_PASSPORT,
    "ehr-almaty": EHR_PASSPORT,
    "ehr-shymkent": EHR_PASSPORT,
    "lis": frozenset({"labResults"}),
    "dps": frozenset({"currentMedications", "dispensations"}),
    "ambulance": frozenset({"encounters"}),
}
EMERGENCY_FED: dict[str, frozenset[str]] = {
    "register": frozenset({"identity", "contacts"}),
    "ehr-astana": EHR_EMERGENCY,
    "ehr-almaty": EHR_EMERGENCY,
    "ehr-shymkent": EHR_EMERGENCY,
    "lis": frozenset(),
    "dps": frozenset({"currentMedications"}),
    "ambulance": frozenset(),
}
LISTS = frozenset(
    {
        "allergies",
        "diagnosticStudies",
        "labResults",
        "immunizations",
        "screenings",
        "screeningPlan",
        "problems",
        "currentMedications",
        "encounters",
        "dispensations",
        "activeProblems",
        "implants",
        "contacts",
    }
)
EMULATORS = tuple(PASSPORT_FED)
TTL_S = 1


def _person_with_facts_in(stack: Stack, emulator: str) -> str:
    """Someone that source knows something about (the first, sorted, for repeatable runs)."""
    people = stack.ground_truth["people"]

    def has_facts(person: dict[str, Any]) -> bool:
        if emulator == "register":
            return bool(person["contacts"]) and bool(person["ehrRegions"])
        if emulator.startswith("ehr-"):
            region = emulator.removeprefix("ehr-")
            return any(p["region"] == region for p in person["problems"]) and any(
                a["region"] == region for a in person["allergies"]
            )
        if emulator == "lis":
            return bool(person["labResults"])
        if emulator == "dps":
            return bool(person["dispensations"]) and any(
                "prescription" in m["sources"] or "dispensation" in m["sources"]
                for m in person["currentMedications"]
            )
        return bool(person["ambulanceCalls"])

    return next(iin for iin in sorted(people) if has_facts(people[iin]))


def _expected_errors(emulator: str, root: str) -> dict[tuple[Any, ...], str]:
    if root == "passport":
        errors = {("passport", name): "SOURCE_UNAVAILABLE" for name in PASSPORT_FED[emulator]}
        fed = EMERGENCY_FED[emulator]
        errors |= {("passport", "emergency", n): "SOURCE_UNAVAILABLE" for n in fed}
        return errors
    return {("emergency", name): "SOURCE_UNAVAILABLE" for name in EMERGENCY_FED[emulator]}


def _ask_both(stack: Stack, gateway: Any, iin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    patient = gateway.graphql(PASSPORT, {"iin": iin}, stack.token("patient", iin=iin))
    crew = stack.token("emergency", org_bin="000000000000")
    emergency = gateway.graphql(EMERGENCY, {"iin": iin, "reason": "collapse in the street"}, crew)
    assert patient.status_code == 200 and emergency.status_code == 200
    return patient.json(), emergency.json()


def _assert_unknown_is_not_none(
    body: dict[str, Any], data: dict[str, Any], fed: frozenset[str], where: str
) -> None:
    for name in fed:
        assert data[name] is None, (where, name)  # never [] nor a value from half the sources
    for name in set(data) - fed - {"sources", "complete", "emergency"}:
        if name in LISTS:
            assert data[name] is not None, (where, name)
    assert "errors" in body


@pytest.mark.parametrize("emulator", EMULATORS)
def test_each_source_down_no_list_it_feeds_looks_empty(emulator: str, clean_faults: Stack) -> None:
    stack = clean_faults
    iin = _person_with_facts_in(stack, emulator)
    with stack.fresh_gateway() as gateway:
        healthy_passport, healthy_emergency = _ask_both(stack, gateway, iin)
    assert "errors" not in healthy_passport and "errors" not in healthy_emergency
    assert healthy_emergency["data"]["emergency"]["complete"] is True
    assert healthy_passport["data"]["passport"]["emergency"]["complete"] is True

    stack.fault(emulator, down=True)
    with stack.fresh_gateway() as gateway:
        body, emergency_body = _ask_both(stack, gateway, iin)

    passport = body["data"]["passport"]
    assert errors_by_path(body) == _expected_errors(emulator, "passport")
    assert len(body["errors"]) == len(_expected_errors(emulator, "passport"))  # one per field
    _assert_unknown_is_not_none(body, passport, PASSPORT_FED[emulator], "passport")
    inner = passport["emergency"]
    for name in EMERGENCY_FED[emulator]:
        assert inner[name] is None, ("passport.emergency", name)
    # The emergency summary is built from the register, the EHRs and the DPS only.
    feeds_emergency = emulator not in ("lis", "ambulance")
    assert inner["complete"] is not feeds_emergency

    emergency = emergency_body["data"]["emergency"]
    assert errors_by_path(emergency_body) == _expected_errors(emulator, "emergency")
    for name in EMERGENCY_FED[emulator]:
        assert emergency[name] is None, ("emergency", name)
    for name in (
        set(EMERGENCY_FED["ehr-astana"] | {"identity", "contacts"}) - EMERGENCY_FED[emulator]
    ):
        assert emergency[name] == healthy_emergency["data"]["emergency"][name], name
    assert emergency["complete"] is not feeds_emergency
    if feeds_emergency:
        report = source_report(emergency["sources"], SOURCE_OF[emulator])
        assert report["ok"] is False and report["stale"] is False


@pytest.mark.parametrize("emulator", EMULATORS)
def test_with_a_stale_copy_the_lists_are_served_and_not_complete(
    emulator: str, clean_faults: Stack
) -> None:
    stack = clean_faults
    iin = _person_with_facts_in(stack, emulator)
    source = SOURCE_OF[emulator]
    settings = gateway_settings(
        stack, sources={source: {"ttl_s": TTL_S}}, cache={"max_stale_s": 120}
    )
    with running_gateway(stack, settings) as gateway:
        warm_passport, warm_emergency = _ask_both(stack, gateway, iin)
        assert "errors" not in warm_passport and "errors" not in warm_emergency
        stack.fault(emulator, down=True)
        time.sleep(TTL_S + 0.3)  # every copy of the warm reads is past its ttl
        body, emergency_body = _ask_both(stack, gateway, iin)

    assert "errors" not in body, body.get("errors")
    assert "errors" not in emergency_body, emergency_body.get("errors")
    passport, warm = body["data"]["passport"], warm_passport["data"]["passport"]
    for name in PASSPORT_FED[emulator]:
        assert passport[name] == warm[name], name
    emergency = emergency_body["data"]["emergency"]
    for name in EMERGENCY_FED[emulator]:
        assert emergency[name] == warm_emergency["data"]["emergency"][name], name
    feeds_emergency = emulator not in ("lis", "ambulance")
    assert emergency["complete"] is not feeds_emergency
    assert passport["emergency"]["complete"] is not feeds_emergency
    report = source_report(passport["sources"], source)
    assert report["stale"] is True and report["ok"] is False


def test_the_issue_example_hypertensive_in_almaty_with_almaty_down(clean_faults: Stack) -> None:
    """A person whose problems and medicines are in one region: that region down is not
    "no allergies, no problems"."""
    stack = clean_faults
    people = stack.ground_truth["people"]
    iin = next(
        iin
        for iin in sorted(people)
        if people[iin]["ehrRegions"] == ["almaty"]
        and any(p["code"]["code"] == "I10" for p in people[iin]["problems"])
    )
    stack.fault("ehr-almaty", down=True)
    crew = stack.token("emergency", org_bin="000000000000")
    with stack.fresh_gateway() as gateway:
        response = gateway.graphql(EMERGENCY, {"iin": iin, "reason": "unconscious"}, crew)
    body = response.json()
    data = body["data"]["emergency"]
    assert data["activeProblems"] is None and data["allergies"] is None
    assert data["bloodGroup"] is None and data["currentMedications"] is None
    assert data["complete"] is False
    assert data["identity"]["iin"] == iin
    expected = [
        {"name": c["name"], "relationship": c["relationship"], "phones": c["phones"]}
        for c in people[iin]["contacts"]
    ]
    assert data["contacts"] == expected
    codes = errors_by_path(body)
    assert codes[("emergency", "activeProblems")] == "SOURCE_UNAVAILABLE"
    messages = {tuple(e["path"]): e["message"] for e in body["errors"]}
    assert "ehr-almaty" in messages[("emergency", "allergies")]
