"""The root types: ``Query`` (me, passport, emergency, stats) and ``Mutation``."""

from __future__ import annotations

import contextlib

import strawberry
from strawberry.types import Info

from gateway.auth.policy import (
    EMERGENCY_FIELDS,
    ENTRY_ROLES,
    PASSPORT_FIELDS,
    EntryPoint,
    Feature,
    requested_sections,
)
from gateway.auth.principal import Role
from gateway.contract.enums import Section as SectionEnum
from gateway.contract.scalars import IIN
from gateway.contract.types import EmergencyData, Me
from gateway.deadline import Deadline
from gateway.errors import SourceUnavailable
from gateway.resolvers.access import open_read
from gateway.resolvers.context import RequestContext
from gateway.resolvers.emergency import emergency_data
from gateway.resolvers.me import me
from gateway.resolvers.restrictions import restrict_section
from gateway.schema.access import access, access_roles
from gateway.schema.passport import Passport
from gateway.schema.selection import selected_field_names
from gateway.schema.stats import Stats, open_stats


@strawberry.type
class Query:
    """Reads."""

    @strawberry.field(description="Who is asking, and what they may read.")
    async def me(self, info: Info[RequestContext, None]) -> Me:
        return await me(info.context)

    @strawberry.field(
        description=(
            "A patient's passport, resolved live from the source systems. A patient may only "
            "ask for their own IIN. A clinician without a care relationship must give "
            "breakGlassReason (10 characters by default, at most 500; audited as break-glass)."
        ),
        directives=[access_roles(*ENTRY_ROLES[EntryPoint.PASSPORT])],
    )
    async def passport(
        self, info: Info[RequestContext, None], iin: IIN, break_glass_reason: str | None = None
    ) -> Passport | None:
        fields = selected_field_names(info)
        read = await open_read(
            info.context,
            iin,
            EntryPoint.PASSPORT,
            requested_sections(fields, PASSPORT_FIELDS),
            break_glass_reason,
            wants_weight="doseCheck" in fields,
        )
        # Every load settles before the sections are shaped, so they need no await of their own.
        await read.settled()
        # NOT_FOUND for an IIN the register does not know; when the register is down, its
        # sections say so and the others are still served.
        with contextlib.suppress(SourceUnavailable):
            read.patient()
        return Passport(iin=iin, read=read)

    @strawberry.field(
        description=(
            "Critical data for emergency care, for EMERGENCY, DOCTOR and NURSE. Every call is "
            "audited with its reason (3 characters by default, at most 500) and shown to the "
            "patient."
        ),
        directives=[access_roles(*ENTRY_ROLES[EntryPoint.EMERGENCY])],
    )
    async def emergency(
        self, info: Info[RequestContext, None], iin: IIN, reason: str
    ) -> EmergencyData | None:
        context = info.context
        requested = requested_sections(selected_field_names(info), EMERGENCY_FIELDS)
        budget_ms = context.services.policy.emergency_deadline_ms
        deadline = Deadline.after_ms(budget_ms).earliest(context.deadline)
        read = await open_read(context, iin, EntryPoint.EMERGENCY, requested, reason, deadline)
        await read.settled()
        return emergency_data(read)

    @strawberry.field(
        description="Aggregates for health managers; small groups are suppressed.",
        directives=[access(Feature.STATS)],
    )
    async def stats(self, info: Info[RequestContext, None]) -> Stats | None:
        return open_stats(info.context)


@strawberry.type
class Mutation:
    """Changes a patient makes to their own passport."""

    @strawberry.mutation(
        description=(
            "Patient only: hide (restricted: true) or reveal a section of their own passport "
            "from nurses and doctors. Returns the sections now restricted."
        ),
        directives=[access_roles(Role.PATIENT)],
    )
    async def restrict_section(
        self, info: Info[RequestContext, None], section: SectionEnum, restricted: bool
    ) -> list[SectionEnum]:
        return await restrict_section(info.context, section, restricted)
