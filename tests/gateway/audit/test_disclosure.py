"""A request's attempts become one audit event per person and basis, with the telling outcome."""

from __future__ import annotations

from dataclasses import replace

from gateway.audit import open_audit_store
from gateway.audit.disclosure import Disclosure, Refusal, disclosure_events
from gateway.audit.events import Outcome
from gateway.auth.policy import Basis
from gateway.auth.principal import Principal, Role
from tests.gateway.audit import AIGUL, BEKZAT, SECRET, disclosure, trail

DOCTOR = Principal("doc-1", Role.DOCTOR, practitioner_id="P-1", org_bin="040340004567")


def test_one_event_per_person_and_basis():
    events = disclosure_events(
        DOCTOR,
        "req-1",
        [
            Disclosure(AIGUL, frozenset({"IDENTITY"}), "triage", True, basis=Basis.BREAK_GLASS),
            Disclosure(AIGUL, frozenset({"ALLERGIES"}), "triage", True, basis=Basis.BREAK_GLASS),
            Disclosure(AIGUL, frozenset({"ALLERGIES"}), "ward", basis=Basis.EMERGENCY),
            Refusal(BEKZAT, Basis.CARE_RELATIONSHIP).disclosure(),
        ],
    )
    assert [(e.patient_iin, e.basis, e.outcome, e.sections) for e in events] == [
        (AIGUL, Basis.BREAK_GLASS, Outcome.DISCLOSED, ("ALLERGIES", "IDENTITY")),
        (AIGUL, Basis.EMERGENCY, Outcome.DISCLOSED, ("ALLERGIES",)),
        (BEKZAT, Basis.CARE_RELATIONSHIP, Outcome.REFUSED, ()),
    ]
    assert [e.break_glass for e in events] == [True, False, False]
    assert {e.request_id for e in events} == {"req-1"}


def test_the_most_telling_outcome_and_any_shown_restrictions_win():
    glass = Basis.BREAK_GLASS
    [event] = disclosure_events(
        DOCTOR,
        "req-2",
        [
            Refusal(AIGUL, glass, "why").disclosure(),
            Disclosure(AIGUL, frozenset(), "a long reason", True, Outcome.NOT_FOUND, glass),
        ],
    )
    assert (event.outcome, event.reason, event.break_glass) == (
        Outcome.NOT_FOUND,
        "a long reason; why",
        True,
    )
    [event] = disclosure_events(
        DOCTOR,
        "req-3",
        [
            Disclosure(AIGUL, frozenset(), basis=glass, restrictions_shown=True),
            Refusal(AIGUL, glass).disclosure(),
        ],
    )
    assert (event.outcome, event.restrictions_shown) == (Outcome.DISCLOSED, True)


async def test_the_store_keeps_every_basis_and_outcome_guardian_included(backend):
    store = open_audit_store(backend.url, SECRET, trail(backend.directory))
    await store.open()
    try:
        pairs = [(basis, outcome) for basis in Basis for outcome in Outcome]
        for n, (basis, outcome) in enumerate(pairs):
            await store.append(replace(disclosure(n), basis=basis, outcome=outcome))
        stored = await store.events_for_patient(AIGUL, 100)
        assert [(e.basis, e.outcome) for e in reversed(stored)] == [
            (b.value, o.value) for b, o in pairs
        ]
        assert (await store.verify()).ok
    finally:
        await store.close()
