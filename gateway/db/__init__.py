"""Database plumbing of the gateway's own stores (audit trail, restrictions): no domain here.

What the stores share: SQLite's worker thread and transactions, PostgreSQL pools and schema
creation, the keyed hash that stands for a patient, and the one failure they all report.
"""

from __future__ import annotations

import hmac
import re

_IIN = re.compile(r"[0-9]{12}")
# Shorter keys make the patient key easy to brute-force over the ~10^9 possible IINs.
MIN_SECRET_BYTES = 16


class StoreUnavailable(Exception):
    """The audit or restrictions database cannot be reached or written: the caller fails closed."""


def is_postgres_url(database_url: str) -> bool:
    """True for postgresql:// and postgres:// URLs."""
    return database_url.startswith(("postgresql://", "postgres://"))


def patient_key(iin: str, secret: bytes) -> str:
    """The keyed hash (HMAC-SHA256, hex) that finds a patient's events and restrictions."""
    if not isinstance(iin, str) or not _IIN.fullmatch(iin):
        raise ValueError("patient IIN must be 12 digits")
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"patient_key_secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.digest(secret, iin.encode("ascii"), "sha256").hex()
