"""Shared helpers for the audit trail and restrictions tests."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gateway.audit import NewAuditEvent
from gateway.audit.keys import ChainKeys
from gateway.audit.trail import Trail
from gateway.auth.policy import Basis

SECRET = b"test-patient-key-secret-32-bytes"
CHAIN_SECRET = b"test-audit-chain-key-of-32-bytes"
KEYS = ChainKeys.derive(CHAIN_SECRET)
# Twelve-digit IINs of made-up patients; the store only needs them to be 12 digits.
AIGUL = "900101400125"
BEKZAT = "850615300137"
DANIYAR = "010203500144"

PG_BASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def disclosure(
    n: int, iin: str = AIGUL, *, sections: tuple[str, ...] = ("IDENTITY", "ALLERGIES")
) -> NewAuditEvent:
    """A doctor's read of `iin`, numbered `n` in its request id and subject."""
    return NewAuditEvent(
        subject=f"doctor-{n}",
        role="doctor",
        patient_iin=iin,
        sections=sections,
        request_id=f"req-{n}",
        practitioner_id="prac-17",
        practitioner_name="Ержан Сапаров",
        org_bin="040340004567",
        org_name="Поликлиника №4",
        reason=None,
        break_glass=False,
        at=datetime(2025, 3, 1, 12, 0, n % 60, tzinfo=UTC),
        basis=Basis.CARE_RELATIONSHIP,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_schema() -> str:
    """A schema name no other test run uses."""
    return f"audit_test_{uuid.uuid4().hex[:12]}"


def trail(directory: Path, secret: bytes = CHAIN_SECRET) -> Trail:
    """The chain keys of `secret` and a checkpoint file in `directory`."""
    return Trail(ChainKeys.derive(secret), directory / "audit.checkpoints")


def write_config(directory: Path, database_url: str, **audit: str) -> Path:
    """A gateway configuration file whose `[audit]` is `database_url` and `audit`, for the CLI."""
    lines = [f'database_url = "{database_url}"', *(f'{k} = "{v}"' for k, v in audit.items())]
    path = directory / "gateway.toml"
    path.write_text(
        "\n".join(
            [
                "[auth]",
                'issuer = "https://idp.example.kz"',
                'audience = "ehp-gateway"',
                'jwks_file = "jwks.json"',
                "[audit]",
                *lines,
                "[[sources]]",
                'name = "register"',
                'kind = "fhir-register"',
                'base_url = "http://127.0.0.1:9/fhir"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path
