"""``Query.stats``: managers' aggregates (dispensations, prevalence, ambulance calls).

Only managers open it (FORBIDDEN at ``stats`` for anyone else); each field delegates to
``gateway.resolvers.stats``, which pushes the counting down to the source systems, scopes it
to the manager's region and suppresses small cells (``docs/suppression.md``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from gateway.auth.policy import stats_region
from gateway.contract.enums import CallGrouping, DispensationGrouping
from gateway.contract.types import StatRow
from gateway.resolvers import stats as resolve
from gateway.resolvers.context import RequestContext

From = Annotated[date, strawberry.argument(name="from")]


@strawberry.type
class Stats:
    """Aggregates for health managers; small groups are suppressed."""

    context: strawberry.Private[RequestContext]

    @strawberry.field(
        description="Free and insured medicines dispensed: counts, patients and cost."
    )
    async def dispensations(
        self,
        from_: From,
        to: date,
        region: str | None = None,
        *,
        group_by: DispensationGrouping,
    ) -> list[StatRow]:
        return await resolve.dispensation_stats(self.context, from_, to, region, group_by.value)

    @strawberry.field(
        description=(
            "Active diagnoses in an ICD-10 category (e.g. E11 and its subcodes), one row per "
            "region, as counted by that region's clinical record."
        )
    )
    async def prevalence(self, icd10: str, region: str | None = None) -> list[StatRow]:
        return await resolve.prevalence(self.context, icd10, region)

    @strawberry.field
    async def ambulance_calls(
        self,
        from_: From,
        to: date,
        region: str | None = None,
        *,
        group_by: CallGrouping,
    ) -> list[StatRow]:
        return await resolve.call_stats(self.context, from_, to, region, group_by.value)


def open_stats(context: RequestContext) -> Stats | None:
    """The ``stats`` object for a manager; FORBIDDEN for every other role."""
    stats_region(context.principal, None)
    return Stats(context=context)
