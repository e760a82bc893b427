"""Issue 12, item 6: every organisation and practitioner is named from the register.

Sources refer to organisations by BIN and practitioners by register id, with a display that
may be missing (SOURCES.md: "the register is the place to look names up"). Wherever one
appears in an answer (encounters, provenance, care team, medicines, dispensations, the access
log, `me`), it carries the register's name, the same everywhere; and the names come from the
register's directory, not from another register call per section.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.e2e.conftest import Stack, random_subject

PROVENANCE = "provenance { source organization { bin name region } practitioner { id name } }"
PASSPORT = f"""
query($iin: IIN!) {{ passport(iin: $iin) {{
  identity {{ {PROVENANCE} }}
  careTeam {{ attachedOrganization {{ bin name region }} generalPractitioner {{ id name }} }}
  allergies {{ {PROVENANCE} }}
  diagnosticStudies {{ {PROVENANCE} }}
  labResults {{ {PROVENANCE} }}
  immunizations {{ {PROVENANCE} }}
  screenings {{ {PROVENANCE} }}
  problems(includeResolved: true) {{ {PROVENANCE} }}
  currentMedications {{ {PROVENANCE} sources {{ {PROVENANCE} }} }}
  anthropometrics {{ {PROVENANCE} }}
  encounters {{
    start organization {{ bin name region }} practitioner {{ id name }} {PROVENANCE}
  }}
  dispensations {{ pharmacy {{ bin name region }} }}
}} }}
"""
ME = "{ me { organization { bin name region } practitioner { id name } } }"
ACCESS_LOG = """
query($iin: IIN!) { passport(iin: $iin) {
  accessLog { organization { bin name } practitioner { id name } }
} }
"""


def _references(value: Any, key: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Organization (has a bin) and Practitioner (id under a practitioner-like key)."""
    if isinstance(value, list):
        for item in value:
            yield from _references(item, key)
    elif isinstance(value, dict):
        if "bin" in value:
            yield "organization", value
        elif key in ("practitioner", "generalPractitioner") and "id" in value:
            yield "practitioner", value
        for name, item in value.items():
            yield from _references(item, name)


def _rich_person(stack: Stack) -> str:
    """Someone with encounters at several places, ambulance calls, labs and dispensations."""
    people = stack.ground_truth["people"]

    def richness(iin: str) -> tuple[int, ...]:
        person = people[iin]
        places = {e["organization"]["bin"] for e in person["encounters"] if e["organization"]}
        return (
            bool(person["ambulanceCalls"]) + bool(person["labResults"]),
            bool(person["dispensations"]),
            len(places),
        )

    return max(sorted(people), key=richness)


def _doctor_of(stack: Stack, iin: str) -> str:
    truth = stack.ground_truth
    org = truth["people"][iin]["careTeam"]["attachedOrganization"]["bin"]
    doctor = next(p for p in truth["practitioners"] if p["orgBin"] == org)
    return stack.token(
        "doctor", org_bin=org, practitioner_id=doctor["id"], subject=random_subject()
    )


def _assert_named(answer: Any, stack: Stack) -> tuple[int, int]:
    truth = stack.ground_truth
    organizations = {o["bin"]: o for o in truth["organizations"]}
    practitioners = {p["id"]: p for p in truth["practitioners"]}
    counted = [0, 0]
    for kind, ref in _references(answer):
        if kind == "organization" and ref["bin"] in organizations:
            known = organizations[ref["bin"]]
            assert ref["name"] == known["name"], ref
            assert ref.get("region", known["region"]) == known["region"], ref
            counted[0] += 1
        elif kind == "practitioner" and ref["id"] in practitioners:
            assert ref["name"] == practitioners[ref["id"]]["name"], ref
            counted[1] += 1
    return counted[0], counted[1]


def test_a_doctors_passport_names_every_reference_the_register_knows(stack: Stack) -> None:
    iin = _rich_person(stack)
    token = _doctor_of(stack, iin)
    with stack.fresh_gateway() as gateway:
        # A first read lets the directory load; the second must not ask the register for names.
        first = gateway.graphql(PASSPORT, {"iin": iin}, token).json()
        assert "errors" not in first, first.get("errors")
        stack.reset_requests()
        body = gateway.graphql(PASSPORT, {"iin": iin}, token).json()
        register_calls = stack.emulator_requests("register")["recent"]
    assert "errors" not in body, body.get("errors")
    organizations, practitioners = _assert_named(body["data"], stack)
    encounters = body["data"]["passport"]["encounters"]
    assert organizations >= 5 and practitioners >= 3, (organizations, practitioners)
    assert any(e["organization"] and e["organization"]["name"] for e in encounters)
    looked_up = [c for c in register_calls if c["path"].rsplit("/", 1)[-1] != "Patient"]
    assert looked_up == [], looked_up  # names came from the directory, no call per section


def test_me_names_the_clinician_and_their_organisation(stack: Stack) -> None:
    truth = stack.ground_truth
    practitioner = truth["practitioners"][0]
    token = stack.token("nurse", org_bin=practitioner["orgBin"], practitioner_id=practitioner["id"])
    me = stack.graphql(ME, token=token).json()["data"]["me"]
    organization = next(o for o in truth["organizations"] if o["bin"] == practitioner["orgBin"])
    assert me["organization"] == {
        "bin": organization["bin"],
        "name": organization["name"],
        "region": organization["region"],
    }
    assert me["practitioner"] == {"id": practitioner["id"], "name": practitioner["name"]}


def test_the_access_log_names_who_read_the_passport(stack: Stack) -> None:
    iin = _rich_person(stack)
    doctor = _doctor_of(stack, iin)
    assert "errors" not in stack.graphql(PASSPORT, {"iin": iin}, doctor).json()
    body = stack.graphql(ACCESS_LOG, {"iin": iin}, stack.token("patient", iin=iin)).json()
    assert "errors" not in body, body.get("errors")
    log = body["data"]["passport"]["accessLog"]
    organizations, practitioners = _assert_named(log, stack)
    assert organizations >= 1 and practitioners >= 1
