"""``dependants``: the children a patient may read today as their parent or legal guardian.

Listing a child shows the child's identity, so each listed child's log gets an event
(``IDENTITY``, basis GUARDIAN), as any read of a person's record does.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audit.disclosure import Disclosure
from gateway.auth.policy import Basis, Section, dependants
from gateway.auth.principal import Role
from gateway.contract import types as t
from gateway.resolvers.access import guardians_of
from gateway.resolvers.context import RequestContext
from gateway.resolvers.names import Names, references
from gateway.resolvers.shaping import identity


@dataclass(frozen=True, slots=True)
class DependantListed:
    """A child named in a guardian's ``dependants``: their identity was shown."""

    iin: str

    def disclosure(self) -> Disclosure:
        """The identity shown, on the guardian's ground."""
        return Disclosure(
            iin=self.iin, sections=frozenset({Section.IDENTITY.value}), basis=Basis.GUARDIAN
        )


async def list_dependants(context: RequestContext) -> list[t.Identity]:
    """The children the caller may read today (empty for everyone but patients); raises
    SOURCE_UNAVAILABLE when the register cannot say and no copy of its answer is kept."""
    principal = context.principal
    if principal.role is not Role.PATIENT or principal.iin is None:
        return []
    guardians = await guardians_of(context, principal.iin, context.deadline)
    if guardians.unavailable is not None:
        raise guardians.unavailable
    children = dependants(guardians)
    context.reads.extend(DependantListed(child.iin) for child in children)
    organizations, practitioners = references(children)
    names = Names()
    if organizations or practitioners:
        names = Names(
            await context.services.sources.directory(organizations, practitioners, context.deadline)
        )
    return [identity(child, names) for child in children]
