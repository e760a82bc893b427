"""What resolvers work with: the process's services and one request's context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.audit import AuditStore, NewAuditEvent
from gateway.audit.restrictions import RestrictionStore
from gateway.auth.principal import Principal
from gateway.auth.tokens import TokenVerifier
from gateway.config import Settings, SourceSettings
from gateway.sources import AmbulanceAdapter, DpsAdapter, EhrAdapter, LisAdapter, RegisterAdapter
from gateway.sources.fetcher import Fetcher
from gateway.sources.resilience import Deadline


@dataclass
class SourceSet:
    """The adapters of the configured source systems, with their settings."""

    register: RegisterAdapter
    ehrs: tuple[EhrAdapter, ...]
    lis: LisAdapter | None
    dps: DpsAdapter | None
    ambulance: AmbulanceAdapter | None
    settings: dict[str, SourceSettings]

    def ttl_s(self, name: str) -> float:
        """How long the named source's answers stay fresh."""
        return float(self.settings[name].ttl_s)

    def timeout_s(self, name: str) -> float:
        """The per-call timeout of the named source."""
        return self.settings[name].timeout_ms / 1000


@dataclass
class Services:
    """Everything a request may use, created once per process by the app's lifespan."""

    settings: Settings
    sources: SourceSet
    fetcher: Fetcher
    verifier: TokenVerifier
    audit: AuditStore
    restrictions: RestrictionStore
    close_hooks: list[Any] = field(default_factory=list)


@dataclass
class RequestContext:
    """One GraphQL request: who asks, its deadline, and what it disclosed (for the audit)."""

    services: Services
    principal: Principal
    deadline: Deadline
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Every read of a person's record opened by this request (``PatientRead``); the view
    # turns those that disclosed something into audit events before the response leaves.
    reads: list[Any] = field(default_factory=list)
    # Extra audit events (restriction changes) written the same way.
    events: list[NewAuditEvent] = field(default_factory=list)
