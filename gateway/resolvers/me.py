"""``me``: who is asking and what they may read, straight from the verified token."""

from __future__ import annotations

from gateway.auth.policy import readable_sections
from gateway.contract import types as t
from gateway.resolvers.context import RequestContext


async def me(context: RequestContext) -> t.Me:
    """The principal of this request; no person's data is read."""
    principal = context.principal
    organization = t.Organization(bin=principal.org_bin) if principal.org_bin else None
    practitioner = (
        t.Practitioner(id=principal.practitioner_id) if principal.practitioner_id else None
    )
    return t.Me(
        subject=principal.subject,
        role=principal.role,
        iin=principal.iin,
        organization=organization,
        practitioner=practitioner,
        region=principal.region,
        readable_sections=readable_sections(principal.role),
    )
