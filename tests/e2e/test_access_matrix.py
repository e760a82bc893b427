"""ACCESS.md over real HTTP: every role x every passport section x every situation.

The expected outcomes are a literal transcription of ACCESS.md's "Sections by role" table
(``ACCESS_MD``), checked against the code's ``gateway.auth.policy.TABLE``; the cases are
generated from the table's rows, and the people from the generator's ground truth. Each
(role, situation) is one query selecting every section on a gateway with a cold cache, so
the emulators' ``__requests`` show exactly what the read asked of each source system.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from gateway.auth.policy import TABLE, Section
from gateway.auth.principal import Role
from tests.e2e.conftest import Stack, random_subject

FORBIDDEN = "FORBIDDEN"
RESTRICTED = "RESTRICTED_BY_PATIENT"
BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
VALUE = "value"
REASON = "unconscious patient brought in by ambulance"
EHRS = ("ehr-astana", "ehr-almaty", "ehr-shymkent")
ROLES = ("PATIENT", "EMERGENCY", "NURSE", "DOCTOR", "MANAGER")
CLINICIANS = ("NURSE", "DOCTOR")

# ACCESS.md, "Sections by role", one tuple per row in the order of ROLES.
ACCESS_MD: dict[str, tuple[str, str, str, str, str]] = {
    "IDENTITY": ("R", "R", "R", "R", "-"),
    "CARE_TEAM": ("R", "R", "R", "R", "-"),
    "EMERGENCY": ("R", "R", "R", "R", "-"),
    "ALLERGIES": ("R", "R", "R", "R", "-"),
    "LIFESTYLE": ("R", "-", "R", "R", "-"),
    "DIAGNOSTIC_STUDIES": ("R", "-", "-", "R", "-"),
    "LAB_RESULTS": ("R", "-", "-", "R", "-"),
    "PHYSIOLOGICAL_STATE": ("R", "R", "R", "R", "-"),
    "RISK_BEHAVIOURS": ("R", "-", "-", "R", "-"),
    "IMMUNIZATIONS": ("R", "-", "R", "R", "-"),
    "SCREENINGS": ("R", "-", "R", "R", "-"),
    "PROBLEMS": ("R", "R active", "R", "R", "-"),
    "MEDICATIONS": ("R", "R", "R", "R", "-"),
    "ANTHROPOMETRICS": ("R", "R", "R", "R", "-"),
    "ENCOUNTERS": ("R", "-", "-", "R", "-"),
    "DISPENSATIONS": ("R", "-", "-", "R no cost", "-"),
    "ACCESS_LOG": ("R", "-", "-", "-", "-"),
    "STATS": ("-", "-", "-", "-", "R own region"),
}
# ACCESS.md, "Patient restrictions".
RESTRICTABLE = frozenset(
    {
        "LIFESTYLE",
        "DIAGNOSTIC_STUDIES",
        "LAB_RESULTS",
        "RISK_BEHAVIOURS",
        "IMMUNIZATIONS",
        "SCREENINGS",
        "PROBLEMS",
        "ENCOUNTERS",
        "DISPENSATIONS",
    }
)
UNRESTRICTABLE = frozenset(
    {
        "IDENTITY",
        "CARE_TEAM",
        "EMERGENCY",
        "ALLERGIES",
        "MEDICATIONS",
        "PHYSIOLOGICAL_STATE",
        "ANTHROPOMETRICS",
    }
)
# passport.graphql's EmergencyData: the sections its fields disclose.
IN_EMERGENCY = frozenset(
    {
        "IDENTITY",
        "EMERGENCY",
        "ALLERGIES",
        "PROBLEMS",
        "MEDICATIONS",
        "PHYSIOLOGICAL_STATE",
        "ANTHROPOMETRICS",
    }
)
# passport.graphql's Passport fields, the section each discloses, and what the query selects.
PASSPORT_FIELDS: dict[str, tuple[str, str]] = {
    "identity": ("IDENTITY", "{ iin fullName }"),
    "careTeam": ("CARE_TEAM", "{ attachedOrganization { bin } }"),
    "emergency": ("EMERGENCY", "{ bloodGroup implants { code } }"),
    "allergies": ("ALLERGIES", "{ substance { code } }"),
    "lifestyle": ("LIFESTYLE", "{ exerciseMinutesPerWeek sleepHoursPerDay }"),
    "diagnosticStudies": ("DIAGNOSTIC_STUDIES", "{ code { code } }"),
    "labResults": ("LAB_RESULTS", "{ value orderNumber }"),
    "physiologicalState": ("PHYSIOLOGICAL_STATE", "{ bloodPressure heartRate }"),
    "riskBehaviours": ("RISK_BEHAVIOURS", "{ smoking }"),
    "immunizations": ("IMMUNIZATIONS", "{ date }"),
    "screenings": ("SCREENINGS", "{ date }"),
    "screeningPlan": ("SCREENINGS", "{ dueMonth }"),
    "problems(includeResolved: true)": ("PROBLEMS", "{ status }"),
    "currentMedications": ("MEDICATIONS", "{ name }"),
    "anthropometrics": ("ANTHROPOMETRICS", "{ weightKg }"),
    "encounters": ("ENCOUNTERS", "{ start }"),
    "dispensations": ("DISPENSATIONS", "{ name amountKzt }"),
    "doseCheck": ("MEDICATIONS", "{ verdict }"),
}
# "MEDICATIONS (incl. doseCheck for NURSE/DOCTOR)".
DOSE_CHECK_ROLES = frozenset(CLINICIANS)
# SOURCES.md, EHR resources: the FHIR types each section is made of.
EHR_NEEDS: dict[str, frozenset[str]] = {
    "EMERGENCY": frozenset(
        {"AllergyIntolerance", "Condition", "MedicationStatement", "Device", "Observation"}
    ),
    "ALLERGIES": frozenset({"AllergyIntolerance"}),
    "LIFESTYLE": frozenset({"Observation"}),
    "DIAGNOSTIC_STUDIES": frozenset({"DiagnosticReport"}),
    "PHYSIOLOGICAL_STATE": frozenset({"Observation"}),
    "RISK_BEHAVIOURS": frozenset({"Observation"}),
    "IMMUNIZATIONS": frozenset({"Immunization"}),
    "SCREENINGS": frozenset({"Procedure"}),
    "PROBLEMS": frozenset({"Condition"}),
    "MEDICATIONS": frozenset({"MedicationStatement"}),
    "ANTHROPOMETRICS": frozenset({"Observation"}),
    "ENCOUNTERS": frozenset({"Encounter"}),
}


def field_name(selection: str) -> str:
    """The response key of a selection such as ``problems(includeResolved: true)``."""
    return selection.split("(", 1)[0]


PASSPORT_QUERY = (
    "query($iin: IIN!, $reason: String) { passport(iin: $iin, breakGlassReason: $reason) { iin "
    + " ".join(f"{name} {sub}" for name, (_, sub) in PASSPORT_FIELDS.items())
    + " restrictedSections } }"
)


def rule(section: str, role: str) -> str:
    """ACCESS.md's rule for one role and section."""
    return ACCESS_MD[section][ROLES.index(role)]


