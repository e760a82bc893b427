"""What resolvers work with: the process's services (built by the app) and one request's context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from gateway.audit import AuditStore, NewAuditEvent
from gateway.audit.disclosure import Discloses
from gateway.auth.principal import Principal
from gateway.auth.restrictions import RestrictionStore
from gateway.config import PolicySettings
from gateway.deadline import Deadline
from gateway.sources import SourceSystems


@dataclass
class Services:
    """The faces resolvers may use, created once per process by the app's lifespan."""

    policy: PolicySettings
    sources: SourceSystems
    audit: AuditStore
    restrictions: RestrictionStore


@dataclass
class RequestContext:
    """One GraphQL request: who asks, its deadline, and what it disclosed (for the audit)."""

    services: Services
    principal: Principal
    deadline: Deadline
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Every read of a person's record opened by this request; the view has the audit turn
    # those that disclosed something into events before the response leaves.
    reads: list[Discloses] = field(default_factory=list)
    # Extra audit events (restriction changes) written the same way.
    events: list[NewAuditEvent] = field(default_factory=list)
