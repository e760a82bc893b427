"""What an audit event holds, what the caller hands in, and the errors of the audit stores."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from gateway.auth.policy import Basis
from gateway.db import StoreUnavailable

_IIN = re.compile(r"[0-9]{12}")
_SECTION = re.compile(r"[A-Z][A-Z_]{0,63}")
_WORD = re.compile(r"[A-Za-z][A-Za-z_]{0,31}")

# The longest text each field keeps (characters); longer values are cut and marked, so every
# event has a bounded size whatever a token or a caller sends (issue 11, hole 7).
TEXT_LIMITS: dict[str, int] = {
    "subject": 256,
    "practitioner_id": 128,
    "practitioner_name": 256,
    "org_bin": 64,
    "org_name": 256,
    "reason": 600,  # the policy refuses reasons over 500 characters; this is the backstop
    "request_id": 64,
}
# A request discloses sections of one enumeration; more names than this is a bug, not data.
MAX_SECTIONS = 32
# Stored size of one event (its canonical JSON, hashes included) is never above this.
MAX_EVENT_BYTES = 10_240


class AuditUnavailable(StoreUnavailable):
    """An audit event could not be written (or read): no data may be sent."""


class Outcome(StrEnum):
    """How an attempt to read a person's record ended; a restriction change is CHANGED."""

    DISCLOSED = "DISCLOSED"  # allowed: `sections` lists what was shown, possibly nothing
    REFUSED = "REFUSED"  # refused before anything was read (FORBIDDEN, a bad reason)
    NOT_FOUND = "NOT_FOUND"  # the register does not know the IIN
    CHANGED = "CHANGED"  # restrict / unrestrict: the patient changed what others see


def format_at(moment: datetime) -> str:
    """The one textual form of an event time that is stored and hashed (UTC, microseconds)."""
    if moment.tzinfo is None:
        raise ValueError("audit event time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def bounded(text: str | None, limit: int) -> str | None:
    """`text` when it has at most `limit` characters; else its head, its length and a digest.

    Lone surrogates (possible in JSON strings) are escaped so the text always encodes.
    """
    if text is None or (len(text) <= limit and text.isascii()):
        return text  # the common case, checked cheaply: every append runs this
    plain = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(plain) <= limit:
        return plain
    digest = hashlib.sha256(plain.encode("utf-8")).hexdigest()[:16]
    marker = f"…[{len(plain)} chars, sha256 {digest}]"
    return plain[: max(0, limit - len(marker))] + marker


@dataclass(frozen=True)
class NewAuditEvent:
    """One attempt (or restriction change) as the request handler describes it, unchained.

    Text fields are cut to TEXT_LIMITS on construction; names must be plain words.
    """

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
    # "disclose" for reads of a person's record; the restriction mutation records "restrict" /
    # "unrestrict".
    action: str = "disclose"
    at: datetime | None = None
    outcome: Outcome = Outcome.DISCLOSED
    basis: Basis = Basis.OWN
    # A clinician was told which sections the patient hides (`restrictedSections`).
    restrictions_shown: bool = False

    def __post_init__(self) -> None:
        """Refuse events that would make a useless or ambiguous record; bound every text."""
        for name in ("subject", "role", "request_id", "action"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"audit event needs a non-empty {name}")
        for name in ("role", "action"):
            if not _WORD.fullmatch(getattr(self, name)):
                raise ValueError(f"audit event {name} is not a plain word")
        for name, limit in TEXT_LIMITS.items():
            value = getattr(self, name)
            cut = bounded(value, limit)
            if cut is not value:
                object.__setattr__(self, name, cut)
        if not isinstance(self.patient_iin, str) or not _IIN.fullmatch(self.patient_iin):
            raise ValueError("audit event patient_iin must be 12 digits")
        sections = tuple(dict.fromkeys(self.sections))  # once each, in the order given
        for section in sections:
            if not isinstance(section, str) or not _SECTION.fullmatch(section):
                raise ValueError(f"not a section name: {section!r}")
        if len(sections) > MAX_SECTIONS:
            raise ValueError(f"an audit event names at most {MAX_SECTIONS} sections")
        object.__setattr__(self, "sections", sections)
        object.__setattr__(self, "break_glass", bool(self.break_glass))
        object.__setattr__(self, "restrictions_shown", bool(self.restrictions_shown))
        if not isinstance(self.outcome, Outcome):  # Enum() lookups cost more than the rest
            object.__setattr__(self, "outcome", Outcome(self.outcome))
        if not isinstance(self.basis, Basis):
            object.__setattr__(self, "basis", Basis(self.basis))
        if self.at is not None:
            format_at(self.at)


@dataclass(frozen=True)
class AuditEvent:
    """One chained event as stored: the attempt, its place in the chain and its hash.

    The patient is identified only by `patient_key` (keyed hash of the IIN); the IIN itself
    is not stored. `outcome`, `basis` and `restrictions_shown` are None for events of the
    legacy (unkeyed) chain, which did not record them.
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
    outcome: str | None = None
    basis: str | None = None
    restrictions_shown: bool | None = None

    @property
    def legacy(self) -> bool:
        """True for an event of the unkeyed chain written before the keyed one (no outcome)."""
        return self.outcome is None

    def chained_fields(self) -> dict[str, object]:
        """The fields covered by the hash, in their canonical stored form (without `hash`).

        Legacy events are hashed over the fields they were written with; keyed ones over
        those and `outcome`, `basis` and `restrictions_shown`.
        """
        fields: dict[str, object] = {
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
        if not self.legacy:
            fields["outcome"] = self.outcome
            fields["basis"] = self.basis
            fields["restrictions_shown"] = self.restrictions_shown
        return fields

    def reading_basis(self) -> Basis:
        """The basis recorded, or for a legacy event the one its fields imply."""
        if self.basis is not None:
            return Basis(self.basis)
        if self.role == "PATIENT":
            return Basis.OWN
        if self.break_glass:
            return Basis.BREAK_GLASS
        if self.role == "EMERGENCY" or self.reason is not None:
            return Basis.EMERGENCY  # only `emergency(iin, reason)` gave a reason without glass
        return Basis.CARE_RELATIONSHIP


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: ok, how many events were checked, the first broken one.

    `parts` explains what was checked (the legacy and keyed parts, the checkpoints).
    """

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    # "edited", "removed", "reordered", "truncated" or "re-chained"
    problem: str | None = None
    detail: str | None = None
    parts: tuple[str, ...] = ()
