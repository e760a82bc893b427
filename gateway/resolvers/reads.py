"""One read of one person's record: the decision, the loads it allows, and what it disclosed.

A ``PatientRead`` is made once per ``passport`` or ``emergency`` field. It starts every load
the decision allows at once (so sources answer in parallel), and hands section resolvers
the merged records, or the section's error: the decision's code, or SOURCE_UNAVAILABLE
when a source that holds the section failed with no cached copy to serve.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gateway import records as rec
from gateway.audit.disclosure import Disclosure
from gateway.auth.policy import Decision, EntryPoint, Section
from gateway.errors import Forbidden, GatewayError, NotFound, RestrictedByPatient, SourceUnavailable
from gateway.resolvers import observations as obs
from gateway.resolvers.context import RequestContext
from gateway.resolvers.observations import LatestObservations
from gateway.sources import Fetched, PersonReader

# The FHIR resource types each section needs from the regional EHRs.
EHR_TYPES: dict[Section, frozenset[str]] = {
    Section.EMERGENCY: frozenset(
        {"AllergyIntolerance", "Condition", "MedicationStatement", "Device", "Observation"}
    ),
    Section.ALLERGIES: frozenset({"AllergyIntolerance"}),
    Section.LIFESTYLE: frozenset({"Observation"}),
    Section.DIAGNOSTIC_STUDIES: frozenset({"DiagnosticReport"}),
    Section.PHYSIOLOGICAL_STATE: frozenset({"Observation"}),
    Section.RISK_BEHAVIOURS: frozenset({"Observation"}),
    Section.IMMUNIZATIONS: frozenset({"Immunization"}),
    Section.SCREENINGS: frozenset({"Procedure"}),
    Section.PROBLEMS: frozenset({"Condition"}),
    Section.MEDICATIONS: frozenset({"MedicationStatement"}),
    Section.ANTHROPOMETRICS: frozenset({"Observation"}),
    Section.ENCOUNTERS: frozenset({"Encounter"}),
}
# The LOINC codes of the Observations each section shows: only those are asked for, so a
# nurse's read of vital signs never brings smoking or drug-use observations along.
OBSERVATION_CODES: dict[Section, frozenset[str]] = {
    Section.EMERGENCY: frozenset({obs.ABO, obs.RH, obs.PREGNANCY, obs.DELIVERY_DATE, obs.WEIGHT}),
    Section.LIFESTYLE: frozenset({obs.EXERCISE, obs.SLEEP}),
    Section.PHYSIOLOGICAL_STATE: frozenset(
        {obs.PREGNANCY, obs.DELIVERY_DATE, obs.BLOOD_PRESSURE, obs.HEART_RATE}
    ),
    Section.RISK_BEHAVIOURS: frozenset({obs.SMOKING, obs.ALCOHOL, obs.DRUGS}),
    Section.ANTHROPOMETRICS: frozenset({obs.WEIGHT, obs.HEIGHT, obs.BMI, obs.WAIST}),
}
PRESCRIPTION_SECTIONS = frozenset({Section.MEDICATIONS, Section.EMERGENCY})

_ERRORS: dict[str, type[GatewayError]] = {
    Forbidden.code: Forbidden,
    RestrictedByPatient.code: RestrictedByPatient,
}


@dataclass
class EhrView:
    """Every regional EHR's records of one person, merged."""

    records: list[rec.EhrRecord]

    def items(self, attribute: str) -> list[Any]:
        """All items of one kind (e.g. ``allergies``) across regions."""
        return [item for record in self.records for item in getattr(record, attribute)]

    @cached_property
    def latest(self) -> LatestObservations:
        """The latest observation of each code across regions (computed once per read)."""
        return LatestObservations.of(self.items("observations"))


