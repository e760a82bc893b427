"""The ``Passport`` type: one resolver per section (never per scalar), all sharing one read.

Who may read each field is not written here: ``with_field_access`` puts the policy table's
answer on every field, from ``PASSPORT_FIELDS``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from gateway.auth.policy import PASSPORT_FIELDS
from gateway.contract.enums import Section as SectionEnum
from gateway.contract.scalars import IIN
from gateway.contract.types import (
    AccessEvent,
    Allergy,
    Anthropometrics,
    CareTeam,
    DiagnosticStudy,
    Dispensation,
    DoseCheck,
    EmergencyData,
    Encounter,
    Identity,
    Immunization,
    LabResult,
    Lifestyle,
    Medication,
    PhysiologicalState,
    PlannedScreening,
    Problem,
    RiskBehaviours,
    Screening,
    SourceStatus,
)
from gateway.resolvers import passport as resolve
from gateway.resolvers.access_log import access_log
from gateway.resolvers.dose_check import dose_check
from gateway.resolvers.reads import PatientRead
from gateway.resolvers.restrictions import restricted_sections
from gateway.resolvers.screening_plan import screening_plan
from gateway.schema.access import with_field_access

# The contract names a period's start `from`, a Python keyword.
FROM_ARGUMENT = strawberry.argument(name="from")


@strawberry.type
class Passport:
    """A patient's passport, resolved live from the source systems."""

    iin: IIN
    read: strawberry.Private[PatientRead]

    @strawberry.field
    def identity(self) -> Identity | None:
        return resolve.identity(self.read)

    @strawberry.field
    def care_team(self) -> CareTeam | None:
        return resolve.care_team(self.read)

    @strawberry.field
    def emergency(self) -> EmergencyData | None:
        return resolve.emergency(self.read)

    @strawberry.field
    def allergies(self) -> list[Allergy] | None:
        return resolve.allergies(self.read)

    @strawberry.field
    def lifestyle(self) -> Lifestyle | None:
        return resolve.lifestyle(self.read)

    @strawberry.field
    def diagnostic_studies(self) -> list[DiagnosticStudy] | None:
        return resolve.diagnostic_studies(self.read)

    @strawberry.field
    def lab_results(
        self,
        from_: Annotated[dt.date | None, FROM_ARGUMENT] = None,
        to: dt.date | None = None,
    ) -> list[LabResult] | None:
        return resolve.lab_results(self.read, from_, to)

    @strawberry.field
    def physiological_state(self) -> PhysiologicalState | None:
        return resolve.physiological_state(self.read)

    @strawberry.field
    def risk_behaviours(self) -> RiskBehaviours | None:
        return resolve.risk_behaviours(self.read)

    @strawberry.field
    def immunizations(self) -> list[Immunization] | None:
        return resolve.immunizations(self.read)

    @strawberry.field
    def screenings(self) -> list[Screening] | None:
        return resolve.screenings(self.read)

    @strawberry.field(
        description=(
            "Check-ups of the national screening programme due in the coming months, "
            "with overdue ones first."
        ),
    )
    def screening_plan(self, months: int | None = 12) -> list[PlannedScreening] | None:
        return screening_plan(self.read, 12 if months is None else months)

    @strawberry.field
    def problems(self, include_resolved: bool | None = False) -> list[Problem] | None:
        return resolve.problems(self.read, bool(include_resolved))

    @strawberry.field
    def current_medications(self) -> list[Medication] | None:
        return resolve.current_medications(self.read)

    @strawberry.field
    def anthropometrics(self) -> Anthropometrics | None:
        return resolve.anthropometrics(self.read)

    @strawberry.field
    def encounters(
        self,
        from_: Annotated[dt.date | None, FROM_ARGUMENT] = None,
        to: dt.date | None = None,
    ) -> list[Encounter] | None:
        return resolve.encounters(self.read, from_, to)

    @strawberry.field
    def dispensations(
        self,
        from_: Annotated[dt.date | None, FROM_ARGUMENT] = None,
        to: dt.date | None = None,
    ) -> list[Dispensation] | None:
        return resolve.dispensations(self.read, from_, to)

    @strawberry.field(
        description="Each current medication's dose against the patient's latest weight."
    )
    def dose_check(self) -> list[DoseCheck] | None:
        return dose_check(self.read)

    @strawberry.field(
        description="Patient only: who read this passport, when, which sections, and why."
    )
    async def access_log(self, limit: int | None = 50) -> list[AccessEvent] | None:
        return await access_log(self.read, 50 if limit is None else limit)

    @strawberry.field
    async def restricted_sections(self) -> list[SectionEnum] | None:
        return sorted(await restricted_sections(self.read))

    @strawberry.field
    def sources(self) -> list[SourceStatus]:
        return resolve.sources(self.read)


with_field_access(Passport, PASSPORT_FIELDS)
