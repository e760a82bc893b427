"""The sources' face for one person: "this person's lab history", each source asked at most once.

``PersonReader`` (one per read of a person in a request) hands out one future per source
item, so the sections of a query share one upstream call each, and records how every source
answered (``sources`` of the passport).
An item fresh in the in-memory cache is a finished future at once; the others are begun by
``Fetcher.start`` (a callback of the upstream call they lead, or a task). Every read goes
through the fetcher (cache, stale-if-error, single-flight, deadline, retries, breaker);
access decisions are applied by the caller, after the cache, so nothing cached depends on
who reads it. Adapters answer a person read with a ``Screened`` value (the records of anyone
else dropped and counted); the reader hands out the value and reports a source that dropped
any as ``wrong_patient``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from gateway.deadline import Deadline
from gateway.records import (
    Dispensation,
    EhrRecord,
    Encounter,
    Guardianship,
    LabHistory,
    PatientRecord,
    Prescription,
    Screened,
)
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.cache import CacheKey
from gateway.sources.dps import DpsAdapter
from gateway.sources.fetcher import RECORD_CODEC, Fetched, Fetcher, finished
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.lis import LisAdapter
from gateway.sources.ownership import WRONG_PATIENT

T = TypeVar("T")

_TYPE_CODES = {
    "AllergyIntolerance": "al",
    "Condition": "co",
    "Device": "de",
    "DiagnosticReport": "dr",
    "Encounter": "en",
    "Immunization": "im",
    "MedicationStatement": "ms",
    "Observation": "ob",
    "Procedure": "pr",
}


@dataclass(frozen=True, slots=True)
class SourceReport:
    """How one source answered during this request (``SourceStatus`` of the contract)."""

    source: str
    ok: bool
    stale: bool
    fetched_at: datetime | None
    error: str | None


class Systems(Protocol):
    """What a reader needs of the configured systems (``SourceSystems`` has it)."""

    fetcher: Fetcher
    register: RegisterAdapter
    ehrs: tuple[EhrAdapter, ...]
    lis: LisAdapter | None
    dps: DpsAdapter | None
    ambulance: AmbulanceAdapter | None

    def ttl_s(self, name: str) -> float:
        """How long the named source's answers stay fresh."""
        ...

    def timeout_s(self, name: str) -> float:
        """The per-call timeout of the named source."""
        ...


