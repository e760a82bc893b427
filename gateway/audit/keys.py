"""The audit trail's secrets: configured, or a key file beside a SQLite database, and the keys
derived from the chain key (one for the events' HMAC chain, one for signing checkpoints)."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.audit.events import AuditUnavailable
from gateway.config import AuditSettings
from gateway.db import MIN_SECRET_BYTES
from gateway.db.sqlite import MEMORY, sqlite_path_from_url

# Suffixes of the files kept beside a SQLite audit database when the config names none.
PATIENT_KEY_SUFFIX = ".key"
CHAIN_KEY_SUFFIX = ".chain-key"
CHECKPOINTS_SUFFIX = ".checkpoints"


class MissingSecret(ValueError):
    """A secret the audit trail needs is neither configured nor in its key file."""


@dataclass(frozen=True)
class ChainKeys:
    """The two keys derived from `audit.chain_key`; distinct, so a checkpoint signature can
    never pass for an event's hash or the reverse."""

    events: bytes = b""
    checkpoints: bytes = b""

    @classmethod
    def derive(cls, secret: bytes) -> ChainKeys:
        """HKDF-SHA256 of the configured chain key, one label per use."""
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"audit.chain_key needs at least {MIN_SECRET_BYTES} bytes")
        return cls(
            events=_hkdf(secret, b"ehp audit chain v1: events"),
            checkpoints=_hkdf(secret, b"ehp audit chain v1: checkpoints"),
        )

    def __repr__(self) -> str:
        """Never print key material."""
        return "ChainKeys(...)"


def _hkdf(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


def patient_key_secret(audit: AuditSettings) -> bytes:
    """The patient-key secret: configured, or a key file beside the SQLite database (made once).

    The key file's path is the URL minus `sqlite:///`, as it always was: moving it would make
    a new key, and patients would lose sight of their earlier events.
    """
    if audit.patient_key is not None:
        return audit.patient_key.encode()
    if not audit.database_url.startswith("sqlite:///"):
        raise MissingSecret("audit.patient_key is required for this database")
    path = Path(audit.database_url.removeprefix("sqlite:///") + PATIENT_KEY_SUFFIX)
    return _key_file(path, "audit.patient_key", create=True)


def chain_secret(audit: AuditSettings, *, create: bool) -> bytes:
    """The chain key: configured, or a key file beside the SQLite database (made when `create`)."""
    return _secret(audit.chain_key, audit, CHAIN_KEY_SUFFIX, "audit.chain_key", create=create)


def checkpoint_path(audit: AuditSettings) -> Path:
    """Where signed checkpoints are appended: configured, or a file beside the SQLite database."""
    if audit.checkpoint_path is not None:
        return Path(audit.checkpoint_path)
    database = _sqlite_file(audit.database_url)
    if database is None:
        raise MissingSecret("audit.checkpoint_path is required for this database")
    return Path(str(database) + CHECKPOINTS_SUFFIX)


def _sqlite_file(database_url: str) -> Path | None:
    if not database_url.startswith("sqlite:"):
        return None
    path = sqlite_path_from_url(database_url)
    return None if path == MEMORY else Path(path)


def _secret(
    configured: str | None, audit: AuditSettings, suffix: str, key: str, *, create: bool
) -> bytes:
    if configured is not None:
        return configured.encode()
    database = _sqlite_file(audit.database_url)
    if database is None:
        raise MissingSecret(f"{key} is required for this database")
    return _key_file(Path(str(database) + suffix), key, create=create)


def _key_file(path: Path, key: str, *, create: bool) -> bytes:
    """The key in the file at `path`, made first when `create`; AuditUnavailable on I/O errors."""
    try:
        if not path.exists():
            if not create:
                raise MissingSecret(f"{key} is not configured and there is no key file {path}")
            _write_key_file(path)
        return path.read_text(encoding="ascii").strip().encode()
    except OSError as exc:
        raise AuditUnavailable(f"cannot use the key file beside the audit database: {exc}") from exc


def _write_key_file(path: Path) -> None:
    """A new random key, readable by its owner only, in place at once or not at all.

    Written to a private temporary file and then linked: another process starting at the
    same moment sees either no file or the whole key, and never has its key overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        # Another process may have made it first: then theirs is used.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink()
