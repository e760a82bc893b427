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
from gateway.audit.events import Outcome
from gateway.auth.policy import CLINICIANS, Basis, Decision, EntryPoint, Section
from gateway.clinical.current_medicines import CurrentMedicine, current_medicines
from gateway.clock import today
from gateway.config import SourceKind
from gateway.errors import Forbidden, GatewayError, NotFound, RestrictedByPatient, SourceUnavailable
from gateway.resolvers import observations as obs
from gateway.resolvers.context import RequestContext
from gateway.resolvers.names import Names, references
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
# Sections that show current medicines: EHR statements, prescriptions and dispensations.
PRESCRIPTION_SECTIONS = frozenset({Section.MEDICATIONS, Section.EMERGENCY})
# Fields that need more of the EHR than their section shows: (section, types, LOINC codes).
# doseCheck weighs the patient; screeningPlan excludes people under observation for a disease.
FIELD_NEEDS: dict[str, tuple[Section, frozenset[str], frozenset[str]]] = {
    "doseCheck": (Section.MEDICATIONS, frozenset({"Observation"}), frozenset({obs.WEIGHT})),
    "screeningPlan": (Section.SCREENINGS, frozenset({"Condition"}), frozenset()),
}


def source_kinds(sections: Iterable[Section]) -> frozenset[SourceKind]:
    """The kinds of source system a read of ``sections`` asks (``start`` below): the register
    always, then the EHRs, laboratory, drug provision and ambulance its sections need."""
    wanted = frozenset(sections)
    kinds = {SourceKind.REGISTER}
    if any(section in EHR_TYPES for section in wanted):
        kinds.add(SourceKind.EHR)
    if Section.LAB_RESULTS in wanted:
        kinds.add(SourceKind.LIS)
    if wanted & PRESCRIPTION_SECTIONS or Section.DISPENSATIONS in wanted:
        kinds.add(SourceKind.DPS)
    if Section.ENCOUNTERS in wanted:
        kinds.add(SourceKind.AMBULANCE)
    return frozenset(kinds)


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
    # The selected fields of FIELD_NEEDS: their extra resources come in the same EHR call.
    fields: frozenset[str] = frozenset()
    disclosed: set[Section] = field(default_factory=set)
    # The register did not know the IIN (audited as NOT_FOUND).
    not_found: bool = False
    # A clinician was told which sections the patient restricted (`restrictedSections`).
    restrictions_shown: bool = False
    # The register's names of every reference in the loaded records (set once settled).
    names: Names = field(default_factory=Names)
    _loads: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _view: EhrView | None = None
    _medicines: list[CurrentMedicine] | None = None

    def __post_init__(self) -> None:
        self.names = Names(words=self.context.words)

    @cached_property
    def ehr_types(self) -> frozenset[str]:
        """The union of EHR resource types the allowed sections need (one call per EHR)."""
        types: set[str] = set()
        for section in self.decision.allowed:
            types |= EHR_TYPES.get(section, frozenset())
        for _, extra, _ in self._field_needs():
            types |= extra
        return frozenset(types)

    @cached_property
    def observation_codes(self) -> frozenset[str]:
        """The LOINC codes of the Observations the allowed sections show."""
        codes: set[str] = set()
        for section in self.decision.allowed:
            codes |= OBSERVATION_CODES.get(section, frozenset())
        for _, _, extra in self._field_needs():
            codes |= extra
        return frozenset(codes)

    def _field_needs(self) -> list[tuple[Section, frozenset[str], frozenset[str]]]:
        """The extra needs of the selected fields whose section may be read."""
        needs = (FIELD_NEEDS[name] for name in self.fields if name in FIELD_NEEDS)
        return [need for need in needs if need[0] in self.decision.allowed]

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
        if allowed & (PRESCRIPTION_SECTIONS | {Section.DISPENSATIONS}):
            loads["dispensations"] = reader.dispensations()
        if Section.ENCOUNTERS in allowed:
            loads["calls"] = reader.ambulance_encounters()
        self._loads = loads

    async def settled(self) -> None:
        """Wait until every started load has answered, then name what they refer to; the
        section accessors need this."""
        pending = [load for load in self._loads.values() if not load.done()]
        if pending:  # a warm read has none: every item came from the cache at once
            await asyncio.gather(*pending, return_exceptions=True)
        loaded = []
        for load in self._loads.values():
            result = load.result()
            for fetched in result if isinstance(result, list) else [result]:
                if fetched is not None and fetched.ok:
                    loaded.append(fetched.value)
        organizations, practitioners = references(loaded)
        if organizations or practitioners:
            # A register that did not answer for the patient is not asked for names either.
            ask = self.failure("patient") is None
            directory = await self.context.services.sources.directory(
                organizations, practitioners, self.reader.deadline, ask
            )
            self.names = Names(directory, self.context.words)

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

    def show_restrictions(self) -> None:
        """Record that the patient's restrictions were shown (a disclosure to a clinician)."""
        if self.context.principal.role in CLINICIANS:
            self.restrictions_shown = True

    def disclosure(self) -> Disclosure | None:
        """What this attempt showed, for the audit; every attempt is audited but the
        patient's own reads that showed nothing."""
        basis = self.decision.basis or Basis.OWN
        if basis is Basis.OWN and not self.disclosed:
            return None
        return Disclosure(
            iin=self.iin,
            sections=frozenset(section.value for section in self.disclosed),
            reason=self.decision.reason,
            break_glass=self.decision.break_glass,
            outcome=Outcome.NOT_FOUND if self.not_found else Outcome.DISCLOSED,
            basis=basis,
            restrictions_shown=self.restrictions_shown,
        )

    # --- the loaded records, once ``settled`` has returned -----------------------------------
    # Section resolvers are plain functions over loaded data: no task or await per section.

    def patient(self) -> rec.PatientRecord:
        """The register's record; NOT_FOUND when the register does not know the IIN."""
        patient = _value(self._loaded("patient"))
        if patient is None:
            self.not_found = True
            raise NotFound("no such person in the register")
        return patient

    def ehr(self) -> EhrView:
        """The merged EHR records for the allowed sections.

        A section must not look complete when a region is missing, so one failed EHR is
        SOURCE_UNAVAILABLE (a stale copy of it is served).
        """
        if self._view is None:
            results = self._loaded("ehr") if self.ehr_types else []
            records = [record for record in map(_value, results) if record is not None]
            self._view = EhrView(records)
        return self._view

    def lab_history(self) -> rec.LabHistory | None:
        """The laboratory history, or None when no laboratory system is configured."""
        fetched = self._loaded("lab")
        return None if fetched is None else _value(fetched)

    def prescriptions(self) -> list[rec.Prescription]:
        """Every prescription, whatever its status (empty when no drug provision system is
        configured)."""
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

    def current_medicines(self) -> list[CurrentMedicine]:
        """Active EHR statements, active prescriptions and dispensations covering today, by ATC;
        SOURCE_UNAVAILABLE when any of those sources failed (worked out once per read)."""
        if self._medicines is None:
            self._medicines = current_medicines(
                self.ehr().items("medications"), self.prescriptions(), self.dispensations(), today()
            )
        return self._medicines

    def failure(self, *names: str) -> SourceUnavailable | None:
        """The error of the first of the named loads (``ehr`` covers every region) that gave
        no data, fresh or stale; None when all of them answered."""
        for name in names:
            load = self._loads.get(name)
            if load is None:
                continue
            results = self._loaded(name)
            for fetched in results if isinstance(results, list) else [results]:
                if fetched is not None and not fetched.ok:
                    return _unavailable(fetched)
        return None

    def fresh(self, *names: str) -> bool:
        """Whether every one of the named loads that was started answered fresh (no error, no
        stale copy)."""
        for name in names:
            if name not in self._loads:
                continue
            results = self._loaded(name)
            for fetched in results if isinstance(results, list) else [results]:
                if fetched is not None and (fetched.error is not None or fetched.stale):
                    return False
        return True

    def _loaded(self, name: str) -> Any:
        """The result of a started load; a load not started or not settled is our bug."""
        load = self._loads.get(name)
        if load is None or not load.done():
            raise RuntimeError(f"load {name!r} read before it was started and settled")
        return load.result()


def _value(fetched: Fetched[Any]) -> Any:
    """The fetched value, or SOURCE_UNAVAILABLE when neither fresh nor stale data came."""
    if not fetched.ok:
        raise _unavailable(fetched)
    return fetched.value


def _unavailable(fetched: Fetched[Any]) -> SourceUnavailable:
    error = fetched.error
    source = error.source if error is not None else "unknown"
    reason = error.kind if error is not None else "unavailable"
    return SourceUnavailable(source, reason)


def sections_of(fields: Iterable[str], mapping: dict[str, Section | None]) -> frozenset[Section]:
    """The sections a set of selected field names discloses."""
    return frozenset(s for name in fields if (s := mapping.get(name)) is not None)
