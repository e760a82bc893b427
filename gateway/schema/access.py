"""The ``@access`` schema directive: each section field says in the SDL who may read it."""

from __future__ import annotations

import strawberry
from strawberry.schema_directive import Location

from gateway.auth.policy import POLICY, Feature, Rule, Section
from gateway.auth.principal import Role
from gateway.schema.enums import Role as RoleEnum


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description=(
        "Roles that may read this field (ACCESS.md); `section` is the passport section it "
        "discloses. Nurses and doctors also need a care relationship or a break-glass reason."
    ),
)
class Access:
    """Who may read a field, printed in the served SDL."""

    roles: list[RoleEnum]
    section: str | None = None


def access(area: Section | Feature) -> Access:
    """The directive for a field disclosing ``area``, read from the policy table."""
    roles = [role for role in Role if POLICY[area][role] is not Rule.DENY]
    section = area.value if isinstance(area, Section) else None
    return Access(roles=roles, section=section)


def access_roles(*roles: Role) -> Access:
    """The directive for a field readable by exactly ``roles``."""
    return Access(roles=list(roles))
