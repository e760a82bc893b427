"""``screeningPlan``: check-ups of the national screening programme due in coming months."""

from __future__ import annotations

from gateway.auth.policy import Section
from gateway.resolvers.not_built import NotAvailableYet
from gateway.resolvers.reads import PatientRead
from gateway.schema import types as t


async def screening_plan(read: PatientRead, months: int) -> list[t.PlannedScreening] | None:
    """The programme's rules are not built yet."""
    read.check(Section.SCREENINGS)
    raise NotAvailableYet("screeningPlan is not available yet (its programme rules are pending)")
