"""The append-only, hash-chained audit trail of disclosures, and patients' section restrictions."""

from __future__ import annotations

from gateway.audit.events import (
    AuditEvent,
    AuditUnavailable,
    NewAuditEvent,
    RestrictionsUnavailable,
    StoreUnavailable,
    VerifyResult,
    patient_key,
)
from gateway.audit.restrictions import (
    RESTRICTABLE_SECTIONS,
    RestrictionStore,
    SectionNotRestrictable,
    open_restriction_store,
)
from gateway.audit.store import AuditStore, open_audit_store

__all__ = [
    "RESTRICTABLE_SECTIONS",
    "AuditEvent",
    "AuditStore",
    "AuditUnavailable",
    "NewAuditEvent",
    "RestrictionStore",
    "RestrictionsUnavailable",
    "SectionNotRestrictable",
    "StoreUnavailable",
    "VerifyResult",
    "open_audit_store",
    "open_restriction_store",
    "patient_key",
]