class PersonReader:
    """Lazily started, shared reads of one person's data for one request."""

    def __init__(self, systems: Systems, iin: str, deadline: Deadline) -> None:
        self.systems = systems
        self.iin = iin
        self.deadline = deadline
        # The keyed hash of the IIN, computed once for all of this read's cache keys.
        self.subject = systems.fetcher.subject_hash(iin)
        self._tasks: dict[tuple[str, str], asyncio.Future[Fetched[Any]]] = {}
        self._reports: dict[str, SourceReport] = {}
        self._regions: dict[str, asyncio.Future[list[Fetched[Any]]]] = {}
        # Whether the register read must also name the polyclinic and GP (one more call when
        # they are not cached): the care team section and the care-relationship check need it.
        self.care_team = False

    # --- what sections ask for -------------------------------------------------------------

    def patient(self) -> asyncio.Future[Fetched[PatientRecord | None]]:
        """The register's record of the person (None value: not in the register)."""
        register = self.systems.register
        if self.care_team:
            return self._fetch(
                register.source, "patient-care", lambda: register.patient_by_iin(self.iin)
            )
        return self._fetch(
            register.source, "patient", lambda: register.patient_by_iin(self.iin, False)
        )

    def guardianships(self) -> asyncio.Future[Fetched[tuple[Guardianship, ...]]]:
        """The register's RelatedPersons naming this person as a child's parent or guardian."""
        register = self.systems.register
        return self._fetch(
            register.source, "guardianships", lambda: register.guardianships(self.iin)
        )

    def ehr_records(
        self, types: frozenset[str], observation_codes: frozenset[str] = frozenset()
    ) -> asyncio.Future[list[Fetched[EhrRecord | None]]]:
        """Every regional EHR's record of the person, for the FHIR resource ``types``
        (Observations only of ``observation_codes``)."""
        # One cache entry per set of types and codes, e.g. "ehr-al.co.ob-1c9e02ab".
        kind = "ehr-" + ".".join(sorted(_TYPE_CODES.get(name, name.lower()) for name in types))
        if "Observation" in types:
            digest = hashlib.sha256(",".join(sorted(observation_codes)).encode()).hexdigest()
            kind += "-" + digest[:8]
        regions = self._regions.get(kind)
        if regions is None:
            parts = [
                self._fetch(ehr.source, kind, bind(ehr.record, self.iin, types, observation_codes))
                for ehr in self.systems.ehrs
            ]
            if all(part.done() for part in parts):
                regions = finished([part.result() for part in parts])
            else:
                regions = asyncio.gather(*parts)
            self._regions[kind] = regions
        return _shared(regions)

    async def encounters_at(self, org_bin: str, since: date) -> list[Fetched[bool]]:
        """Per EHR: whether the person had an encounter at ``org_bin`` since ``since``."""
        return list(
            await asyncio.gather(
                *(
                    self._fetch(
                        ehr.source,
                        f"care-{org_bin}",
                        bind(ehr.has_encounter_with, self.iin, org_bin, since),
                    )
                    for ehr in self.systems.ehrs
                )
            )
        )

    def lab_history(self) -> asyncio.Future[Fetched[LabHistory] | None]:
        """The laboratory history (None when no LIS is configured)."""
        lis = self.systems.lis
        if lis is None:
            return finished(None)
        return self._fetch(lis.source, "lab", lambda: lis.history(self.iin))

    def prescriptions(self) -> asyncio.Future[Fetched[list[Prescription]] | None]:
        """Every prescription of the person, whatever its status (one call): the active ones,
        and the dose and duration behind each dispensation."""
        dps = self.systems.dps
        if dps is None:
            return finished(None)
        return self._fetch(
            dps.source, "prescriptions-all", lambda: dps.prescriptions(self.iin, "all")
        )

    def dispensations(self) -> asyncio.Future[Fetched[list[Dispensation]] | None]:
        """Every dispensation of the person (filtered by period by the caller)."""
        dps = self.systems.dps
        if dps is None:
            return finished(None)
        return self._fetch(dps.source, "dispensations", lambda: dps.dispensations(self.iin))

    def ambulance_encounters(self) -> asyncio.Future[Fetched[list[Encounter]] | None]:
        """The person's ambulance calls, as encounters of kind AMBULANCE."""
        ambulance = self.systems.ambulance
        if ambulance is None:
            return finished(None)
        return self._fetch(
            ambulance.source, "call-encounters", lambda: ambulance.encounters(self.iin)
        )

    def reports(self) -> list[SourceReport]:
        """How each source consulted so far answered, in a stable order."""
        return [self._reports[name] for name in sorted(self._reports)]

    # --- machinery -------------------------------------------------------------------------

    def _fetch(
        self, source: str, kind: str, loader: Callable[[], Awaitable[Any]]
    ) -> asyncio.Future[Fetched[Any]]:
        """The shared future of one source item: finished at once when the cache has it."""
        future = self._tasks.get((source, kind))
        if future is None:
            future = self.systems.fetcher.start(
                CacheKey(source, kind, self.subject),
                loader,
                lambda fetched: self._report(source, fetched),
                source=source,
                ttl_s=self.systems.ttl_s(source),
                deadline=self.deadline,
                codec=RECORD_CODEC,
                timeout_s=self.systems.timeout_s(source),
            )
            self._tasks[(source, kind)] = future
        return _shared(future)

    def _report(self, source: str, fetched: Fetched[Any]) -> Fetched[Any]:
        """Record how the source answered; the fetched value as sections use it (unscreened)."""
        fetched, dropped = unscreened(fetched)
        error = fetched.error.kind if fetched.error is not None else None
        if dropped:
            # Whatever else happened, the records shown lack what the source sent of others.
            error = WRONG_PATIENT
        # A stale copy is usable data, but the source itself did not answer: ok is false.
        report = SourceReport(
            source, fetched.ok and error is None, fetched.stale, fetched.fetched_at, error
        )
        previous = self._reports.get(source)
        self._reports[source] = report if previous is None else combined_report(previous, report)
        return fetched


def unscreened(fetched: Fetched[Any]) -> tuple[Fetched[Any], int]:
    """A fetch of a ``Screened`` answer as a fetch of its value, and the records it dropped."""
    value = fetched.value
    if isinstance(value, Screened):
        # Built directly: dataclasses.replace costs several times more, on every item read.
        unwrapped = Fetched(
            value.value, fetched.ok, fetched.stale, fetched.fetched_at, fetched.error
        )
        return unwrapped, value.dropped
    return fetched, 0


def combined_report(first: SourceReport, second: SourceReport) -> SourceReport:
    """One report for a source asked for two items (DPS: prescriptions and dispensations).

    The worst answer wins and the time is that of the oldest data shown, so the report
    does not depend on which of the two items finished first.
    """
    times = [t for t in (first.fetched_at, second.fetched_at) if t is not None]
    # wrong_patient first: it says the data shown is not all the source sent.
    errors = sorted(
        (e for e in (first.error, second.error) if e is not None),
        key=lambda e: (e != WRONG_PATIENT, e),
    )
    return SourceReport(
        first.source,
        first.ok and second.ok,
        first.stale or second.stale,
        min(times) if times else None,
        errors[0] if errors else None,
    )


def _shared(future: asyncio.Future[T]) -> asyncio.Future[T]:
    """``future`` itself when finished; else shielded, so that one waiter's cancellation
    does not cancel a load the other sections share."""
    return future if future.done() else asyncio.shield(future)


def bind(method: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    """A zero-argument loader calling ``method(*args)`` (avoids late binding in loops)."""
    return lambda: method(*args)
