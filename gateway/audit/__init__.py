"""The append-only, hash-chained audit trail of disclosures."""

from __future__ import annotations

from gateway.audit.events import AuditEvent, AuditUnavailable, NewAuditEvent, VerifyResult
from gateway.audit.store import AuditStore, open_audit_store

__all__ = [
    "AuditEvent",
    "AuditStore",
    "AuditUnavailable",
    "NewAuditEvent",
    "VerifyResult",
    "open_audit_store",
]
