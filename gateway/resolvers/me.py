"""``me``: who is asking and what they may read, from the verified token, named by the register."""

from __future__ import annotations

from gateway.auth.policy import readable_sections
from gateway.contract import types as t
from gateway.records import OrgRef, PractitionerRef
from gateway.resolvers.context import RequestContext
from gateway.resolvers.names import Names


async def me(context: RequestContext) -> t.Me:
    """The principal of this request, with the register's names of their organisation and of
    themself (from the warm directory; no person's data is read)."""
    principal = context.principal
    org = OrgRef(bin=principal.org_bin) if principal.org_bin else None
    practitioner = (
        PractitionerRef(id=principal.practitioner_id) if principal.practitioner_id else None
    )
    names = Names()
    if org is not None or practitioner is not None:
        directory = await context.services.sources.directory(
            [org] if org else [], [practitioner] if practitioner else [], context.deadline
        )
        names = Names(directory)
    return t.Me(
        subject=principal.subject,
        role=principal.role,
        iin=principal.iin,
        organization=names.organization(org),
        practitioner=names.practitioner(practitioner),
        region=principal.region,
        readable_sections=readable_sections(principal.role),
    )
