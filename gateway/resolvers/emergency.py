"""Critical data for an emergency crew: one object, built from every source at once.

Unlike passport sections, the emergency summary serves what it has when a source fails:
a crew at 3 a.m. is better served by the allergies of two regions than by nothing, and
``sources`` says which system did not answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.auth.policy import Section
from gateway.contract import types as t
from gateway.errors import GatewayError, NotFound, SourceUnavailable
from gateway.resolvers import observations as obs
from gateway.resolvers import shaping
from gateway.resolvers.reads import PRESCRIPTION_SECTIONS, EhrView, PatientRead


def emergency_data(read: PatientRead, mark_as: Section | None = None) -> t.EmergencyData:
    """The emergency summary of the sections the decision allows (the read has settled)."""
    allowed = read.decision.allowed
    wants_drugs = bool(allowed & PRESCRIPTION_SECTIONS)
    patient = _soft(read.patient)
    ehr = _soft(lambda: read.ehr(partial=True)) if read.ehr_types else None
    prescriptions = _soft(read.prescriptions) if wants_drugs else None
    if isinstance(patient, NotFound):
        raise patient
    view = ehr if isinstance(ehr, EhrView) else EhrView([])
    latest = view.latest
    shown: set[Section] = set()

    def allow(section: Section) -> bool:
        if section in allowed or mark_as in allowed:
            shown.add(section)
            return True
        return False

    data = t.EmergencyData(
        identity=(
            shaping.identity(patient)
            if allow(Section.IDENTITY) and not isinstance(patient, GatewayError)
            else None
        ),
        blood_group=obs.blood_group(latest) if allow(Section.EMERGENCY) else None,
        allergies=shaping.allergies(view.items("allergies")) if allow(Section.ALLERGIES) else [],
        active_problems=(
            shaping.problems(view.items("problems"), include_resolved=False, active_only=True)
            if allow(Section.PROBLEMS)
            else []
        ),
        current_medications=(
            shaping.medications(
                view.items("medications"),
                prescriptions if isinstance(prescriptions, list) else [],
            )
            if allow(Section.MEDICATIONS)
            else []
        ),
        implants=shaping.implants(view.items("devices")) if allow(Section.EMERGENCY) else [],
        pregnancy=obs.pregnancy(latest) if allow(Section.PHYSIOLOGICAL_STATE) else None,
        weight_kg=obs.weight_kg(latest) if allow(Section.ANTHROPOMETRICS) else None,
        sources=[],
    )
    data.sources = shaping.source_statuses(read.reader.reports())
    if mark_as is not None:
        read.mark(mark_as)
    for section in shown:
        read.mark(section)
    return data


def _soft(read: Callable[[], Any]) -> Any:
    """The value read, or the source error as a value (the summary serves what it has)."""
    try:
        return read()
    except (SourceUnavailable, NotFound) as error:
        return error
