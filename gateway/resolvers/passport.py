"""The passport's section resolvers: check the decision, await the shared loads, shape.

Each function serves one field of ``Passport``. Access was decided once when the read was
opened; here a denied section raises its code, and a section that was read is marked for
the audit event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TypeVar

from gateway.auth.policy import Section
from gateway.errors import BadUserInput
from gateway.resolvers import observations as obs
from gateway.resolvers import shaping
from gateway.resolvers.emergency import emergency_data
from gateway.resolvers.reads import PatientRead
from gateway.schema import types as t

T = TypeVar("T")


async def _section(read: PatientRead, section: Section, build: Callable[[], Awaitable[T]]) -> T:
    read.check(section)
    value = await build()
    read.mark(section)
    return value


async def identity(read: PatientRead) -> t.Identity | None:
    """IDENTITY: the register's identity."""

    async def build() -> t.Identity:
        return shaping.identity(await read.patient())

    return await _section(read, Section.IDENTITY, build)


async def care_team(read: PatientRead) -> t.CareTeam | None:
    """CARE_TEAM: attached polyclinic and GP."""

    async def build() -> t.CareTeam:
        return shaping.care_team(await read.patient())

    return await _section(read, Section.CARE_TEAM, build)


async def emergency(read: PatientRead) -> t.EmergencyData | None:
    """EMERGENCY: the emergency summary inside a passport."""
    read.check(Section.EMERGENCY)
    return await emergency_data(read, mark_as=Section.EMERGENCY)


async def allergies(read: PatientRead) -> list[t.Allergy] | None:
    """ALLERGIES."""

    async def build() -> list[t.Allergy]:
        return shaping.allergies((await read.ehr()).items("allergies"))

    return await _section(read, Section.ALLERGIES, build)


async def lifestyle(read: PatientRead) -> t.Lifestyle | None:
    """LIFESTYLE: exercise and sleep."""

    async def build() -> t.Lifestyle | None:
        return obs.lifestyle((await read.ehr()).latest)

    return await _section(read, Section.LIFESTYLE, build)


async def diagnostic_studies(read: PatientRead) -> list[t.DiagnosticStudy] | None:
    """DIAGNOSTIC_STUDIES."""

    async def build() -> list[t.DiagnosticStudy]:
        return shaping.diagnostic_studies((await read.ehr()).items("diagnostic_reports"))

    return await _section(read, Section.DIAGNOSTIC_STUDIES, build)


async def lab_results(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.LabResult] | None:
    """LAB_RESULTS in a period."""
    _check_period(first, last)

    async def build() -> list[t.LabResult]:
        history = await read.lab_history()
        return [] if history is None else shaping.lab_results(history, first, last)

    return await _section(read, Section.LAB_RESULTS, build)


async def physiological_state(read: PatientRead) -> t.PhysiologicalState | None:
    """PHYSIOLOGICAL_STATE: pregnancy, blood pressure, heart rate."""

    async def build() -> t.PhysiologicalState | None:
        return obs.physiological_state((await read.ehr()).latest)

    return await _section(read, Section.PHYSIOLOGICAL_STATE, build)


async def risk_behaviours(read: PatientRead) -> t.RiskBehaviours | None:
    """RISK_BEHAVIOURS: smoking, alcohol, drugs."""

    async def build() -> t.RiskBehaviours | None:
        return obs.risk_behaviours((await read.ehr()).latest)

    return await _section(read, Section.RISK_BEHAVIOURS, build)


async def immunizations(read: PatientRead) -> list[t.Immunization] | None:
    """IMMUNIZATIONS."""

    async def build() -> list[t.Immunization]:
        return shaping.immunizations((await read.ehr()).items("immunizations"))

    return await _section(read, Section.IMMUNIZATIONS, build)


async def screenings(read: PatientRead) -> list[t.Screening] | None:
    """SCREENINGS done."""

    async def build() -> list[t.Screening]:
        return shaping.screenings((await read.ehr()).items("procedures"))

    return await _section(read, Section.SCREENINGS, build)


async def problems(read: PatientRead, include_resolved: bool) -> list[t.Problem] | None:
    """PROBLEMS: the problem list."""

    async def build() -> list[t.Problem]:
        items = (await read.ehr()).items("problems")
        return shaping.problems(
            items,
            include_resolved=include_resolved,
            active_only=read.decision.active_problems_only,
        )

    return await _section(read, Section.PROBLEMS, build)


async def current_medications(read: PatientRead) -> list[t.Medication] | None:
    """MEDICATIONS: EHR statements and DPS prescriptions, one per ATC code."""

    async def build() -> list[t.Medication]:
        ehr, prescriptions = await asyncio.gather(read.ehr(), read.prescriptions())
        return shaping.medications(ehr.items("medications"), prescriptions)

    return await _section(read, Section.MEDICATIONS, build)


async def anthropometrics(read: PatientRead) -> t.Anthropometrics | None:
    """ANTHROPOMETRICS: the latest body measurements."""

    async def build() -> t.Anthropometrics | None:
        return obs.anthropometrics((await read.ehr()).latest)

    return await _section(read, Section.ANTHROPOMETRICS, build)


async def encounters(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.Encounter] | None:
    """ENCOUNTERS: EHR encounters and ambulance calls in a period."""
    _check_period(first, last)

    async def build() -> list[t.Encounter]:
        ehr, calls = await asyncio.gather(read.ehr(), read.ambulance_encounters())
        return shaping.encounters([*ehr.items("encounters"), *calls], first, last)

    return await _section(read, Section.ENCOUNTERS, build)


async def dispensations(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.Dispensation] | None:
    """DISPENSATIONS in a period; cost only for those who may see it."""
    _check_period(first, last)

    async def build() -> list[t.Dispensation]:
        items = await read.dispensations()
        return shaping.dispensations(items, first, last, show_cost=read.decision.show_cost)

    return await _section(read, Section.DISPENSATIONS, build)


async def sources(read: PatientRead) -> list[t.SourceStatus]:
    """How each source consulted for this read answered."""
    await read.settled()
    return shaping.source_statuses(read.loader.reports())


def _check_period(first: date | None, last: date | None) -> None:
    if first is not None and last is not None and first > last:
        raise BadUserInput("from must not be after to")