# --- the people: chosen from the ground truth ---------------------------------------------


@dataclass(frozen=True)
class Clinician:
    """A practitioner of one organisation, as the register knows them."""

    practitioner_id: str
    org_bin: str
    name: str


@dataclass(frozen=True)
class Cast:
    """A patient and clinicians in each relation to them."""

    iin: str
    truth: dict[str, Any]
    attached: Clinician
    encounter: Clinician
    unrelated: Clinician
    other_iin: str


def _clinician(staff: list[dict[str, Any]]) -> Clinician:
    person = staff[0]
    return Clinician(person["id"], person["orgBin"], person["name"])


def choose_cast(truth: dict[str, Any]) -> Cast:
    """The patient with the fullest record who has an attached polyclinic, a recent visit
    elsewhere (not an ambulance call: dispatch is not an EHR) and organisations with staff."""
    today = date.fromisoformat(truth["today"])
    # One day inside ACCESS.md's 365 days, so a time zone cannot move a visit out of it.
    window_start = today - timedelta(days=364)
    staff: dict[str, list[dict[str, Any]]] = {}
    for practitioner in sorted(truth["practitioners"], key=lambda p: p["id"]):
        staff.setdefault(practitioner["orgBin"], []).append(practitioner)
    # Polyclinics and hospitals: where nurses and doctors work.
    care_orgs = sorted(
        o["bin"] for o in truth["organizations"] if o["type"] in ("polyclinic", "hospital")
    )
    richness = (
        "labResults",
        "dispensations",
        "diagnosticStudies",
        "immunizations",
        "screenings",
        "problems",
        "currentMedications",
        "allergies",
        "lifestyle",
        "riskBehaviours",
        "encounters",
    )
    candidates = []
    for iin, person in sorted(truth["people"].items()):
        attached = person["careTeam"]["attachedOrganization"]["bin"]
        if not person["ehrRegions"] or not person["inLis"] or attached not in staff:
            continue
        visited_ever = {e["organization"]["bin"] for e in person["encounters"] if e["organization"]}
        recent = sorted(
            e["organization"]["bin"]
            for e in person["encounters"]
            if e["organization"]
            and e["kind"] != "AMBULANCE"
            and datetime.fromisoformat(e["start"]).date() >= window_start
            and e["organization"]["bin"] not in (attached,)
            and e["organization"]["bin"] in staff
        )
        strangers = [b for b in care_orgs if b in staff and b != attached and b not in visited_ever]
        if recent and strangers:
            score = sum(1 for key in richness if person[key])
            candidates.append((-score, iin, attached, recent[0], strangers[0]))
    assert candidates, "the population has no patient with a recent visit outside their polyclinic"
    _, iin, attached, encounter, stranger = min(candidates)
    other = next(i for i in sorted(truth["people"]) if i != iin)
    return Cast(
        iin=iin,
        truth=truth["people"][iin],
        attached=_clinician(staff[attached]),
        encounter=_clinician(staff[encounter]),
        unrelated=_clinician(staff[stranger]),
        other_iin=other,
    )


