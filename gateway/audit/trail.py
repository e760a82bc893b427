"""What keeps the chain honest besides the database: its keys and its checkpoint file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.audit.checkpoints import CheckpointLog
from gateway.audit.keys import ChainKeys, chain_secret, checkpoint_path
from gateway.config import AuditSettings


@dataclass(frozen=True)
class Trail:
    """The chain's keys, where its checkpoints go, and how often the head is checkpointed."""

    keys: ChainKeys
    checkpoint_path: Path
    checkpoint_interval_s: float = 60.0

    @classmethod
    def from_settings(cls, audit: AuditSettings, *, create_key: bool = True) -> Trail:
        """From `[audit]`; the SQLite key file is made only when `create_key` (never by verify)."""
        return cls(
            keys=ChainKeys.derive(chain_secret(audit, create=create_key)),
            checkpoint_path=checkpoint_path(audit),
            checkpoint_interval_s=float(audit.checkpoint_interval_s),
        )

    def log(self) -> CheckpointLog:
        """The checkpoint file, signed and read with the checkpoint key."""
        return CheckpointLog(self.checkpoint_path, self.keys.checkpoints)
