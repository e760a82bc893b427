"""``restrictSection``: a patient hides or reveals a section of their own passport, or a guardian
of a child's (ACCESS.md "Guardians": the optional ``iin`` argument)."""

from __future__ import annotations

from gateway.audit import NewAuditEvent
from gateway.audit.events import Outcome
from gateway.auth.policy import (
    RESTRICTABLE,
    Basis,
    EntryPoint,
    Section,
    decide_restriction,
    needs_guardians,
)
from gateway.auth.restrictions import SectionNotRestrictable
from gateway.errors import BadUserInput, Internal
from gateway.resolvers.access import guardians_of, restrictions_of
from gateway.resolvers.context import RequestContext
from gateway.resolvers.reads import PatientRead


async def restricted_sections(read: PatientRead) -> frozenset[Section]:
    """The sections the patient restricted, as known to the read or read now."""
    if read.restricted is None:
        read.restricted = await restrictions_of(read.context, read.iin)
    read.show_restrictions()
    return read.restricted


async def restrict_section(
    context: RequestContext, section: Section, restricted: bool, iin: str | None = None
) -> list[Section]:
    """Persist the change, queue its audit event, and return the sections now restricted.

    ``iin``: whose passport (a child's, by a guardian); the caller's own when absent.
    """
    principal = context.principal
    target = iin if iin is not None else principal.iin or ""
    guardians = None
    if principal.iin is not None and needs_guardians(principal, EntryPoint.PASSPORT, target):
        guardians = await guardians_of(context, principal.iin, context.deadline)
    decision = decide_restriction(principal, target, guardians)
    action = "restrict" if restricted else "unrestrict"
    if decision.refused:
        assert decision.denial is not None
        if decision.basis is not None:
            # Every attempt is audited: a refused change is kept in that person's trail too.
            context.events.append(_event(context, target, section, action, decision.basis, True))
        raise decision.denial
    if section not in RESTRICTABLE:
        raise BadUserInput(
            "{section} cannot be restricted: it keeps patients safe", section=section.value
        )
    try:
        now_restricted = await context.services.restrictions.set_restricted(
            target, section.value, restricted
        )
    except SectionNotRestrictable as exc:
        raise BadUserInput("{section} cannot be restricted", section=section.value) from exc
    except Exception as exc:  # the store failed: say so, never pretend the change happened
        raise Internal("restrictions unavailable") from exc
    basis = decision.basis or Basis.OWN
    context.events.append(_event(context, target, section, action, basis, False))
    return [Section(name) for name in sorted(now_restricted)]


def _event(
    context: RequestContext,
    iin: str,
    section: Section,
    action: str,
    basis: Basis,
    refused: bool,
) -> NewAuditEvent:
    """The audit event of one change (or refused attempt) of a restriction."""
    principal = context.principal
    return NewAuditEvent(
        subject=principal.subject,
        role=principal.role.value,
        patient_iin=iin,
        sections=(section.value,),
        request_id=context.request_id,
        action=action,
        outcome=Outcome.REFUSED if refused else Outcome.CHANGED,
        basis=basis,
    )