@pytest.fixture(scope="module")
def cast(stack: Stack) -> Cast:
    """The people of this module's reads."""
    return choose_cast(stack.ground_truth)


# --- observing one read: the answer and what each source was asked -------------------------


@dataclass
class Observed:
    """A GraphQL answer and the requests each emulator served for it."""

    status: int
    body: dict[str, Any]
    requests: dict[str, list[dict[str, str]]]

    @property
    def errors(self) -> dict[tuple[Any, ...], list[str]]:
        """Error codes by path (``()`` for errors without one)."""
        found: dict[tuple[Any, ...], list[str]] = {}
        for error in self.body.get("errors") or ():
            found.setdefault(tuple(error.get("path") or ()), []).append(
                (error.get("extensions") or {}).get("code")
            )
        return found

    def api(self, name: str) -> list[dict[str, str]]:
        """One emulator's requests about people: no DPS OAuth, no register directory listing."""
        return [
            r
            for r in self.requests[name]
            if not r["path"].endswith("/oauth/token") and not is_directory_listing(name, r)
        ]

    def total(self) -> int:
        """Every request about people served by every emulator."""
        return sum(len(self.api(name)) for name in self.requests)

    def ehr_searches(self, resource_type: str) -> list[dict[str, list[str]]]:
        """Query parameters of every EHR search of ``resource_type``, batched ones included."""
        found = []
        for name in EHRS:
            for r in self.api(name):
                if r["path"].rstrip("/").endswith(f"/{resource_type}"):
                    found.append(parse_qs(r["query"]))
                for url in r.get("batch", ()):
                    kind, _, query = url.partition("?")
                    if kind == resource_type:
                        found.append(parse_qs(query))
        return found

    def revincluded_types(self) -> set[str]:
        """The clinical resource types asked for: reverse-included, or searched in a batch."""
        included = {
            value.split(":", 1)[0]
            for params in self.ehr_searches("Patient")
            for value in params.get("_revinclude", ())
        }
        return included | {"Observation" for _ in self.ehr_searches("Observation")}

    def observation_codes(self) -> set[str]:
        """The LOINC codes of every Observation search (``system|code`` values)."""
        return {
            value.rpartition("|")[2]
            for params in self.ehr_searches("Observation")
            for values in params.get("code", ())
            for value in values.split(",")
        }


def is_directory_listing(name: str, request: dict[str, str]) -> bool:
    """The gateway's background read of every organisation and practitioner (no person in it)."""
    params = parse_qs(request["query"])
    return (
        name == "register"
        and request["path"].rstrip("/").rsplit("/", 1)[-1] in ("Organization", "Practitioner")
        and not {"identifier", "_id"} & params.keys()
    )


def observe(
    stack: Stack, query: str, variables: dict[str, Any], token: str | None, **settings: Any
) -> Observed:
    """Run one query on a fresh gateway (cold cache) and collect what the emulators served."""
    with stack.fresh_gateway(**settings) as gateway:
        stack.reset_requests()
        response = gateway.graphql(query, variables, token)
        requests = {name: stack.emulator_requests(name)["recent"] for name in stack.urls}
    return Observed(response.status_code, response.json(), requests)


def assert_only_decision_lookups(observed: Observed, iin: str) -> None:
    """A refused read asked at most the register and the EHRs' encounter lists (relationship)."""
    for name in ("lis", "dps", "ambulance"):
        assert observed.api(name) == [], name
    assert observed.ehr_searches("Patient") == []
    for name in EHRS:
        for request in observed.api(name):
            assert request["path"].endswith("/Encounter"), request
            assert parse_qs(request["query"])["patient.identifier"] == [f"urn:kz:iin|{iin}"]


def assert_asked_only_for(observed: Observed, allowed: set[str]) -> None:
    """No source was asked for data of a section outside ``allowed``, and each allowed one was."""
    assert bool(observed.api("lis")) == ("LAB_RESULTS" in allowed)
    dps_paths = [r["path"].rsplit("/", 1)[-1] for r in observed.api("dps")]
    # Current medicines include dispensations whose supply covers today (issue 12).
    assert ("dispensations" in dps_paths) == bool(allowed & DISPENSED_FOR)
    assert bool(observed.api("ambulance")) == ("ENCOUNTERS" in allowed)
    needed = set().union(*(EHR_NEEDS.get(section, frozenset()) for section in allowed))
    assert observed.revincluded_types() == needed
    # Observations are asked by code: only the codes of sections this reader may see.
    shown = set().union(*(OBSERVATION_CODES.get(section, frozenset()) for section in allowed))
    assert observed.observation_codes() <= shown


