"""Signed checkpoints of the chain head, appended to a file outside the database.

Someone who can write the database but not this file cannot move the chain back past a
checkpoint (a truncated tail) nor recompute the hashes up to one (a re-chained history)
without `audit verify` noticing. One JSON line per checkpoint, signed with HMAC-SHA256 under
a key derived from the chain key; the file is only ever appended to, and each line is
flushed to disk before the call returns.

Two kinds: `seal`, once per chain, fixes where the keyed chain starts (the head of the
legacy unkeyed chain it continues, or seq 0); `head` records the chain head as it grows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.audit.events import AuditUnavailable, format_at

SEAL = "seal"
HEAD = "head"
_VERSION = 1
# A line longer than this is not one of ours (a checkpoint line is about 250 bytes).
_MAX_LINE_BYTES = 4096


def _canonical(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True)
class Checkpoint:
    """One signed statement: at time `at`, event `seq` of the chain had hash `hash`."""

    kind: str
    seq: int
    hash: str
    at: datetime

    def fields(self) -> dict[str, object]:
        """What the signature covers."""
        return {
            "v": _VERSION,
            "kind": self.kind,
            "seq": self.seq,
            "hash": self.hash,
            "at": format_at(self.at),
        }

    def signature(self, key: bytes) -> str:
        """HMAC-SHA256 over the canonical JSON of `fields()`."""
        return hmac.new(key, _canonical(self.fields()), hashlib.sha256).hexdigest()

    def line(self, key: bytes) -> bytes:
        """The signed line as appended to the file."""
        return _canonical({**self.fields(), "sig": self.signature(key)}) + b"\n"

    def describe(self) -> str:
        """`2026-12-03T10:00:00.000000+00:00 (seq=N)`, for verify's report."""
        return f"{format_at(self.at)} (seq={self.seq})"


@dataclass(frozen=True)
class CheckpointReading:
    """What a checkpoint file holds: the signed checkpoints, and the lines that are not."""

    checkpoints: tuple[Checkpoint, ...]
    # Line numbers (1-based) whose signature does not match: not written with this key.
    forged_lines: tuple[int, ...] = ()
    # Lines that are not checkpoints at all (e.g. one torn by a crash mid-write).
    unreadable_lines: tuple[int, ...] = ()

    @property
    def seal(self) -> Checkpoint | None:
        """The first seal in the file (every later one must agree with it)."""
        return next((c for c in self.checkpoints if c.kind == SEAL), None)

    @property
    def latest(self) -> Checkpoint | None:
        """The checkpoint of the highest seq (replicas may append out of order)."""
        return max(self.checkpoints, key=lambda c: c.seq, default=None)


class CheckpointLog:
    """The append-only checkpoint file at `path`, signed and read with `key`."""

    def __init__(self, path: Path, key: bytes) -> None:
        """Nothing is opened until the first append or read."""
        self.path = path
        self._key = key

    def append(self, checkpoint: Checkpoint) -> None:
        """Append one signed line and fsync it (blocking: call it from a thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            line = checkpoint.line(self._key)
            size = os.fstat(descriptor).st_size
            if size and os.pread(descriptor, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line stays a line of its own
            # O_APPEND: one write of one short line is not interleaved with another process's.
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if created:
            _fsync_directory(self.path.parent)

    def read_trusted(self) -> CheckpointReading:
        """`read()`, refusing a file whose lines are all unsigned by this key (a wrong key).

        AuditUnavailable then: nothing in it could be trusted, and nothing be added to it.
        """
        reading = self.read()
        if reading.forged_lines and not reading.checkpoints:
            raise AuditUnavailable(
                f"the checkpoints in {self.path} are not signed with this audit.chain_key"
            )
        return reading

    def read(self) -> CheckpointReading:
        """Every line of the file, sorted into signed checkpoints, forged and unreadable lines."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return CheckpointReading(())
        good: list[Checkpoint] = []
        forged: list[int] = []
        unreadable: list[int] = []
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            parsed = _parse(line)
            if parsed is None:
                unreadable.append(number)
                continue
            checkpoint, signature = parsed
            if hmac.compare_digest(checkpoint.signature(self._key), signature):
                good.append(checkpoint)
            else:
                forged.append(number)
        return CheckpointReading(tuple(good), tuple(forged), tuple(unreadable))


def _parse(line: bytes) -> tuple[Checkpoint, str] | None:
    """The checkpoint and signature of one line; None when it is not a checkpoint line."""
    if len(line) > _MAX_LINE_BYTES:
        return None
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return None
        kind, seq, digest, at, signature = (
            data["kind"],
            data["seq"],
            data["hash"],
            data["at"],
            data["sig"],
        )
        if kind not in (SEAL, HEAD) or type(seq) is not int or seq < 0:
            return None
        if not all(isinstance(value, str) for value in (digest, at, signature)):
            return None
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            return None
        return Checkpoint(kind, seq, digest, moment), signature
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable too."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
