"""The ``@access`` schema directive: each section field says in the SDL who may read it.

The directives are derived from the policy's field maps (``PASSPORT_FIELDS``), never written
field by field, so the served SDL and the decision cannot disagree.
"""

from __future__ import annotations

from typing import TypeVar

import strawberry
from strawberry.schema_directive import Location
from strawberry.utils.str_converters import to_camel_case

from gateway.auth.policy import POLICY, Feature, Rule, Section, field_roles
from gateway.auth.principal import Role
from gateway.contract.enums import Role as RoleEnum

T = TypeVar("T")


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
    """The directive for a field readable by exactly ``roles`` (listed in the enum's order)."""
    return Access(roles=[role for role in Role if role in roles])


def with_field_access(cls: T, mapping: dict[str, Section | Feature | None]) -> T:
    """Put on each field of the strawberry type ``cls`` the directive its entry in ``mapping``
    (policy field name -> area) calls for; fields without person data get none."""
    for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        name = field.graphql_name or to_camel_case(field.python_name)
        area = mapping.get(name)
        if area is None:
            continue
        section = area.value if isinstance(area, Section) else None
        directive = Access(roles=field_roles(name, mapping), section=section)
        field.directives = [*field.directives, directive]
    return cls
