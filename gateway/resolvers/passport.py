"""The passport's section resolvers: check the decision, take the shared loads, shape.

Each function serves one field of ``Passport``. Access was decided once when the read was
opened, and the passport is handed out only once every load has settled, so these are plain
functions: no task or await per section. A denied section raises its code; a section that
was read is marked for the audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from gateway.auth.policy import Section
from gateway.contract import types as t
from gateway.errors import BadUserInput
from gateway.resolvers import observations as obs
from gateway.resolvers import shaping
from gateway.resolvers.emergency import emergency_data
from gateway.resolvers.reads import PatientRead

T = TypeVar("T")


def _section(read: PatientRead, section: Section, build: Callable[[], T]) -> T:
    read.check(section)
    value = build()
    read.mark(section)
    return value


def identity(read: PatientRead) -> t.Identity | None:
    """IDENTITY: the register's identity."""

    def build() -> t.Identity:
        return shaping.identity(read.patient(), read.names)

    return _section(read, Section.IDENTITY, build)


def care_team(read: PatientRead) -> t.CareTeam | None:
    """CARE_TEAM: attached polyclinic and GP."""

    def build() -> t.CareTeam:
        return shaping.care_team(read.patient(), read.names)

    return _section(read, Section.CARE_TEAM, build)


def emergency(read: PatientRead) -> t.EmergencyData | None:
    """EMERGENCY: the emergency summary inside a passport."""
    read.check(Section.EMERGENCY)
    return emergency_data(read, mark_as=Section.EMERGENCY)


def implants(read: PatientRead) -> list[t.Coding] | None:
    """EMERGENCY's implants alone (the IPS medical devices), from every EHR or none."""

    def build() -> list[t.Coding]:
        return shaping.implants(read.ehr().items("devices"), read.names)

    return _section(read, Section.EMERGENCY, build)


def allergies(read: PatientRead) -> list[t.Allergy] | None:
    """ALLERGIES."""

    def build() -> list[t.Allergy]:
        return shaping.allergies(read.ehr().items("allergies"), read.names)

    return _section(read, Section.ALLERGIES, build)


def lifestyle(read: PatientRead) -> t.Lifestyle | None:
    """LIFESTYLE: exercise and sleep."""

    def build() -> t.Lifestyle | None:
        return obs.lifestyle(read.ehr().latest, read.names)

    return _section(read, Section.LIFESTYLE, build)


def diagnostic_studies(read: PatientRead) -> list[t.DiagnosticStudy] | None:
    """DIAGNOSTIC_STUDIES."""

    def build() -> list[t.DiagnosticStudy]:
        return shaping.diagnostic_studies(read.ehr().items("diagnostic_reports"), read.names)

    return _section(read, Section.DIAGNOSTIC_STUDIES, build)


def lab_results(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.LabResult] | None:
    """LAB_RESULTS in a period."""
    _check_period(first, last)

    def build() -> list[t.LabResult]:
        history = read.lab_history()
        return [] if history is None else shaping.lab_results(history, read.names, first, last)

    return _section(read, Section.LAB_RESULTS, build)


def physiological_state(read: PatientRead) -> t.PhysiologicalState | None:
    """PHYSIOLOGICAL_STATE: pregnancy, blood pressure, heart rate."""

    def build() -> t.PhysiologicalState | None:
        return obs.physiological_state(read.ehr().latest, read.names)

    return _section(read, Section.PHYSIOLOGICAL_STATE, build)


def risk_behaviours(read: PatientRead) -> t.RiskBehaviours | None:
    """RISK_BEHAVIOURS: smoking, alcohol, drugs."""

    def build() -> t.RiskBehaviours | None:
        return obs.risk_behaviours(read.ehr().latest, read.names)

    return _section(read, Section.RISK_BEHAVIOURS, build)


def immunizations(read: PatientRead) -> list[t.Immunization] | None:
    """IMMUNIZATIONS."""

    def build() -> list[t.Immunization]:
        return shaping.immunizations(read.ehr().items("immunizations"), read.names)

    return _section(read, Section.IMMUNIZATIONS, build)


def screenings(read: PatientRead) -> list[t.Screening] | None:
    """SCREENINGS done."""

    def build() -> list[t.Screening]:
        return shaping.screenings(read.ehr().items("procedures"), read.names)

    return _section(read, Section.SCREENINGS, build)


def problems(read: PatientRead, include_resolved: bool) -> list[t.Problem] | None:
    """PROBLEMS: the problem list."""

    def build() -> list[t.Problem]:
        items = read.ehr().items("problems")
        return shaping.problems(
            items,
            read.names,
            include_resolved=include_resolved,
            active_only=read.decision.active_problems_only,
        )

    return _section(read, Section.PROBLEMS, build)


def current_medications(read: PatientRead) -> list[t.Medication] | None:
    """MEDICATIONS: active EHR statements, active prescriptions and dispensations whose supply
    covers today, one per ATC code."""

    def build() -> list[t.Medication]:
        return shaping.medications(read.current_medicines(), read.names)

    return _section(read, Section.MEDICATIONS, build)


def anthropometrics(read: PatientRead) -> t.Anthropometrics | None:
    """ANTHROPOMETRICS: the latest body measurements."""

    def build() -> t.Anthropometrics | None:
        return obs.anthropometrics(read.ehr().latest, read.names)

    return _section(read, Section.ANTHROPOMETRICS, build)


def encounters(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.Encounter] | None:
    """ENCOUNTERS: EHR encounters and ambulance calls in a period."""
    _check_period(first, last)

    def build() -> list[t.Encounter]:
        ehr, calls = read.ehr(), read.ambulance_encounters()
        return shaping.encounters([*ehr.items("encounters"), *calls], read.names, first, last)

    return _section(read, Section.ENCOUNTERS, build)


def dispensations(
    read: PatientRead, first: date | None, last: date | None
) -> list[t.Dispensation] | None:
    """DISPENSATIONS in a period; cost only for those who may see it."""
    _check_period(first, last)

    def build() -> list[t.Dispensation]:
        items = read.dispensations()
        return shaping.dispensations(
            items, read.names, first, last, show_cost=read.decision.show_cost
        )

    return _section(read, Section.DISPENSATIONS, build)


def sources(read: PatientRead) -> list[t.SourceStatus]:
    """How each source consulted for this read answered."""
    return shaping.source_statuses(read.reader.reports())


def _check_period(first: date | None, last: date | None) -> None:
    if first is not None and last is not None and first > last:
        raise BadUserInput("from must not be after to")