# The sections shown from DPS dispensations: their list, and the current medicines.
DISPENSED_FOR = frozenset({"DISPENSATIONS", "MEDICATIONS", "EMERGENCY"})

# The LOINC codes of SOURCES.md's Observation table each section shows (this test's own
# reading of the contract and the passport's fields).
OBSERVATION_CODES: dict[str, frozenset[str]] = {
    "EMERGENCY": frozenset({"883-9", "10331-7", "82810-3", "11778-8", "29463-7"}),
    "LIFESTYLE": frozenset({"82290-8", "93832-4"}),
    "PHYSIOLOGICAL_STATE": frozenset({"82810-3", "11778-8", "85354-9", "8867-4"}),
    "RISK_BEHAVIOURS": frozenset({"72166-2", "75626-2", "11343-1"}),
    "ANTHROPOMETRICS": frozenset({"29463-7", "8302-2", "39156-5", "8280-0"}),
}


# --- the situations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Situation:
    """How the reader relates to the patient."""

    name: str
    relation: str  # own | attached | encounter | unrelated
    break_glass: bool = False
    restricted: bool = False


SITUATIONS = {
    s.name: s
    for s in (
        Situation("own", "own"),
        Situation("own-restricted", "own", restricted=True),
        Situation("attached", "attached"),
        Situation("encounter-related", "encounter"),
        Situation("unrelated", "unrelated"),
        Situation("unrelated-break-glass", "unrelated", break_glass=True),
        Situation("restricted", "attached", restricted=True),
        Situation("restricted-break-glass", "unrelated", break_glass=True, restricted=True),
    )
}


def situations_of(role: str) -> list[str]:
    """The situations that mean something for ``role``."""
    if role == "PATIENT":
        return ["own", "own-restricted"]
    if role in CLINICIANS:
        return [name for name, s in SITUATIONS.items() if s.relation != "own"]
    # EMERGENCY and MANAGER never read a passport; a reason does not change that.
    return ["unrelated", "unrelated-break-glass"]


def whole_read_refused(role: str, situation: Situation) -> bool:
    """ACCESS.md: who gets no passport at all (FORBIDDEN at ``passport``)."""
    if role == "PATIENT":
        return situation.relation != "own"
    if role in CLINICIANS:
        return situation.relation == "unrelated" and not situation.break_glass
    return True


def section_outcome(role: str, situation: Situation, section: str) -> str:
    """ACCESS.md: a section's value, or the code of its error."""
    if rule(section, role) == "-":
        return FORBIDDEN
    if (
        role in CLINICIANS
        and situation.restricted
        and section in RESTRICTABLE
        and not situation.break_glass
    ):
        return RESTRICTED
    return VALUE


def field_outcome(role: str, situation: Situation, name: str) -> str:
    """The outcome of one Passport field (doseCheck is for nurses and doctors only)."""
    section = next(s for key, (s, _) in PASSPORT_FIELDS.items() if field_name(key) == name)
    outcome = section_outcome(role, situation, section)
    if name == "doseCheck" and outcome == VALUE and role not in DOSE_CHECK_ROLES:
        return FORBIDDEN
    return outcome


CASES = [
    pytest.param(role, name, id=f"{role}-{name}")
    for role in dict.fromkeys(r.value for r in Role)
    for name in situations_of(role)
]


def token_for(stack: Stack, cast: Cast, role: str, situation: Situation) -> str:
    """A token of ``role`` in ``situation`` (clinicians of the matching organisation)."""
    subject = random_subject()
    if role == "PATIENT":
        return stack.token("patient", iin=cast.iin, subject=subject)
    if role in CLINICIANS:
        clinician = getattr(cast, situation.relation)
        return stack.token(
            role.lower(),
            org_bin=clinician.org_bin,
            practitioner_id=clinician.practitioner_id,
            subject=subject,
        )
    if role == "MANAGER":
        return stack.token("manager", subject=subject)
    return stack.token(role.lower(), org_bin=cast.unrelated.org_bin, subject=subject)


# Every restrictable section in one request: one alias per section, run in order.
RESTRICT_ALL = (
    "mutation($on: Boolean!) { "
    + " ".join(
        f"{s.lower()}: restrictSection(section: {s}, restricted: $on)" for s in sorted(RESTRICTABLE)
    )
    + " }"
)


