"""Opening a read of a person's record: gather what the policy needs, then decide once.

For a nurse or doctor without a reason, the care relationship is established first (the
register's attachment, then an encounter at their organisation within the care window,
asked of the EHRs with the smallest query), and the patient's restrictions are read. For a
patient asking for another IIN, the register's RelatedPersons naming the caller are read
(guardians). Only then does ``decide`` run, and only the sections it allows are ever requested.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.audit.disclosure import Refusal
from gateway.auth.policy import (
    CLINICIANS,
    CareRelationship,
    EntryPoint,
    Guardians,
    Section,
    decide,
    needs_guardians,
    needs_relationship,
)
from gateway.auth.principal import Principal
from gateway.clock import today
from gateway.deadline import Deadline
from gateway.errors import Internal, SourceUnavailable
from gateway.iin import is_valid_iin
from gateway.resolvers.context import RequestContext
from gateway.resolvers.reads import PatientRead
from gateway.sources import PersonReader


async def open_read(
    context: RequestContext,
    iin: str,
    entry: EntryPoint,
    requested: frozenset[Section],
    reason: str | None,
    deadline: Deadline | None = None,
    fields: frozenset[str] = frozenset(),
) -> PatientRead:
    """Decide what this request may read of ``iin`` and start loading exactly that
    (``fields``: the selected field names, for the fields that need more than their section)."""
    principal = context.principal
    reader = context.services.sources.person(iin, deadline or context.deadline)
    reader.care_team = Section.CARE_TEAM in requested or (
        principal.role in CLINICIANS and entry is EntryPoint.PASSPORT
    )
    relationship = None
    restricted: frozenset[Section] = frozenset()
    if principal.role in CLINICIANS and entry is EntryPoint.PASSPORT:
        relationship_task = None
        if needs_relationship(principal, entry, reason):
            relationship_task = asyncio.ensure_future(_relationship(context, reader, principal))
        restricted = await restrictions_of(context, iin)
        if relationship_task is not None:
            relationship = await relationship_task
    guardians = None
    if needs_guardians(principal, entry, iin) and principal.iin is not None:
        guardians = await guardians_of(context, principal.iin, deadline or context.deadline)
    decision = decide(
        principal,
        entry,
        iin,
        requested,
        relationship,
        restricted,
        reason,
        context.services.policy,
        guardians,
    )
    if decision.refused:
        assert decision.denial is not None
        if decision.basis is not None and is_valid_iin(iin):
            # Every attempt is audited: the person sees who tried, and on what ground.
            context.reads.append(Refusal(iin, decision.basis, decision.reason))
        raise decision.denial
    ceiling = context.services.patients
    if ceiling is not None and outside_care(principal, entry, decision.break_glass):
        await ceiling.admit(principal, iin)  # RateLimited past the day's ceiling
    # Patients see everything of their own, so their reads do not wait for restrictions.
    known = restricted if principal.role in CLINICIANS and entry is EntryPoint.PASSPORT else None
    read = PatientRead(context, iin, entry, decision, reader, known, fields)
    context.reads.append(read)
    read.start()
    return read


def outside_care(principal: Principal, entry: EntryPoint, break_glass: bool) -> bool:
    """Whether a clinician's read counts toward the distinct-patients ceiling: break-glass
    passport reads and ``emergency`` reads, which proceed without a care relationship."""
    return principal.role in CLINICIANS and (break_glass or entry is EntryPoint.EMERGENCY)


async def restrictions_of(context: RequestContext, iin: str) -> frozenset[Section]:
    """The sections the patient restricted; fail closed when they cannot be read."""
    try:
        names = await context.services.restrictions.restricted_sections(iin)
    except Exception as exc:  # any store failure: refuse rather than ignore the patient's wish
        raise Internal("restrictions unavailable") from exc
    return frozenset(Section(name) for name in names)


async def guardians_of(context: RequestContext, adult_iin: str, deadline: Deadline) -> Guardians:
    """The register's RelatedPersons naming ``adult_iin`` (through the fetcher: cached, a
    stale copy served when the register fails); ``unavailable`` when none could be had."""
    fetched = await context.services.sources.person(adult_iin, deadline).guardianships()
    if not fetched.ok:
        error = fetched.error
        source = error.source if error is not None else "register"
        return Guardians(unavailable=SourceUnavailable(source, error.kind if error else "error"))
    return Guardians(records=tuple(fetched.value))


async def _relationship(
    context: RequestContext, reader: PersonReader, principal: Principal
) -> CareRelationship:
    """Whether the clinician's organisation cares for the patient (attached or recent visit)."""
    org_bin = principal.org_bin
    if not org_bin:
        return CareRelationship(attached=False, recent_encounter=False)
    fetched = await reader.patient()
    patient = fetched.value if fetched.ok else None
    attached_to = patient.managing_org if patient is not None else None
    if attached_to is not None and attached_to.bin == org_bin:
        return CareRelationship(attached=True, recent_encounter=False)
    since = today() - timedelta(days=context.services.policy.care_window_days)
    # Through the fetcher like any read (cache, deadline, breaker); an EHR that failed cannot
    # prove a relationship, and the clinician may still break the glass.
    answers = await reader.encounters_at(org_bin, since)
    recent = any(fetched.ok and fetched.value is True for fetched in answers)
    return CareRelationship(attached=False, recent_encounter=recent)
