"""Opening a read of a person's record: gather what the policy needs, then decide once.

For a nurse or doctor without a reason, the care relationship is established first (the
register's attachment, then an encounter at their organisation within the care window,
asked of the EHRs with the smallest query), and the patient's restrictions are read. Only
then does ``decide`` run, and only the sections it allows are ever requested.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.auth.policy import (
    CLINICIANS,
    CareRelationship,
    EntryPoint,
    Section,
    decide,
    needs_relationship,
)
from gateway.auth.principal import Principal
from gateway.clock import today
from gateway.deadline import Deadline
from gateway.errors import Internal
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
    wants_weight: bool = False,
) -> PatientRead:
    """Decide what this request may read of ``iin`` and start loading exactly that."""
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
    decision = decide(
        principal,
        entry,
        iin,
        requested,
        relationship,
        restricted,
        reason,
        context.services.policy,
    )
    if decision.refused:
        assert decision.denial is not None
        raise decision.denial
    # Patients see everything of their own, so their reads do not wait for restrictions.
    known = restricted if principal.role in CLINICIANS and entry is EntryPoint.PASSPORT else None
    read = PatientRead(context, iin, entry, decision, reader, known, wants_weight)
    context.reads.append(read)
    read.start()
    return read


async def restrictions_of(context: RequestContext, iin: str) -> frozenset[Section]:
    """The sections the patient restricted; fail closed when they cannot be read."""
    try:
        names = await context.services.restrictions.restricted_sections(iin)
    except Exception as exc:  # any store failure: refuse rather than ignore the patient's wish
        raise Internal("restrictions unavailable") from exc
    return frozenset(Section(name) for name in names)


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
