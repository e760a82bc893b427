"""The chain: canonical form of an event, its keyed hash, and the walk that finds the first break.

Each event stores HMAC-SHA256, under a key derived from `audit.chain_key`, over its fields
and the previous event's hash; the key is never in the database, so nobody who can only write
the database can make an edited, inserted or re-linked event look right. Events written
before the chain was keyed (the legacy chain) keep their plain SHA-256 hashes; the seal
checkpoint (checkpoints.py) fixes where they end.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gateway.audit.checkpoints import SEAL, Checkpoint, CheckpointLog, CheckpointReading
from gateway.audit.events import (
    MAX_EVENT_BYTES,
    AuditEvent,
    AuditUnavailable,
    NewAuditEvent,
    Outcome,
    VerifyResult,
    format_at,
)
from gateway.auth.policy import Basis

GENESIS_HASH = "0" * 64

# The stored columns of an event, in table order; every backend uses these names. The last
# three came with the keyed chain and are NULL in legacy events.
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
    "outcome",
    "basis",
    "restrictions_shown",
)
KEYED_COLUMNS = ("outcome", "basis", "restrictions_shown")
SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events"
# A table no gateway with a chain key has opened yet has no keyed columns: read as legacy.
SELECT_LEGACY_EVENTS = (
    f"SELECT {', '.join(c for c in EVENT_COLUMNS if c not in KEYED_COLUMNS)}, "
    f"{', '.join(f'NULL AS {c}' for c in KEYED_COLUMNS)} FROM audit_events"
)

EDITED = "edited"
REMOVED = "removed"
REORDERED = "reordered"
TRUNCATED = "truncated"
RECHAINED = "re-chained"


def canonical_json(fields: Mapping[str, object]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes on every machine and backend."""
    return json.dumps(
        dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def unkeyed_hash(chained_fields: Mapping[str, object]) -> str:
    """sha256 over the canonical JSON: how the legacy chain hashed (anyone can recompute it)."""
    return hashlib.sha256(canonical_json(chained_fields)).hexdigest()


def keyed_hash(key: bytes, chained_fields: Mapping[str, object]) -> str:
    """HMAC-SHA256 under the chain's event key over the canonical JSON (fields incl. prev_hash)."""
    return hmac.digest(key, canonical_json(chained_fields), "sha256").hex()


def expected_hash(event: AuditEvent, key: bytes) -> str:
    """The hash `event` must carry: unkeyed for a legacy event, keyed otherwise."""
    fields = event.chained_fields()
    return unkeyed_hash(fields) if event.legacy else keyed_hash(key, fields)


def chain_event(
    new: NewAuditEvent, *, seq: int, prev_hash: str, patient_key: str, key: bytes
) -> AuditEvent:
    """The stored event for `new` placed after the event whose hash is `prev_hash`.

    ValueError when it would be larger than MAX_EVENT_BYTES (the caller fails closed).
    """
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
        outcome=new.outcome.value,
        basis=new.basis.value,
        restrictions_shown=new.restrictions_shown,
    )
    payload = canonical_json(unsealed.chained_fields())
    if len(payload) + len(GENESIS_HASH) > MAX_EVENT_BYTES:  # the stored hash comes on top
        raise ValueError(f"audit event of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
    return replace(unsealed, hash=hmac.digest(key, payload, "sha256").hex())


def event_to_row(event: AuditEvent) -> tuple[object, ...]:
    """The column values to store, in EVENT_COLUMNS order (sections as JSON text, time as text)."""
    stored = event.chained_fields()
    stored["sections"] = json.dumps(list(event.sections), ensure_ascii=False)
    stored["hash"] = event.hash
    return tuple(stored.get(name) for name in EVENT_COLUMNS)


def event_from_row(row: Mapping[str, object]) -> AuditEvent:
    """The event a stored row describes; ValueError when a column is not of its stored form."""
    sections = json.loads(str(row["sections"]))
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        raise ValueError("sections is not a list of names")
    at_text = str(row["at"])
    at = datetime.fromisoformat(at_text)
    if format_at(at) != at_text:
        raise ValueError("time is not in its stored form")
    keyed = [row[name] for name in KEYED_COLUMNS]
    if any(value is None for value in keyed) and any(value is not None for value in keyed):
        raise ValueError("outcome, basis and restrictions_shown are set together or not at all")
    outcome, basis, shown = keyed
    if outcome is not None and (outcome not in OUTCOMES or basis not in BASES):
        raise ValueError("outcome or basis is not one of its names")
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
        break_glass=_flag(row["break_glass"], "break_glass"),
        request_id=str(row["request_id"]),
        action=str(row["action"]),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
        outcome=_optional_text(outcome),
        basis=_optional_text(basis),
        restrictions_shown=None if shown is None else _flag(shown, "restrictions_shown"),
    )


OUTCOMES = frozenset(outcome.value for outcome in Outcome)
BASES = frozenset(basis.value for basis in Basis)


def _flag(value: object, name: str) -> bool:
    """A stored boolean: SQLite's 0/1 or PostgreSQL's true/false, nothing else."""
    if not isinstance(value, int) or value not in (0, 1):
        raise ValueError(f"{name} is not a boolean")
    return bool(value)


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


