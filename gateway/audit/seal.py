"""The seal: once per chain, a signed checkpoint of where the keyed chain starts.

At the first start with a chain key, the head of the chain as it is (a legacy unkeyed chain
of N events, or nothing: seq 0) is sealed: the seal is kept in the database (so every
replica finds it) and appended to each gateway's checkpoint file (which `audit verify`
trusts). Every later event is keyed. Whatever the database then says, only a seal signed
with the chain key counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from gateway.audit.chain import GENESIS_HASH, expected_hash
from gateway.audit.checkpoints import SEAL, Checkpoint
from gateway.audit.events import AuditEvent, format_at
from gateway.audit.keys import ChainKeys


@dataclass(frozen=True)
class StoredSeal:
    """The seal row of the database, with the signature it carries."""

    checkpoint: Checkpoint
    signature: str


@dataclass(frozen=True)
class SealPlan:
    """What opening the store does about the seal: use one, store a new one, or refuse."""

    seal: Checkpoint | None = None
    store: bool = False  # insert `seal` into the database
    error: str | None = None  # refuse to start, saying why
    note: str | None = None  # logged: what happened (a legacy chain sealed, a seal restored)


def plan_seal(
    stored: StoredSeal | None,
    head: AuditEvent | None,
    logged: Checkpoint | None,
    keys: ChainKeys,
    now: datetime,
) -> SealPlan:
    """Decide from the database's seal row and last event, and the checkpoint file's seal."""
    if stored is not None:
        if stored.checkpoint.signature(keys.checkpoints) != stored.signature:
            return SealPlan(
                error="the audit chain was sealed with another audit.chain_key (or its seal "
                "row was altered): configure the key it was sealed with"
            )
        if logged is not None and _point(logged) != _point(stored.checkpoint):
            return SealPlan(
                error=f"the checkpoint file's seal {logged.describe()} is not this database's "
                f"{stored.checkpoint.describe()}: audit.checkpoint_path belongs to another chain"
            )
        return SealPlan(seal=stored.checkpoint)
    head_seq = 0 if head is None else head.seq
    if logged is not None:
        if head_seq < logged.seq:
            return SealPlan(
                error=f"the audit database ends at seq={head_seq} but the checkpoint file was "
                f"sealed at {logged.describe()}: events were removed (run `audit verify`)"
            )
        return SealPlan(
            seal=logged, store=True, note="the seal row was missing; restored from the file"
        )
    if head is None:
        return SealPlan(seal=Checkpoint(SEAL, 0, GENESIS_HASH, now), store=True)
    if head.legacy and expected_hash(head, keys.events) == head.hash:
        return SealPlan(
            seal=Checkpoint(SEAL, head.seq, head.hash, now),
            store=True,
            note=f"legacy unkeyed chain of {head.seq} events sealed; later events are keyed",
        )
    if not head.legacy and expected_hash(head, keys.events) == head.hash:
        return SealPlan(
            error="the audit chain is keyed but its seal is in neither the database nor the "
            "checkpoint file: restore the checkpoint file (audit.checkpoint_path)"
        )
    return SealPlan(
        error="the last audit event matches neither the legacy hash nor audit.chain_key: "
        "a wrong key, or an altered database (run `audit verify`)"
    )


def _point(checkpoint: Checkpoint) -> tuple[int, str]:
    return checkpoint.seq, checkpoint.hash


def stored_seal(row: Mapping[str, object]) -> StoredSeal:
    """The seal a database row (seq, hash, at, signature) holds; ValueError when malformed."""
    at = datetime.fromisoformat(str(row["at"]))
    if at.tzinfo is None:
        raise ValueError("the seal's time has no zone")
    checkpoint = Checkpoint(SEAL, int(row["seq"]), str(row["hash"]), at)  # type: ignore[call-overload]
    return StoredSeal(checkpoint, str(row["signature"]))


def seal_row(seal: Checkpoint, keys: ChainKeys) -> tuple[int, str, str, str]:
    """The values of the database's seal row: seq, hash, time, signature."""
    return seal.seq, seal.hash, format_at(seal.at), seal.signature(keys.checkpoints)
