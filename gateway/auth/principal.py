"""Who is asking: the role and identifiers taken from a verified token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The five roles of ACCESS.md; values are the GraphQL `Role` enum names."""

    PATIENT = "PATIENT"
    EMERGENCY = "EMERGENCY"
    NURSE = "NURSE"
    DOCTOR = "DOCTOR"
    MANAGER = "MANAGER"

    @property
    def claim(self) -> str:
        """The value of the token's `role` claim for this role (lower case)."""
        return self.value.lower()

    @classmethod
    def from_claim(cls, value: object) -> Role | None:
        """The role named by a token's `role` claim, or None when it names none."""
        if not isinstance(value, str) or value != value.lower():
            return None
        try:
            return cls(value.upper())
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one request."""

    subject: str
    role: Role
    iin: str | None = None
    practitioner_id: str | None = None
    org_bin: str | None = None
    region: str | None = None
