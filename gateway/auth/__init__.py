"""Authentication and authorisation: token verification, principals, the access policy."""

from gateway.auth.policy import (
    CareRelationship,
    Decision,
    EntryPoint,
    Section,
    decide,
    needs_relationship,
    readable_sections,
)
from gateway.auth.principal import Principal, Role
from gateway.auth.tokens import TokenVerifier

__all__ = [
    "CareRelationship",
    "Decision",
    "EntryPoint",
    "Principal",
    "Role",
    "Section",
    "TokenVerifier",
    "decide",
    "needs_relationship",
    "readable_sections",
]