@dataclass(frozen=True)
class Anchors:
    """What the walk trusts besides the key: the signed seal and head checkpoints."""

    seal: Checkpoint | None = None  # None: a legacy chain that was never sealed
    checkpoints: tuple[Checkpoint, ...] = ()
    by_seq: dict[int, list[Checkpoint]] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, reading: CheckpointReading) -> Anchors:
        """The anchors a checkpoint file gives."""
        return cls(seal=reading.seal, checkpoints=reading.checkpoints)

    def __post_init__(self) -> None:
        """Index the checkpoints by the event they name."""
        for checkpoint in self.checkpoints:
            self.by_seq.setdefault(checkpoint.seq, []).append(checkpoint)

    @property
    def latest(self) -> Checkpoint | None:
        """The checkpoint of the highest seq."""
        return max(self.checkpoints, key=lambda c: c.seq, default=None)


class ChainWalker:
    """Walks stored rows in seq order and stops at the first one that breaks the chain."""

    def __init__(self, key: bytes, anchors: Anchors | None = None) -> None:
        """Start before the first event; `key` is the chain's event key."""
        self.checked = 0
        self._key = key
        self._anchors = anchors or Anchors()
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH

    @property
    def last_seq(self) -> int:
        """The seq of the last event that passed."""
        return self._expected_seq - 1

    def step(self, row: Mapping[str, object]) -> Suspect | None:
        """Check one row; a Suspect when it breaks the chain, else None.

        AuditUnavailable when the row is keyed but nothing says where the keyed chain starts.
        """
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
        suspect = self._check(event)
        if suspect is not None:
            return suspect
        self.checked += 1
        self._expected_seq = seq + 1
        self._prev_hash = event.hash
        return None

    def _check(self, event: AuditEvent) -> Suspect | None:
        seq, seal = event.seq, self._anchors.seal
        if seal is None and not event.legacy:
            raise AuditUnavailable(
                "the chain is keyed but the checkpoint file holds no seal: it cannot be checked"
            )
        in_legacy_part = seal is None or seq <= seal.seq
        if in_legacy_part and not event.legacy:
            return Suspect(seq, EDITED, "an event of the sealed legacy chain has keyed fields")
        links_back = event.prev_hash == self._prev_hash
        if expected_hash(event, self._key) != event.hash:
            if not in_legacy_part and event.hash == unkeyed_hash(event.chained_fields()):
                return Suspect(seq, RECHAINED, "its hash was recomputed without the chain key")
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
        if seal is not None and seq == seal.seq and event.hash != seal.hash:
            return Suspect(
                seq,
                RECHAINED,
                f"events 1..{seq} are not the legacy chain sealed at {seal.describe()}: an "
                "event up to here was edited, added or removed and the later hashes recomputed",
            )
        for checkpoint in self._anchors.by_seq.get(seq, ()):
            if checkpoint.hash != event.hash:
                return Suspect(
                    seq,
                    RECHAINED,
                    f"the checkpoint of {checkpoint.describe()} recorded another hash for it",
                )
        return None

    def finish(self, head: tuple[int, str] | None) -> Suspect | None:
        """Compare the end of the walk with the checkpoints, then with the database's head."""
        last_seq = self.last_seq
        latest = self._anchors.latest
        if latest is not None and last_seq < latest.seq:
            return Suspect(
                last_seq + 1,
                TRUNCATED,
                f"the chain ends at seq={last_seq} but the checkpoint of {latest.describe()} "
                f"recorded seq={latest.seq}: events {last_seq + 1}..{latest.seq} were removed",
            )
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

    def parts(self) -> tuple[str, ...]:
        """What the walk checked, in words: the legacy and keyed parts and the checkpoints."""
        last, seal, latest = self.last_seq, self._anchors.seal, self._anchors.latest
        if seal is None:
            if last == 0:
                return ()
            return (
                f"events 1..{last}: unkeyed legacy chain, not sealed yet (the gateway seals it "
                "at its next start); until then a re-chained history or a removed tail cannot "
                "be told from an intact one",
            )
        lines = []
        if seal.seq > 0:
            lines.append(
                f"events 1..{seal.seq}: unkeyed legacy chain, sealed at checkpoint "
                f"{seal.describe()}"
            )
        if last > seal.seq:
            lines.append(f"events {seal.seq + 1}..{last}: keyed (HMAC-SHA256)")
        if latest is not None:
            lines.append(
                f"checkpoints: {len(self._anchors.checkpoints)} signed, the latest "
                f"{latest.describe()}"
            )
            if last > latest.seq:
                lines.append(
                    f"events {latest.seq + 1}..{last} are newer than the latest checkpoint"
                )
        return tuple(lines)

    def result(self, suspect: Suspect | None, linked_seq: int | None = None) -> VerifyResult:
        """The verdict; `linked_seq` is the seq of the event whose hash `suspect.linked_hash` is."""
        if suspect is None:
            return VerifyResult(ok=True, checked=self.checked, parts=self.parts())
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
            parts=self.parts(),
        )


async def verify_against(
    log: CheckpointLog, walk: Callable[[Anchors], Awaitable[VerifyResult]]
) -> VerifyResult:
    """Read the checkpoint file, `walk` the database against it, and add what the file itself
    shows: seals that disagree, lines not signed with this key."""
    reading = await asyncio.to_thread(log.read_trusted)
    seals = {(c.seq, c.hash) for c in reading.checkpoints if c.kind == SEAL}
    if len(seals) > 1:
        return VerifyResult(
            ok=False,
            checked=0,
            problem=RECHAINED,
            detail=f"the checkpoint file {log.path} holds {len(seals)} different seals",
        )
    result = await walk(Anchors.of(reading))
    if result.ok and reading.forged_lines:
        lines = ", ".join(str(n) for n in reading.forged_lines[:10])
        return replace(
            result,
            ok=False,
            problem="forged checkpoint",
            detail=f"checkpoint file lines {lines} are not signed with this chain key",
        )
    return result
