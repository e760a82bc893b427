"""``restrictSection``: a patient hides or reveals a section of their own passport."""

from __future__ import annotations

from gateway.audit import NewAuditEvent
from gateway.audit.events import Outcome
from gateway.auth.policy import RESTRICTABLE, Basis, Section
from gateway.auth.principal import Role
from gateway.auth.restrictions import SectionNotRestrictable
from gateway.errors import BadUserInput, Forbidden, Internal
from gateway.resolvers.access import restrictions_of
from gateway.resolvers.context import RequestContext
from gateway.resolvers.reads import PatientRead


async def restricted_sections(read: PatientRead) -> frozenset[Section]:
    """The sections the patient restricted, as known to the read or read now."""
    if read.restricted is None:
        read.restricted = await restrictions_of(read.context, read.iin)
    read.show_restrictions()
    return read.restricted


async def restrict_section(
    context: RequestContext, section: Section, restricted: bool
) -> list[Section]:
    """Persist the change, queue its audit event, and return the sections now restricted."""
    principal = context.principal
    if principal.role is not Role.PATIENT or principal.iin is None:
        raise Forbidden("only patients restrict sections of their own passport")
    if section not in RESTRICTABLE:
        raise BadUserInput(
            "{section} cannot be restricted: it keeps patients safe", section=section.value
        )
    try:
        now_restricted = await context.services.restrictions.set_restricted(
            principal.iin, section.value, restricted
        )
    except SectionNotRestrictable as exc:
        raise BadUserInput("{section} cannot be restricted", section=section.value) from exc
    except Exception as exc:  # the store failed: say so, never pretend the change happened
        raise Internal("restrictions unavailable") from exc
    context.events.append(
        NewAuditEvent(
            subject=principal.subject,
            role=principal.role.value,
            patient_iin=principal.iin,
            sections=(section.value,),
            request_id=context.request_id,
            action="restrict" if restricted else "unrestrict",
            outcome=Outcome.CHANGED,
            basis=Basis.OWN,
        )
    )
    return [Section(name) for name in sorted(now_restricted)]