@dataclass
class PatientRead:
    """What one ``passport``/``emergency`` field may read of one person, and what it read."""

    context: RequestContext
    iin: str
    entry: EntryPoint
    decision: Decision
    reader: PersonReader
    # The patient's restrictions when the decision needed them; else read on demand.
    restricted: frozenset[Section] | None = None
    # doseCheck needs the weight (Observation) beside the medicines, in the same EHR call.
    wants_weight: bool = False
    disclosed: set[Section] = field(default_factory=set)
    _loads: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _views: dict[bool, EhrView] = field(default_factory=dict)

    @cached_property
    def ehr_types(self) -> frozenset[str]:
        """The union of EHR resource types the allowed sections need (one call per EHR)."""
        types: set[str] = set()
        for section in self.decision.allowed:
            types |= EHR_TYPES.get(section, frozenset())
        if self.wants_weight and Section.MEDICATIONS in self.decision.allowed:
            types.add("Observation")
        return frozenset(types)

    @cached_property
    def observation_codes(self) -> frozenset[str]:
        """The LOINC codes of the Observations the allowed sections show."""
        codes: set[str] = set()
        for section in self.decision.allowed:
            codes |= OBSERVATION_CODES.get(section, frozenset())
        if self.wants_weight and Section.MEDICATIONS in self.decision.allowed:
            codes.add(obs.WEIGHT)
        return frozenset(codes)

    def start(self) -> None:
        """Start every load the allowed sections need, all at once."""
        allowed = self.decision.allowed
        reader = self.reader
        # The register is always asked: an IIN it does not know is NOT_FOUND for every field.
        loads: dict[str, asyncio.Future[Any]] = {"patient": reader.patient()}
        if self.ehr_types:
            loads["ehr"] = reader.ehr_records(self.ehr_types, self.observation_codes)
        if Section.LAB_RESULTS in allowed:
            loads["lab"] = reader.lab_history()
        if allowed & PRESCRIPTION_SECTIONS:
            loads["prescriptions"] = reader.prescriptions()
        if Section.DISPENSATIONS in allowed:
            loads["dispensations"] = reader.dispensations()
        if Section.ENCOUNTERS in allowed:
            loads["calls"] = reader.ambulance_encounters()
        self._loads = loads

    async def settled(self) -> None:
        """Wait until every started load has answered; the section accessors need this."""
        pending = [load for load in self._loads.values() if not load.done()]
        if pending:  # a warm read has none: every item came from the cache at once
            await asyncio.gather(*pending, return_exceptions=True)

    def check(self, section: Section) -> None:
        """Raise the decision's error for ``section``, if it may not be read."""
        code = self.decision.denied.get(section)
        if code is not None:
            raise _ERRORS.get(code, Forbidden)()
        if section not in self.decision.allowed:
            raise Forbidden()

    def mark(self, section: Section) -> None:
        """Record that ``section`` was disclosed (for the audit event)."""
        self.disclosed.add(section)

    def disclosure(self) -> Disclosure | None:
        """What this read disclosed, for the audit; None when it showed nothing."""
        if not self.disclosed:
            return None
        return Disclosure(
            iin=self.iin,
            sections=frozenset(section.value for section in self.disclosed),
            reason=self.decision.reason,
            break_glass=self.decision.break_glass,
        )

    # --- the loaded records, once ``settled`` has returned -----------------------------------
    # Section resolvers are plain functions over loaded data: no task or await per section.

    def patient(self) -> rec.PatientRecord:
        """The register's record; NOT_FOUND when the register does not know the IIN."""
        patient = _value(self._loaded("patient"))
        if patient is None:
            raise NotFound("no such person in the register")
        return patient

    def ehr(self, partial: bool = False) -> EhrView:
        """The merged EHR records for the allowed sections.

        A section must not look complete when a region is missing, so by default one failed
        EHR is SOURCE_UNAVAILABLE; ``partial`` keeps the regions that answered instead.
        """
        view = self._views.get(partial)
        if view is None:
            results = self._loaded("ehr") if self.ehr_types else []
            if partial:
                results = [fetched for fetched in results if fetched.ok]
            records = [record for record in map(_value, results) if record is not None]
            view = self._views.setdefault(partial, EhrView(records))
        return view

    def lab_history(self) -> rec.LabHistory | None:
        """The laboratory history, or None when no laboratory system is configured."""
        fetched = self._loaded("lab")
        return None if fetched is None else _value(fetched)

    def prescriptions(self) -> list[rec.Prescription]:
        """Active prescriptions (empty when no drug provision system is configured)."""
        fetched = self._loaded("prescriptions")
        return [] if fetched is None else list(_value(fetched))

    def dispensations(self) -> list[rec.Dispensation]:
        """Dispensations (empty when no drug provision system is configured)."""
        fetched = self._loaded("dispensations")
        return [] if fetched is None else list(_value(fetched))

    def ambulance_encounters(self) -> list[rec.Encounter]:
        """Ambulance calls as encounters (empty when no dispatch is configured)."""
        fetched = self._loaded("calls")
        return [] if fetched is None else list(_value(fetched))

    def _loaded(self, name: str) -> Any:
        """The result of a started load; a load not started or not settled is our bug."""
        load = self._loads.get(name)
        if load is None or not load.done():
            raise RuntimeError(f"load {name!r} read before it was started and settled")
        return load.result()


def _value(fetched: Fetched[Any]) -> Any:
    """The fetched value, or SOURCE_UNAVAILABLE when neither fresh nor stale data came."""
    if not fetched.ok:
        error = fetched.error
        source = error.source if error is not None else "unknown"
        reason = error.kind if error is not None else "unavailable"
        raise SourceUnavailable(source, reason)
    return fetched.value


def sections_of(fields: Iterable[str], mapping: dict[str, Section | None]) -> frozenset[Section]:
    """The sections a set of selected field names discloses."""
    return frozenset(s for name in fields if (s := mapping.get(name)) is not None)
