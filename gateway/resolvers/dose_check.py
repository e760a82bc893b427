"""``doseCheck``: each current medication's daily dose against the latest weight."""

from __future__ import annotations

from gateway.auth.policy import Section
from gateway.auth.principal import Role
from gateway.errors import Forbidden
from gateway.resolvers.not_built import NotAvailableYet
from gateway.resolvers.reads import PatientRead
from gateway.schema import types as t


async def dose_check(read: PatientRead) -> list[t.DoseCheck] | None:
    """NURSE and DOCTOR only; the weight-based reference data is not built yet."""
    if read.context.principal.role not in (Role.NURSE, Role.DOCTOR):
        raise Forbidden("doseCheck is for nurses and doctors")
    read.check(Section.MEDICATIONS)
    raise NotAvailableYet("doseCheck is not available yet (its reference data is pending)")
