"""The hash chain: canonical form of an event, its hash, and the walk that finds the first break."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.audit.events import AuditEvent, NewAuditEvent, VerifyResult, format_at

GENESIS_HASH = "0" * 64

# The stored columns of an event, in table order; every backend uses these names.
EVENT_COLUMNS = (
    "seq",
    "event_id",
    "at",
    "subject",
    "role",
    "practitioner_id",
    "practitioner_name",
    "org_bin",
    "org_name",
    "patient_key",
    "sections",
    "reason",
    "break_glass",
    "request_id",
    "action",
    "prev_hash",
    "hash",
)

EDITED = "edited"
REMOVED = "removed"
REORDERED = "reordered"


def canonical_json(fields: Mapping[str, object]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes on every machine and backend."""
    return json.dumps(
        dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(chained_fields: Mapping[str, object]) -> str:
    """sha256 over the canonical JSON of the event's fields, which include `seq` and `prev_hash`."""
    return hashlib.sha256(canonical_json(chained_fields)).hexdigest()


def chain_event(new: NewAuditEvent, *, seq: int, prev_hash: str, patient_key: str) -> AuditEvent:
    """The stored event for `new` placed after the event whose hash is `prev_hash`."""
    at = (new.at or datetime.now(UTC)).astimezone(UTC)
    unsealed = AuditEvent(
        seq=seq,
        event_id=str(uuid.uuid4()),
        at=at,
        subject=new.subject,
        role=new.role,
        practitioner_id=new.practitioner_id,
        practitioner_name=new.practitioner_name,
        org_bin=new.org_bin,
        org_name=new.org_name,
        patient_key=patient_key,
        sections=new.sections,
        reason=new.reason,
        break_glass=new.break_glass,
        request_id=new.request_id,
        action=new.action,
        prev_hash=prev_hash,
        hash="",
    )
    return _with_hash(unsealed, event_hash(unsealed.chained_fields()))


def _with_hash(event: AuditEvent, digest: str) -> AuditEvent:
    fields = {name: getattr(event, name) for name in EVENT_COLUMNS}
    fields["hash"] = digest
    return AuditEvent(**fields)


def event_to_row(event: AuditEvent) -> tuple[object, ...]:
    """The column values to store, in EVENT_COLUMNS order (sections as JSON text, time as text)."""
    stored = event.chained_fields()
    stored["sections"] = json.dumps(list(event.sections), ensure_ascii=False)
    stored["hash"] = event.hash
    return tuple(stored[name] for name in EVENT_COLUMNS)


def event_from_row(row: Mapping[str, object]) -> AuditEvent:
    """The event a stored row describes; ValueError when a column is not of its stored form."""
    sections = json.loads(str(row["sections"]))
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise ValueError("sections is not a list of names")
    break_glass = row["break_glass"]
    if break_glass not in (0, 1) or not isinstance(break_glass, int):
        raise ValueError("break_glass is not a boolean")
    at_text = str(row["at"])
    at = datetime.fromisoformat(at_text)
    if format_at(at) != at_text:
        raise ValueError("time is not in its stored form")
    return AuditEvent(
        seq=int(row["seq"]),  # type: ignore[call-overload]
        event_id=str(row["event_id"]),
        at=at,
        subject=str(row["subject"]),
        role=str(row["role"]),
        practitioner_id=_optional_text(row["practitioner_id"]),
        practitioner_name=_optional_text(row["practitioner_name"]),
        org_bin=_optional_text(row["org_bin"]),
        org_name=_optional_text(row["org_name"]),
        patient_key=str(row["patient_key"]),
        sections=tuple(sections),
        reason=_optional_text(row["reason"]),
        break_glass=bool(break_glass),
        request_id=str(row["request_id"]),
        action=str(row["action"]),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Suspect:
    """A break found by the walk; whether it is an edit or a reordering depends on `linked_hash`."""

    seq: int
    problem: str
    detail: str
    # When set: the event points back at this hash; if another stored event has it, the
    # event was moved (reordered) rather than edited.
    linked_hash: str | None = None
    # The row whose link is suspect: named when the verdict turns out to be a reordering.
    row_seq: int | None = None


class ChainWalker:
    """Walks stored rows in seq order and stops at the first one that breaks the chain."""

    def __init__(self) -> None:
        """Start before the first event."""
        self.checked = 0
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH

    def step(self, row: Mapping[str, object]) -> Suspect | None:
        """Check one row; a Suspect when it breaks the chain, else None."""
        seq = int(row["seq"])  # type: ignore[call-overload]
        if seq > self._expected_seq:
            missing = (
                f"seq={self._expected_seq}"
                if seq == self._expected_seq + 1
                else f"seq={self._expected_seq}..{seq - 1}"
            )
            return Suspect(seq, REMOVED, f"event {missing} is missing before this one")
        if seq < self._expected_seq:  # duplicate seq cannot come from the store's unique key
            return Suspect(seq, REORDERED, "event is out of sequence")
        try:
            event = event_from_row(row)
        except (ValueError, TypeError, KeyError) as exc:
            return Suspect(seq, EDITED, f"stored fields are malformed ({exc})")
        links_back = event.prev_hash == self._prev_hash
        if event_hash(event.chained_fields()) != event.hash:
            return Suspect(
                seq,
                EDITED,
                "its content no longer matches its hash",
                linked_hash=None if links_back else event.prev_hash,
            )
        if not links_back:
            if seq == 1:
                return Suspect(seq, EDITED, "the first event does not start the chain")
            return Suspect(
                seq - 1,
                EDITED,
                f"event seq={seq} recorded a different hash for it",
                linked_hash=event.prev_hash,
                row_seq=seq,
            )
        self.checked += 1
        self._expected_seq = seq + 1
        self._prev_hash = event.hash
        return None

    def finish(self, head: tuple[int, str] | None) -> Suspect | None:
        """Compare the end of the walk with the chain head the store keeps; None when they agree."""
        last_seq = self._expected_seq - 1
        if head is None:
            return None
        head_seq, head_hash = head
        if last_seq < head_seq:
            return Suspect(
                last_seq + 1, REMOVED, f"the chain ends at seq={last_seq} but reached {head_seq}"
            )
        if last_seq > head_seq:
            return Suspect(head_seq + 1, EDITED, "event was added outside the audit store")
        if head_seq > 0 and head_hash != self._prev_hash:
            return Suspect(last_seq, EDITED, "the last event does not match the chain head")
        return None

    def result(self, suspect: Suspect | None, linked_seq: int | None = None) -> VerifyResult:
        """The verdict; `linked_seq` is the seq of the event whose hash `suspect.linked_hash` is."""
        if suspect is None:
            return VerifyResult(ok=True, checked=self.checked)
        problem, detail, seq = suspect.problem, suspect.detail, suspect.seq
        if suspect.linked_hash == GENESIS_HASH:
            linked_seq = 0
        if suspect.linked_hash is not None and linked_seq is not None:
            problem = REORDERED
            seq = suspect.row_seq if suspect.row_seq is not None else suspect.seq
            detail = f"event points back at event seq={linked_seq}, not at its predecessor"
        return VerifyResult(
            ok=False,
            checked=self.checked,
            first_broken_seq=seq,
            problem=problem,
            detail=detail,
        )
