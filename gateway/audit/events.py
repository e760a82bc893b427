"""What an audit event holds, what the caller hands in, and the errors of the audit stores."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.db import StoreUnavailable

_IIN = re.compile(r"[0-9]{12}")
_SECTION = re.compile(r"[A-Z][A-Z_]{0,63}")


class AuditUnavailable(StoreUnavailable):
    """An audit event could not be written (or read): no data may be sent."""


def format_at(moment: datetime) -> str:
    """The one textual form of an event time that is stored and hashed (UTC, microseconds)."""
    if moment.tzinfo is None:
        raise ValueError("audit event time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class NewAuditEvent:
    """One disclosure as the request handler describes it, before it is chained."""

    subject: str
    role: str
    patient_iin: str
    sections: tuple[str, ...]
    request_id: str
    practitioner_id: str | None = None
    practitioner_name: str | None = None
    org_bin: str | None = None
    org_name: str | None = None
    reason: str | None = None
    break_glass: bool = False
    # "disclose" for reads; the restriction mutation records "restrict" / "unrestrict".
    action: str = "disclose"
    at: datetime | None = None

    def __post_init__(self) -> None:
        """Refuse events that would make a useless or ambiguous record."""
        for name in ("subject", "role", "request_id", "action"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"audit event needs a non-empty {name}")
        if not isinstance(self.patient_iin, str) or not _IIN.fullmatch(self.patient_iin):
            raise ValueError("audit event patient_iin must be 12 digits")
        sections = tuple(self.sections)
        for section in sections:
            if not isinstance(section, str) or not _SECTION.fullmatch(section):
                raise ValueError(f"not a section name: {section!r}")
        object.__setattr__(self, "sections", sections)
        object.__setattr__(self, "break_glass", bool(self.break_glass))
        if self.at is not None:
            format_at(self.at)


@dataclass(frozen=True)
class AuditEvent:
    """One chained event as stored: the disclosure, its place in the chain and its hash.

    The patient is identified only by `patient_key` (keyed hash of the IIN); the IIN itself
    is not stored.
    """

    seq: int
    event_id: str
    at: datetime
    subject: str
    role: str
    practitioner_id: str | None
    practitioner_name: str | None
    org_bin: str | None
    org_name: str | None
    patient_key: str
    sections: tuple[str, ...]
    reason: str | None
    break_glass: bool
    request_id: str
    action: str
    prev_hash: str
    hash: str

    def chained_fields(self) -> dict[str, object]:
        """The fields covered by the hash, in their canonical stored form (without `hash`)."""
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "at": format_at(self.at),
            "subject": self.subject,
            "role": self.role,
            "practitioner_id": self.practitioner_id,
            "practitioner_name": self.practitioner_name,
            "org_bin": self.org_bin,
            "org_name": self.org_name,
            "patient_key": self.patient_key,
            "sections": list(self.sections),
            "reason": self.reason,
            "break_glass": self.break_glass,
            "request_id": self.request_id,
            "action": self.action,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: ok, how many events were checked, the first broken one."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None  # "edited", "removed" or "reordered"
    detail: str | None = None
