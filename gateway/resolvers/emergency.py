"""Critical data for an emergency crew: one object, built from every source at once.

Nothing unknown may look like "none": a field is served only when every source that may hold
such facts answered (fresh, or a cached copy flagged stale in ``sources``). Otherwise the
field is null with one SOURCE_UNAVAILABLE error at its path (the error is the field's value,
which graphql-core raises there), and the other fields are still served. ``complete`` is
true only when every source the summary is built from answered fresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.auth.policy import Section
from gateway.contract import types as t
from gateway.errors import Forbidden, NotFound, SourceUnavailable
from gateway.resolvers import observations as obs
from gateway.resolvers import shaping
from gateway.resolvers.reads import PatientRead

# The loads each field is built from: "patient" is the register, "ehr" every regional EHR.
REGISTER = ("patient",)
EHR = ("ehr",)
MEDICINES = ("ehr", "prescriptions", "dispensations")


def emergency_data(read: PatientRead, mark_as: Section | None = None) -> t.EmergencyData:
    """The emergency summary of the sections the decision allows (the read has settled)."""
    patient = _soft(read.patient)
    if isinstance(patient, NotFound):
        raise patient
    allowed = read.decision.allowed
    names = read.names
    shown: set[Section] = set()

    def field(section: Section, loads: tuple[str, ...], build: Callable[[], Any]) -> Any:
        """The field's value, or its error as a value (denied, or a source did not answer)."""
        if section not in allowed and mark_as not in allowed:
            return Forbidden()
        failure = read.failure(*loads)
        if failure is not None:
            return failure
        value = build()
        shown.add(section)
        return value

    def latest() -> obs.LatestObservations:
        return read.ehr().latest

    data = t.EmergencyData(
        identity=field(Section.IDENTITY, REGISTER, lambda: shaping.identity(patient, names)),
        blood_group=field(Section.EMERGENCY, EHR, lambda: obs.blood_group(latest())),
        allergies=field(
            Section.ALLERGIES,
            EHR,
            lambda: shaping.allergies(read.ehr().items("allergies"), names),
        ),
        active_problems=field(
            Section.PROBLEMS,
            EHR,
            lambda: shaping.problems(
                read.ehr().items("problems"), names, include_resolved=False, active_only=True
            ),
        ),
        current_medications=field(
            Section.MEDICATIONS,
            MEDICINES,
            lambda: shaping.medications(read.current_medicines(), names),
        ),
        implants=field(
            Section.EMERGENCY, EHR, lambda: shaping.implants(read.ehr().items("devices"), names)
        ),
        pregnancy=field(Section.PHYSIOLOGICAL_STATE, EHR, lambda: obs.pregnancy(latest(), names)),
        weight_kg=field(Section.ANTHROPOMETRICS, EHR, lambda: obs.weight_kg(latest())),
        contacts=field(Section.EMERGENCY, REGISTER, lambda: shaping.contacts(patient, names)),
        sources=[],
        complete=False,
    )
    data.sources = shaping.source_statuses(read.reader.reports())
    # Inside a passport other sources (the laboratory) were asked too; they are not part of it.
    data.complete = read.fresh(*REGISTER, *MEDICINES)
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
