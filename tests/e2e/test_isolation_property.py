"""Issue 5 acceptance, isolation property: caching never mixes people or widens access.

Hypothesis draws sequences of requests by random principals (the patient, another patient,
attached and unrelated nurses and doctors with and without break-glass, emergency crews,
managers, and the parents and guardians the register names for a child, whether the tie grants
access today or not: ended, child turned 18, the twins' grandmother) for random people of a
small pool, so reads of one person by one principal are
often followed by reads of the same person by another through a warm cache. Every answer
must hold only the asked-for person's data (checked against the ground truth) and exactly
the sections `gateway.auth.policy.decide` allows (the ACCESS.md table, the spec here),
with the memory cache, with no cache (every ttl 0), and with two replicas sharing Redis.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import HealthCheck, given, settings

from gateway.auth.policy import CareRelationship, Decision, EntryPoint, Section, decide
from gateway.auth.principal import Principal, Role
from gateway.errors import Forbidden
from gateway.sources.crypto import subject_hash
from tests.e2e.conftest import Gateway, Stack
from tests.e2e.test_resilience import errors_by_path, gateway_settings, people, running_gateway

# Passport field -> (its selection, the Section it discloses: ACCESS.md).
FIELDS: dict[str, tuple[str, Section]] = {
    "identity": ("{ iin fullName }", Section.IDENTITY),
    "careTeam": ("{ attachedOrganization { bin } }", Section.CARE_TEAM),
    "emergency": (
        "{ identity { iin } bloodGroup allergies { substance { code } } }",
        Section.EMERGENCY,
    ),
    "allergies": ("{ substance { code } }", Section.ALLERGIES),
    "lifestyle": ("{ exerciseMinutesPerWeek sleepHoursPerDay }", Section.LIFESTYLE),
    "diagnosticStudies": ("{ code { code } conclusion }", Section.DIAGNOSTIC_STUDIES),
    "labResults": ("{ orderNumber }", Section.LAB_RESULTS),
    "physiologicalState": ("{ bloodPressure heartRate }", Section.PHYSIOLOGICAL_STATE),
    "riskBehaviours": ("{ smoking alcoholAuditC drugUse }", Section.RISK_BEHAVIOURS),
    "immunizations": ("{ vaccine { code } date }", Section.IMMUNIZATIONS),
    "screenings": ("{ code { code } date }", Section.SCREENINGS),
    "problems": ("(includeResolved: true) { code { code } }", Section.PROBLEMS),
    "currentMedications": ("{ code { code } }", Section.MEDICATIONS),
    "anthropometrics": ("{ weightKg heightCm }", Section.ANTHROPOMETRICS),
    "encounters": ("{ kind start }", Section.ENCOUNTERS),
    "dispensations": ("{ drug { code } amountKzt }", Section.DISPENSATIONS),
}
EMERGENCY_QUERY = """
query($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
  identity { iin fullName } bloodGroup allergies { substance { code } }
  activeProblems { code { code } } currentMedications { code { code } } sources { source ok }
} }
"""
EMERGENCY_REQUESTED = frozenset(
    {Section.IDENTITY, Section.EMERGENCY, Section.ALLERGIES, Section.PROBLEMS, Section.MEDICATIONS}
)
KINDS = (
    "patient-self",
    "patient-other",
    "nurse-attached",
    "nurse-unrelated",
    "doctor-attached",
    "doctor-unrelated",
    "emergency",
    "manager",
    "guardian",
)
BREAK_GLASS = (None, "unconscious, brought in by ambulance", "short")
EMERGENCY_REASONS = ("chest pain", "x")
POOL_SIZE = 10


@dataclass(frozen=True)
class Step:
    """One drawn request: who, about whom, through which entry, asking for what."""

    kind: str
    person: int
    emergency_entry: bool
    fields: tuple[str, ...]
    reason: int
    via: int  # which replica answers (shared variant)


steps = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(KINDS),
        person=st.integers(0, POOL_SIZE - 1),
        emergency_entry=st.booleans(),
        fields=st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=6, unique=True).map(
            tuple
        ),
        reason=st.integers(0, len(BREAK_GLASS) - 1),
        via=st.integers(0, 1),
    ),
    min_size=1,
    max_size=4,
)


@dataclass
class World:
    """The stack, the pool of people, and organisations unrelated to each of them."""

    stack: Stack
    pool: list[str]
    # (child, a RelatedPerson's adult, whether the truth grants access today)
    families: list[tuple[str, str, bool]]

    def truth(self, iin: str) -> dict[str, Any]:
        """The person's ground truth."""
        return self.stack.ground_truth["people"][iin]

    def attached_bin(self, iin: str) -> str:
        """The BIN of the polyclinic the person is attached to."""
        return self.truth(iin)["careTeam"]["attachedOrganization"]["bin"]

    def unrelated_bin(self, iin: str) -> str:
        """A polyclinic neither attached to nor ever visited by the person."""
        person = self.truth(iin)
        visited = {(e.get("organization") or {}).get("bin") for e in person["encounters"]}
        visited.add(self.attached_bin(iin))
        organizations = self.stack.ground_truth["organizations"]
        return next(o["bin"] for o in organizations if o["bin"] not in visited)


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    """Ten attached people with rich records, so cached items overlap between steps."""

    def rich(person: dict[str, Any]) -> bool:
        return bool(
            person["careTeam"]["attachedOrganization"]
            and person["problems"]
            and person["allergies"]
            and person["labResults"]
        )

    candidates = people(stack, rich)
    pool = candidates[:: max(1, len(candidates) // POOL_SIZE)][:POOL_SIZE]
    return World(stack, pool, family_ties(stack.ground_truth))


def family_ties(truth: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Every RelatedPerson of the family edge cases (ended, turned 18, twins, legal guardian)
    and of a few more children, with the truth's verdict for today."""
    cases = ("guardianEnded", "childTurned18", "twins", "legalGuardian")
    children = {c for case in cases for c in truth["edgeCases"][case]}
    children |= set(sorted(c for c, p in truth["people"].items() if p["guardians"])[:6])
    ties = {
        (child, g["iin"], g["grantsAccess"])
        for child in children
        for g in truth["people"][child]["guardians"]
    }
    return sorted(ties)


def _subject(world: World, step: Step) -> tuple[str, bool | None]:
    """Whose record a step asks for; for a guardian's step, also whether the truth grants it."""
    if step.kind == "guardian":
        child, _, allowed = world.families[step.person % len(world.families)]
        return child, allowed
    return world.pool[step.person], None


def _principal(world: World, step: Step, iin: str) -> tuple[Principal, dict[str, Any]]:
    """The principal of a step and the claims of its token."""
    kind = step.kind
    role = Role.PATIENT if kind == "guardian" else Role(kind.split("-")[0].upper())
    claims: dict[str, Any] = {}
    if kind == "guardian":
        claims["iin"] = world.families[step.person % len(world.families)][1]
    elif kind == "patient-self":
        claims["iin"] = iin
    elif kind == "patient-other":
        claims["iin"] = next(other for other in world.pool if other != iin)
    elif role in (Role.NURSE, Role.DOCTOR):
        attached = kind.endswith("-attached")
        claims["org_bin"] = world.attached_bin(iin) if attached else world.unrelated_bin(iin)
        claims["practitioner_id"] = "P-test"
    elif role is Role.EMERGENCY:
        claims["org_bin"] = "000000000000"
    subject = f"prop-{kind}"
    return Principal(subject=subject, role=role, **claims), claims


def _relationship(world: World, principal: Principal, iin: str) -> CareRelationship | None:
    if principal.role not in (Role.NURSE, Role.DOCTOR):
        return None
    return CareRelationship(
        attached=principal.org_bin == world.attached_bin(iin), recent_encounter=False
    )


def _passport_query(fields: tuple[str, ...]) -> str:
    selection = " ".join(f"{name} {FIELDS[name][0]}" for name in fields)
    return (
        "query($iin: IIN!, $reason: String) { passport(iin: $iin, breakGlassReason: $reason) "
        f"{{ iin {selection} sources {{ source ok }} }} }}"
    )


def _active_allergies(person: dict[str, Any]) -> set[str]:
    return {
        a["substance"]["code"]
        for a in person["allergies"]
        if a.get("clinicalStatus", "active") == "active"
    }


def _check_section(
    name: str, value: Any, person: dict[str, Any], iin: str, decision: Decision
) -> None:
    """A served section holds the asked-for person's data, exactly as the ground truth has it."""
    if name == "identity":
        assert value == {"iin": iin, "fullName": person["identity"]["fullName"]}
    elif name == "careTeam":
        assert (
            value["attachedOrganization"]["bin"]
            == (person["careTeam"]["attachedOrganization"]["bin"])
        )
    elif name == "emergency":
        assert value["identity"]["iin"] == iin
        assert value["bloodGroup"] == person["bloodGroup"]
        assert {a["substance"]["code"] for a in value["allergies"]} == _active_allergies(person)
    elif name == "allergies":
        assert {a["substance"]["code"] for a in value} == _active_allergies(person)
    elif name == "labResults":
        assert {r["orderNumber"] for r in value} == {r["orderNumber"] for r in person["labResults"]}
    elif name == "problems":
        assert {p["code"]["code"] for p in value} == {p["code"]["code"] for p in person["problems"]}
    elif name == "immunizations":
        assert Counter((i["vaccine"]["code"], i["date"]) for i in value) == Counter(
            (i["vaccine"]["code"], i["date"]) for i in person["immunizations"]
        )
    elif name == "screenings":
        assert Counter((s["code"]["code"], s["date"]) for s in value) == Counter(
            (s["code"]["code"], s["date"]) for s in person["screenings"]
        )
    elif name == "currentMedications":
        assert {m["code"]["code"] for m in value} == {
            m["code"]["code"] for m in person["currentMedications"]
        }
    elif name == "encounters":
        assert Counter((e["kind"], datetime.fromisoformat(e["start"])) for e in value) == Counter(
            (e["kind"], datetime.fromisoformat(e["start"])) for e in person["encounters"]
        )
    elif name == "dispensations":
        assert {d["drug"]["code"] for d in value} == {
            d["drug"]["code"] for d in person["dispensations"]
        }
        amounts = {d["amountKzt"] for d in value}
        if decision.show_cost:
            assert amounts == {d["amountKzt"] for d in person["dispensations"]}
        else:
            assert amounts <= {None}
    elif name == "diagnosticStudies":
        assert {d["code"]["code"] for d in value} == {
            d["code"]["code"] for d in person["diagnosticStudies"]
        }
    elif name == "riskBehaviours" and person["riskBehaviours"] is not None:
        assert value["smoking"] == person["riskBehaviours"]["smoking"]
    elif name == "anthropometrics" and person["anthropometrics"] is not None:
        assert value["weightKg"] == person["anthropometrics"]["weightKg"]
    elif name == "lifestyle" and value is not None:
        assert value == {
            k: person["lifestyle"][k] for k in ("exerciseMinutesPerWeek", "sleepHoursPerDay")
        }


def run_steps(world: World, gateways: list[Gateway], drawn: list[Step]) -> None:
    """Send each drawn request and check the answer against the decision and the truth."""
    stack = world.stack
    policy = gateways[0].settings.policy
    for step in drawn:
        iin, granted = _subject(world, step)
        person = world.truth(iin)
        principal, claims = _principal(world, step, iin)
        token = stack.token(principal.role.value.lower(), subject=principal.subject, **claims)
        gateway = gateways[step.via % len(gateways)]
        if step.emergency_entry:
            reason = EMERGENCY_REASONS[step.reason % len(EMERGENCY_REASONS)]
            decision = decide(
                principal,
                EntryPoint.EMERGENCY,
                iin,
                EMERGENCY_REQUESTED,
                None,
                frozenset(),
                reason,
                policy,
            )
            response = gateway.graphql(EMERGENCY_QUERY, {"iin": iin, "reason": reason}, token)
            assert response.status_code == 200
            body = response.json()
            data = body["data"]["emergency"] if body.get("data") else None
            if decision.refused:
                assert data is None
                assert errors_by_path(body) == {("emergency",): decision.denial.code}
                continue
            assert errors_by_path(body) == {}
            assert data["identity"] == {"iin": iin, "fullName": person["identity"]["fullName"]}
            assert data["bloodGroup"] == person["bloodGroup"]
            assert {a["substance"]["code"] for a in data["allergies"]} == _active_allergies(person)
            assert {p["code"]["code"] for p in data["activeProblems"]} == {
                p["code"]["code"] for p in person["problems"] if p["status"] == "ACTIVE"
            }
            continue
        break_glass = BREAK_GLASS[step.reason]
        requested = frozenset(FIELDS[name][1] for name in step.fields)
        # ACCESS.md: a guardian the truth grants access sees what the child sees; any other
        # patient asking for someone else is refused.
        reader = principal
        if granted:
            reader = Principal(subject=principal.subject, role=Role.PATIENT, iin=iin)
        decision = decide(
            reader,
            EntryPoint.PASSPORT,
            iin,
            requested,
            _relationship(world, principal, iin),
            frozenset(),
            break_glass,
            policy,
        )
        if granted is False:
            assert decision.refused and decision.denial.code == Forbidden.code
        response = gateway.graphql(
            _passport_query(step.fields), {"iin": iin, "reason": break_glass}, token
        )
        assert response.status_code == 200
        body = response.json()
        passport = body["data"]["passport"] if body.get("data") else None
        if decision.refused:
            assert passport is None
            assert errors_by_path(body) == {("passport",): decision.denial.code}
            continue
        expected_errors = {
            ("passport", name): decision.denied[FIELDS[name][1]]
            for name in step.fields
            if FIELDS[name][1] in decision.denied
        }
        assert errors_by_path(body) == expected_errors
        assert passport["iin"] == iin
        for name in step.fields:
            if FIELDS[name][1] in decision.denied:
                assert passport[name] is None, name
            else:
                _check_section(name, passport[name], person, iin, decision)
        assert all(status["ok"] for status in passport["sources"])


def _own_audit(tmp: Path) -> dict[str, Any]:
    # Its own audit database, so no other test's patient restrictions apply here.
    return {"database_url": f"sqlite:///{tmp / 'audit.db'}"}


@pytest.fixture(scope="module")
def memory_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway whose memory cache stays warm across all examples."""
    settings = gateway_settings(stack, audit=_own_audit(tmp_path_factory.mktemp("memory")))
    with running_gateway(stack, settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def uncached_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway where nothing stays fresh (every ttl_s 0): every read goes upstream."""
    no_ttl = {name: {"ttl_s": 0} for name in _source_names(stack)}
    audit = _own_audit(tmp_path_factory.mktemp("uncached"))
    settings = gateway_settings(stack, sources=no_ttl, audit=audit)
    with running_gateway(stack, settings) as gateway:
        yield gateway


def _source_names(stack: Stack) -> list[str]:
    return [source.name for source in stack.settings().sources]


@pytest.fixture(scope="module")
def shared_gateways(
    stack: Stack, world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Gateway]]:
    """Two replicas on one Redis (a random salt of their own; their keys deleted after)."""
    salt = secrets.token_hex(16)
    cache = {
        "backend": "redis",
        "redis_url": "redis://127.0.0.1:6379/0",
        "encryption_key": base64.b64encode(os.urandom(32)).decode(),
        "key_salt": salt,
    }
    audit = _own_audit(tmp_path_factory.mktemp("shared"))
    settings = gateway_settings(stack, cache=cache, audit=audit)
    try:
        with contextlib.ExitStack() as replicas:
            yield [replicas.enter_context(running_gateway(stack, settings)) for _ in range(2)]
    finally:
        client = redis.Redis.from_url(cache["redis_url"])
        try:
            family = {iin for tie in world.families for iin in tie[:2]}
            for iin in {*world.pool, *family}:
                digest = subject_hash(salt.encode("utf-8"), iin)
                for key in client.scan_iter(match=f"*{digest}*", count=1000):
                    client.delete(key)
        finally:
            client.close()


PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


@PROPERTY
@given(drawn=steps)
def test_memory_cache_never_mixes_people_or_widens_access(
    world: World, memory_gateway: Gateway, drawn: list[Step]
) -> None:
    run_steps(world, [memory_gateway], drawn)


@PROPERTY
@given(drawn=steps)
def test_without_cache_never_mixes_people_or_widens_access(
    world: World, uncached_gateway: Gateway, drawn: list[Step]
) -> None:
    run_steps(world, [uncached_gateway], drawn)


@pytest.mark.redis
@PROPERTY
@given(drawn=steps)
def test_shared_redis_cache_never_mixes_people_or_widens_access(
    world: World, shared_gateways: list[Gateway], drawn: list[Step]
) -> None:
    run_steps(world, shared_gateways, drawn)
