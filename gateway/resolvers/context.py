"""What resolvers work with: the process's services (built by the app) and one request's context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from gateway import telemetry
from gateway.audit import AuditStore, NewAuditEvent
from gateway.audit.disclosure import Discloses, disclosure_events
from gateway.auth.principal import Principal
from gateway.auth.restrictions import RestrictionStore
from gateway.config import PolicySettings
from gateway.deadline import Deadline
from gateway.language import DEFAULT_LANGUAGE, Words, words_for
from gateway.limits import PatientCeiling
from gateway.sources import SourceSystems


@dataclass
class Services:
    """The faces resolvers may use, created once per process by the app's lifespan."""

    policy: PolicySettings
    sources: SourceSystems
    audit: AuditStore
    restrictions: RestrictionStore
    # The distinct-patients ceiling of nurses and doctors (ACCESS.md "Limits"); None: none.
    patients: PatientCeiling | None = None
    # The language of answers whose request names none of ours ([app] default_language).
    default_language: str = DEFAULT_LANGUAGE


@dataclass
class RequestContext:
    """One GraphQL request: who asks, its deadline, and what it disclosed (for the audit)."""

    services: Services
    principal: Principal
    deadline: Deadline
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The language of every display and message of the answer, chosen once from
    # Accept-Language by the face that made the context (English when none did).
    words: Words = field(default_factory=lambda: words_for("en"))
    # Every read of a person's record opened by this request; the view has the audit turn
    # those that disclosed something into events before the response leaves.
    reads: list[Discloses] = field(default_factory=list)
    # Extra audit events (restriction changes) written the same way.
    events: list[NewAuditEvent] = field(default_factory=list)


async def write_audit(context: RequestContext) -> None:
    """One event per person and basis tried in this request, plus queued events (restrictions).

    Every face (GraphQL, the IPS document) calls this before its answer leaves; an exception
    means the answer must not be sent (fail closed).
    """
    disclosures = [d for read in context.reads if (d := read.disclosure()) is not None]
    events = disclosure_events(context.principal, context.request_id, disclosures)
    for event in [*context.events, *events]:
        attributes = {  # what a trace may say of an event: never who, whom or why
            "ehp.audit.action": event.action,
            "ehp.audit.break_glass": event.break_glass,
            "ehp.audit.sections": len(event.sections),
            "ehp.audit.outcome": str(event.outcome),
            "ehp.audit.basis": str(event.basis),
        }
        with telemetry.span("audit append", attributes):
            await context.services.audit.append(event)
