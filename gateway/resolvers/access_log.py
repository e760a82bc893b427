"""``accessLog``: the patient sees who read their passport, newest first, with names."""

from __future__ import annotations

import asyncio

from gateway.audit import AuditEvent
from gateway.auth.policy import may_read_access_log
from gateway.clock import local_time
from gateway.contract import types as t
from gateway.contract.enums import Role as RoleEnum
from gateway.contract.enums import Section as SectionEnum
from gateway.errors import BadUserInput, Forbidden, Internal
from gateway.resolvers.reads import PatientRead

MAX_LIMIT = 500


async def access_log(read: PatientRead, limit: int) -> list[t.AccessEvent]:
    """The patient's own audit events; readers' names looked up in the register."""
    context = read.context
    if not may_read_access_log(context.principal, read.iin):
        raise Forbidden("only the patient reads their access log")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadUserInput(f"limit must be between 1 and {MAX_LIMIT}")
    try:
        events = await context.services.audit.events_for_patient(read.iin, limit)
    except Exception as exc:  # the store's failure must not look like an empty log
        raise Internal("access log unavailable") from exc
    reads = [event for event in events if event.action == "disclose"]
    org_names, practitioner_names = await _names(read, reads)
    return [_shape(event, org_names, practitioner_names) for event in reads]


async def _names(
    read: PatientRead, events: list[AuditEvent]
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Names of the readers' organisations and of the readers, best effort within the deadline."""
    bins = {e.org_bin for e in events if e.org_bin and not e.org_name}
    ids = {e.practitioner_id for e in events if e.practitioner_id and not e.practitioner_name}
    if not bins and not ids:
        return {}, {}
    try:
        async with asyncio.timeout(read.context.deadline.remaining()):
            return await read.context.services.sources.names(bins, ids)
    except Exception:  # names are a courtesy; the log itself must still be served
        return {}, {}


def _shape(
    event: AuditEvent, org_names: dict[str, str | None], practitioner_names: dict[str, str | None]
) -> t.AccessEvent:
    organization = None
    if event.org_bin:
        name = event.org_name or org_names.get(event.org_bin)
        organization = t.Organization(bin=event.org_bin, name=name)
    practitioner = None
    if event.practitioner_id:
        name = event.practitioner_name or practitioner_names.get(event.practitioner_id)
        practitioner = t.Practitioner(id=event.practitioner_id, name=name)
    return t.AccessEvent(
        at=local_time(event.at),
        role=RoleEnum(event.role),
        subject=event.subject,
        practitioner=practitioner,
        organization=organization,
        sections=[SectionEnum(s) for s in event.sections if s in SectionEnum.__members__],
        reason=event.reason,
        break_glass=event.break_glass,
    )