@pytest.fixture
def restrictions(stack: Stack, cast: Cast):
    """A function that restricts every restrictable section; all are revealed again after."""
    patient = stack.token("patient", iin=cast.iin, subject=random_subject())

    def restrict_all() -> list[str]:
        answer = stack.graphql(RESTRICT_ALL, {"on": True}, patient).json()
        assert "errors" not in answer, answer
        return answer["data"][max(RESTRICTABLE).lower()]  # the last one made

    yield restrict_all
    answer = stack.graphql(RESTRICT_ALL, {"on": False}, patient).json()
    assert "errors" not in answer, answer


# --- the table itself ---------------------------------------------------------------------


def test_code_table_is_access_md() -> None:
    table = {row.area.value: tuple(row.rule(Role(r)).value for r in ROLES) for row in TABLE}
    assert table == ACCESS_MD
    sections = {row.area.value for row in TABLE if isinstance(row.area, Section)}
    assert sections == RESTRICTABLE | UNRESTRICTABLE
    assert {row.area.value for row in TABLE if row.restrictable} == RESTRICTABLE
    assert {row.area.value for row in TABLE if row.in_emergency} == IN_EMERGENCY
    assert {section for section, _ in PASSPORT_FIELDS.values()} == sections


def test_me_lists_the_readable_sections_of_each_role(stack: Stack) -> None:
    patient_iin = min(stack.ground_truth["people"])
    for role in ROLES:
        claims = {"iin": patient_iin} if role == "PATIENT" else {}
        token = stack.token(role.lower(), **claims)
        answer = stack.graphql("{ me { role readableSections } }", {}, token).json()
        expected = [
            row.area.value
            for row in TABLE
            if isinstance(row.area, Section) and rule(row.area.value, role) != "-"
        ]
        assert answer["data"]["me"] == {"role": role, "readableSections": expected}


# --- the matrix ---------------------------------------------------------------------------


def _assert_value(name: str, value: Any, truth: dict[str, Any], role: str, iin: str) -> None:
    """An allowed section carries the patient's data, as the ground truth has it."""
    lists = {
        "diagnosticStudies": "diagnosticStudies",
        "labResults": "labResults",
        "immunizations": "immunizations",
        "screenings": "screenings",
        "problems": "problems",
        "currentMedications": "currentMedications",
        "encounters": "encounters",
        "dispensations": "dispensations",
    }
    if name in ("screeningPlan", "doseCheck"):
        assert isinstance(value, list), name  # derived data: its content is tested elsewhere
    elif name in lists:
        assert isinstance(value, list), name
        assert len(value) == len(truth[lists[name]]), name
    elif name == "identity":
        assert value == {"iin": iin, "fullName": truth["identity"]["fullName"]}
    elif name == "careTeam":
        attached = truth["careTeam"]["attachedOrganization"]
        assert value["attachedOrganization"]["bin"] == attached["bin"]
    elif name == "emergency":
        assert value["bloodGroup"] == truth["bloodGroup"]
    elif name == "allergies":
        active = [a for a in truth["allergies"] if a.get("clinicalStatus", "active") == "active"]
        assert len(value) == len(active)
    elif name == "lifestyle":
        assert value == truth["lifestyle"]
    elif name == "riskBehaviours":
        assert (value is None) == (truth["riskBehaviours"] is None)
    elif name == "physiologicalState":
        recorded = truth["physiologicalState"] and any(truth["physiologicalState"].values())
        assert (value is not None) == bool(recorded)
    elif name == "anthropometrics":
        assert (value is None) == (truth["anthropometrics"] is None)
    if name == "dispensations":
        amounts = Counter(d["amountKzt"] for d in value)
        if rule("DISPENSATIONS", role) == "R no cost":
            assert set(amounts) <= {None}
        else:
            assert amounts == Counter(d["amountKzt"] for d in truth["dispensations"])


@pytest.mark.parametrize(("role", "situation_name"), CASES)
def test_every_section_of_every_role_in_every_situation(
    stack: Stack, cast: Cast, restrictions, role: str, situation_name: str
) -> None:
    situation = SITUATIONS[situation_name]
    if situation.restricted:
        assert sorted(restrictions()) == sorted(RESTRICTABLE)
    variables = {"iin": cast.iin, "reason": REASON if situation.break_glass else None}
    observed = observe(stack, PASSPORT_QUERY, variables, token_for(stack, cast, role, situation))
    assert observed.status == 200

    if whole_read_refused(role, situation):
        assert observed.body["data"] == {"passport": None}
        assert observed.errors == {("passport",): [FORBIDDEN]}
        if role in CLINICIANS:
            assert_only_decision_lookups(observed, cast.iin)
        else:
            assert observed.total() == 0, observed.requests
        return

    passport = observed.body["data"]["passport"]
    errors = observed.errors
    allowed: set[str] = set()
    for selection, (section, _) in PASSPORT_FIELDS.items():
        name = field_name(selection)
        outcome = field_outcome(role, situation, name)
        path = ("passport", name)
        if outcome == VALUE:
            assert path not in errors, (name, errors[path])
            _assert_value(name, passport[name], cast.truth, role, cast.iin)
            allowed.add(section)
        else:
            assert passport[name] is None, name
            assert errors.get(path) == [outcome], (name, errors.get(path))
    assert passport["iin"] == cast.iin
    expected_restricted = sorted(RESTRICTABLE) if situation.restricted else []
    assert passport["restrictedSections"] == expected_restricted
    assert_asked_only_for(observed, allowed)
    # The relationship is looked up only when the decision needs it: a clinician with no reason.
    if situation.break_glass or role not in CLINICIANS:
        assert observed.ehr_searches("Encounter") == []


