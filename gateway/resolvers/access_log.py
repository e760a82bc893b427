"""``accessLog``: the patient (or a child's guardian) sees who read the passport or tried to,
newest first, with names."""

from __future__ import annotations

from gateway.audit import AuditEvent
from gateway.audit.events import Outcome
from gateway.auth.policy import may_read_access_log
from gateway.clock import local_time
from gateway.contract import types as t
from gateway.contract.enums import AccessBasis, AccessOutcome
from gateway.contract.enums import Role as RoleEnum
from gateway.contract.enums import Section as SectionEnum
from gateway.errors import BadUserInput, Forbidden, Internal
from gateway.records import OrgRef, PractitionerRef
from gateway.resolvers.names import Names
from gateway.resolvers.reads import PatientRead

MAX_LIMIT = 500


async def access_log(read: PatientRead, limit: int) -> list[t.AccessEvent]:
    """The patient's own audit events; readers' names looked up in the register."""
    context = read.context
    if not may_read_access_log(context.principal, read.iin, read.decision.basis):
        raise Forbidden("only the patient (or a child's guardian) reads the access log")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadUserInput("limit must be between 1 and {max}", max=MAX_LIMIT)
    try:
        events = await context.services.audit.events_for_patient(read.iin, limit)
    except Exception as exc:  # the store's failure must not look like an empty log
        raise Internal("access log unavailable") from exc
    reads = [event for event in events if event.action == "disclose"]
    names = await _names(read, reads)
    return [_shape(event, names) for event in reads]


async def _names(read: PatientRead, events: list[AuditEvent]) -> Names:
    """The register's names of the readers and their organisations (cached directory; the
    others asked once within the deadline; best effort)."""
    organizations = [OrgRef(e.org_bin, e.org_name) for e in events if e.org_bin]
    practitioners = [
        PractitionerRef(e.practitioner_id, e.practitioner_name) for e in events if e.practitioner_id
    ]
    if not organizations and not practitioners:
        return Names(words=read.context.words)
    context = read.context
    directory = await context.services.sources.directory(
        organizations, practitioners, context.deadline
    )
    return Names(directory, context.words)


def _shape(event: AuditEvent, names: Names) -> t.AccessEvent:
    organization = (
        names.organization(OrgRef(event.org_bin, event.org_name)) if event.org_bin else None
    )
    practitioner = (
        names.practitioner(PractitionerRef(event.practitioner_id, event.practitioner_name))
        if event.practitioner_id
        else None
    )
    return t.AccessEvent(
        at=local_time(event.at),
        role=RoleEnum(event.role),
        subject=event.subject,
        practitioner=practitioner,
        organization=organization,
        sections=[SectionEnum(s) for s in event.sections if s in SectionEnum.__members__],
        reason=event.reason,
        break_glass=event.break_glass,
        basis=AccessBasis(event.reading_basis().value),
        # Legacy events recorded disclosures only, and never what was restricted.
        outcome=AccessOutcome(event.outcome or Outcome.DISCLOSED.value),
        restrictions_shown=bool(event.restrictions_shown),
    )