# --- emergency(iin, reason), generated from the table's emergency column -------------------

EMERGENCY_QUERY = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
  identity { iin } bloodGroup allergies { substance { code } } activeProblems { status }
  currentMedications { name } implants { code } pregnancy { status } weightKg
  sources { source ok }
} }
"""


@pytest.mark.parametrize("role", ROLES)
def test_emergency_entry_point(stack: Stack, cast: Cast, role: str) -> None:
    situation = SITUATIONS["unrelated"]
    token = token_for(stack, cast, role, situation)
    observed = observe(stack, EMERGENCY_QUERY, {"iin": cast.iin, "reason": REASON}, token)
    readable = {s for s in IN_EMERGENCY if rule(s, role) != "-"}
    if role in ("PATIENT", "MANAGER"):
        assert observed.body["data"] == {"emergency": None}
        assert observed.errors == {("emergency",): [FORBIDDEN]}
        assert observed.total() == 0
        return
    assert "errors" not in observed.body, observed.body["errors"]
    data = observed.body["data"]["emergency"]
    truth = cast.truth
    assert data["identity"] == {"iin": cast.iin}
    assert data["bloodGroup"] == truth["bloodGroup"]
    active = [p for p in truth["problems"] if p["status"] == "ACTIVE"]
    assert [p["status"] for p in data["activeProblems"]] == ["ACTIVE"] * len(active)
    assert len(data["currentMedications"]) == len(truth["currentMedications"])
    assert all(status["ok"] for status in data["sources"])
    # Only what the emergency summary is made of; no laboratory, dispensing or dispatch data.
    assert_asked_only_for(observed, readable)


def test_emergency_role_cannot_use_passport_but_emergency_works(stack: Stack, cast: Cast) -> None:
    token = stack.token("emergency", subject=random_subject())
    refused = observe(stack, PASSPORT_QUERY, {"iin": cast.iin, "reason": REASON}, token)
    assert refused.errors == {("passport",): [FORBIDDEN]}
    assert refused.total() == 0
    answer = stack.graphql(EMERGENCY_QUERY, {"iin": cast.iin, "reason": REASON}, token).json()
    assert answer["data"]["emergency"]["identity"] == {"iin": cast.iin}


# --- refusals that need (almost) nothing upstream -----------------------------------------

LAB_ONLY = "query($iin: IIN!) { passport(iin: $iin) { labResults { value } } }"
IDENTITY_ONLY = (
    "query($iin: IIN!, $reason: String) "
    "{ passport(iin: $iin, breakGlassReason: $reason) { identity { iin } } }"
)


def test_patient_asking_for_another_iin_is_forbidden_with_only_guardianship_asked(
    stack: Stack, cast: Cast
) -> None:
    token = stack.token("patient", iin=cast.iin, subject=random_subject())
    observed = observe(stack, PASSPORT_QUERY, {"iin": cast.other_iin}, token)
    assert observed.body["data"] == {"passport": None}
    assert observed.errors == {("passport",): [FORBIDDEN]}
    assert_only_guardian_lookups(observed, cast.iin)
    assert observed.api("register")  # whether the caller is that person's guardian


def assert_only_guardian_lookups(observed: Observed, guardian_iin: str) -> None:
    """Only the register was asked, and only for the RelatedPersons naming the caller and the
    Patients they point to: nothing of the person asked for."""
    for name in observed.requests:
        if name != "register":
            assert observed.api(name) == [], name
    for request in observed.api("register"):
        params = parse_qs(request["query"])
        kind = request["path"].rstrip("/").rsplit("/", 1)[-1]
        if kind == "RelatedPerson":
            assert params["identifier"] == [f"urn:kz:iin|{guardian_iin}"], request
        else:
            assert kind == "Patient" and set(params) == {"_id", "_count"}, request


# --- guardians (ACCESS.md "Guardians"): each kind of family tie, from the ground truth ------


@dataclass(frozen=True)
class Family:
    """A child and an adult the register names as their parent or guardian (or once did)."""

    child: str
    guardian: str
    allowed: bool


def choose_families(truth: dict[str, Any]) -> dict[str, Family]:
    """One family per kind of tie: the richest child of a mother, a legal guardian, the twins'
    grandmother (and the other twin), a child turned 18, an ended guardianship, a stranger."""
    people = truth["people"]

    def tie(child: str, code: str | None = None, granted: bool | None = None) -> Family:
        guardian = next(
            g
            for g in people[child]["guardians"]
            if (code is None or g["relationship"] == code)
            and (granted is None or g["grantsAccess"] is granted)
        )
        return Family(child, guardian["iin"], guardian["grantsAccess"])

    mothers = sorted(
        (-len(p["labResults"]) - len(p["immunizations"]), iin)
        for iin, p in people.items()
        if p["ehrRegions"]
        and p["inLis"]
        and any(g["grantsAccess"] and g["relationship"] == "MTH" for g in p["guardians"])
    )
    own = tie(mothers[0][1], "MTH", True)
    twin = next(
        c
        for c in truth["edgeCases"]["twins"]
        if any(g["relationship"] == "GUARD" for g in people[c]["guardians"])
    )
    grandmother = tie(twin, "GUARD", True)
    stranger = next(
        iin
        for iin, p in sorted(people.items())
        if p["identity"]["age"] < 18 and own.guardian not in {g["iin"] for g in p["guardians"]}
    )
    return {
        "own-child": own,
        "legal-guardian": tie(truth["edgeCases"]["legalGuardian"][0], "GUARD", True),
        "twins-grandmother": grandmother,
        "other-twin": Family(people[twin]["twin"], grandmother.guardian, False),
        "child-turned-18": tie(truth["edgeCases"]["childTurned18"][0]),
        "guardianship-ended": tie(truth["edgeCases"]["guardianEnded"][0], granted=False),
        "other-child": Family(stranger, own.guardian, False),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "own-child",
        "legal-guardian",
        "twins-grandmother",
        "other-twin",
        "child-turned-18",
        "guardianship-ended",
        "other-child",
    ],
)
def test_guardian_reads_every_section_as_the_child_would(stack: Stack, kind: str) -> None:
    family = choose_families(stack.ground_truth)[kind]
    truth = stack.ground_truth["people"][family.child]
    token = stack.token("patient", iin=family.guardian, subject=random_subject())
    observed = observe(stack, PASSPORT_QUERY, {"iin": family.child}, token)
    assert observed.status == 200
    if not family.allowed:
        assert observed.body["data"] == {"passport": None}
        assert observed.errors == {("passport",): [FORBIDDEN]}
        assert_only_guardian_lookups(observed, family.guardian)
        return
    passport = observed.body["data"]["passport"]
    # The patient's column of ACCESS.md: everything, the dose check aside (clinicians only).
    assert observed.errors == {("passport", "doseCheck"): [FORBIDDEN]}
    allowed = set()
    for selection, (section, _) in PASSPORT_FIELDS.items():
        name = field_name(selection)
        if name != "doseCheck":
            _assert_value(name, passport[name], truth, "PATIENT", family.child)
            allowed.add(section)
    assert passport["iin"] == family.child
    assert passport["restrictedSections"] == []
    assert_asked_only_for(observed, allowed)


def test_manager_asking_for_a_passport_is_forbidden_with_nothing_asked(
    stack: Stack, cast: Cast
) -> None:
    observed = observe(
        stack, IDENTITY_ONLY, {"iin": cast.iin}, stack.token("manager", subject=random_subject())
    )
    assert observed.errors == {("passport",): [FORBIDDEN]}
    assert observed.total() == 0


def test_nurse_asking_for_lab_results_is_forbidden_and_the_lab_is_not_asked(
    stack: Stack, cast: Cast
) -> None:
    nurse = cast.attached
    token = stack.token(
        "nurse", org_bin=nurse.org_bin, practitioner_id=nurse.practitioner_id, subject="n"
    )
    observed = observe(stack, LAB_ONLY, {"iin": cast.iin}, token)
    assert observed.body["data"] == {"passport": {"labResults": None}}
    assert observed.errors == {("passport", "labResults"): [FORBIDDEN]}
    # The register answers whether the patient is attached here; nothing else is asked.
    assert [name for name in stack.urls if observed.api(name)] == ["register"]


def test_unrelated_doctor_without_reason_is_forbidden_and_no_clinical_data_is_read(
    stack: Stack, cast: Cast
) -> None:
    doctor = cast.unrelated
    token = stack.token(
        "doctor", org_bin=doctor.org_bin, practitioner_id=doctor.practitioner_id, subject="d"
    )
    observed = observe(stack, PASSPORT_QUERY, {"iin": cast.iin}, token)
    assert observed.errors == {("passport",): [FORBIDDEN]}
    assert_only_decision_lookups(observed, cast.iin)
    # The EHRs holding the patient were asked about encounters, nothing more.
    assert observed.ehr_searches("Encounter")


@pytest.mark.parametrize("reason", ["too short", "         x         ", ""])
def test_short_break_glass_reason_is_bad_user_input(stack: Stack, cast: Cast, reason: str) -> None:
    doctor = cast.unrelated
    token = stack.token("doctor", org_bin=doctor.org_bin, practitioner_id=doctor.practitioner_id)
    observed = observe(stack, IDENTITY_ONLY, {"iin": cast.iin, "reason": reason}, token)
    assert observed.body["data"] == {"passport": None}
    assert observed.errors == {("passport",): [BAD_USER_INPUT]}
    assert_only_decision_lookups(observed, cast.iin)


@pytest.mark.parametrize("iin", ["12345", "123456789012", "abcdefghijkl", "1234567890123"])
def test_invalid_iin_is_bad_user_input_before_any_source(stack: Stack, iin: str) -> None:
    token = stack.token("doctor", org_bin=stack.ground_truth["organizations"][0]["bin"])
    observed = observe(stack, IDENTITY_ONLY, {"iin": iin, "reason": REASON}, token)
    codes = [e["extensions"]["code"] for e in observed.body["errors"]]
    assert codes == [BAD_USER_INPUT]
    assert observed.body.get("data") is None or observed.body["data"] == {"passport": None}
    assert observed.total() == 0


def _iin_check_digit(first_eleven: str) -> int | None:
    """SOURCES.md's check digit (two weight passes, mod 11), written here independently."""
    digits = [int(c) for c in first_eleven]
    for weights in (range(1, 12), [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if remainder != 10:
            return remainder
    return None


def unknown_valid_iin(truth: dict[str, Any]) -> str:
    """A well-formed IIN that no one in the population has."""
    for serial in range(1000, 9999):
        first = f"8001013{serial:04d}"
        digit = _iin_check_digit(first)
        if digit is not None and first + str(digit) not in truth["people"]:
            return first + str(digit)
    raise AssertionError("no free IIN")


def test_own_check_digit_agrees_with_the_population(stack: Stack) -> None:
    for iin in list(stack.ground_truth["people"])[:50]:
        assert _iin_check_digit(iin[:11]) == int(iin[11])


def test_unknown_iin_is_not_found(stack: Stack) -> None:
    iin = unknown_valid_iin(stack.ground_truth)
    token = stack.token("doctor", org_bin=stack.ground_truth["organizations"][0]["bin"])
    answer = stack.graphql(IDENTITY_ONLY, {"iin": iin, "reason": REASON}, token).json()
    assert answer["data"] == {"passport": None}
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [
        (["passport"], NOT_FOUND)
    ]


# --- restrictions -------------------------------------------------------------------------

RESTRICT = """
mutation($section: Section!, $on: Boolean!) { restrictSection(section: $section, restricted: $on) }
"""
RESTRICTED_SECTIONS = "query($iin: IIN!) { passport(iin: $iin) { restrictedSections } }"


@pytest.mark.parametrize("section", sorted(UNRESTRICTABLE))
def test_unrestrictable_section_is_bad_user_input(stack: Stack, cast: Cast, section: str) -> None:
    token = stack.token("patient", iin=cast.iin, subject=random_subject())
    answer = stack.graphql(RESTRICT, {"section": section, "on": True}, token).json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == [BAD_USER_INPUT]
    shown = stack.graphql(RESTRICTED_SECTIONS, {"iin": cast.iin}, token).json()
    assert section not in shown["data"]["passport"]["restrictedSections"]


def test_restricted_sections_show_the_patients_choice(stack: Stack, cast: Cast) -> None:
    token = stack.token("patient", iin=cast.iin, subject=random_subject())
    try:
        first = stack.graphql(RESTRICT, {"section": "LAB_RESULTS", "on": True}, token).json()
        assert first == {"data": {"restrictSection": ["LAB_RESULTS"]}}
        second = stack.graphql(RESTRICT, {"section": "ENCOUNTERS", "on": True}, token).json()
        assert second == {"data": {"restrictSection": ["ENCOUNTERS", "LAB_RESULTS"]}}
        shown = stack.graphql(RESTRICTED_SECTIONS, {"iin": cast.iin}, token).json()
        assert shown["data"]["passport"]["restrictedSections"] == ["ENCOUNTERS", "LAB_RESULTS"]
    finally:
        for section in ("LAB_RESULTS", "ENCOUNTERS"):
            stack.graphql(RESTRICT, {"section": section, "on": False}, token)
    shown = stack.graphql(RESTRICTED_SECTIONS, {"iin": cast.iin}, token).json()
    assert shown["data"]["passport"]["restrictedSections"] == []


@pytest.mark.parametrize("role", ["EMERGENCY", "NURSE", "DOCTOR", "MANAGER"])
def test_only_patients_restrict_sections(stack: Stack, cast: Cast, role: str) -> None:
    token = stack.token(role.lower(), org_bin=cast.attached.org_bin)
    answer = stack.graphql(RESTRICT, {"section": "LAB_RESULTS", "on": True}, token).json()
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == [FORBIDDEN]
