"""One request's reads of one person's record: each source asked at most once, in parallel.

``RecordLoader`` starts a task per source item the first time a section needs it, so the
sections of a query share one upstream call each, and records how every source answered
(``sources`` of the passport). Every read goes through the fetcher (cache, stale-if-error,
single-flight, deadline, retries, breaker); access decisions are applied by the caller,
after the cache, so nothing cached depends on who reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.records import (
    AmbulanceCall,
    Dispensation,
    EhrRecord,
    LabHistory,
    PatientRecord,
    Prescription,
)
from gateway.resolvers.context import Services
from gateway.sources.fetcher import RECORD_CODEC, Fetched
from gateway.sources.resilience import Deadline

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


class RecordLoader:
    """Lazily started, shared reads of one person's data for one request."""

    def __init__(self, services: Services, iin: str, deadline: Deadline) -> None:
        self.services = services
        self.sources = services.sources
        self.iin = iin
        self.deadline = deadline
        self._tasks: dict[tuple[str, str], asyncio.Task[Fetched[Any]]] = {}
        self._reports: dict[str, SourceReport] = {}
        self._regions: dict[str, asyncio.Future[list[Fetched[Any]]]] = {}
        # Whether the register read must also name the polyclinic and GP (one more call when
        # they are not cached): the care team section and the care-relationship check need it.
        self.care_team = False

    # --- what sections ask for -------------------------------------------------------------

    async def patient(self) -> Fetched[PatientRecord | None]:
        """The register's record of the person (None value: not in the register)."""
        register = self.sources.register
        if self.care_team:
            return await self._fetch(
                register.source, "patient-care", lambda: register.patient_by_iin(self.iin)
            )
        return await self._fetch(
            register.source, "patient", lambda: register.patient_by_iin(self.iin, False)
        )

    async def ehr_records(
        self, types: frozenset[str], observation_codes: frozenset[str] = frozenset()
    ) -> list[Fetched[EhrRecord | None]]:
        """Every regional EHR's record of the person, for the FHIR resource ``types``
        (Observations only of ``observation_codes``)."""
        # One cache entry per set of types and codes, e.g. "ehr-al.co.ob-1c9e02ab".
        kind = "ehr-" + ".".join(sorted(_TYPE_CODES.get(name, name.lower()) for name in types))
        if "Observation" in types:
            digest = hashlib.sha256(",".join(sorted(observation_codes)).encode()).hexdigest()
            kind += "-" + digest[:8]
        regions = self._regions.get(kind)
        if regions is None:
            regions = asyncio.gather(
                *(
                    self._fetch(
                        ehr.source, kind, _bind(ehr.record, self.iin, types, observation_codes)
                    )
                    for ehr in self.sources.ehrs
                )
            )
            self._regions[kind] = regions
        if regions.done():
            return list(regions.result())
        return list(await asyncio.shield(regions))

    async def encounters_at(self, org_bin: str, since: date) -> list[Fetched[bool]]:
        """Per EHR: whether the person had an encounter at ``org_bin`` since ``since``."""
        return list(
            await asyncio.gather(
                *(
                    self._fetch(
                        ehr.source,
                        f"care-{org_bin}",
                        _bind(ehr.has_encounter_with, self.iin, org_bin, since),
                    )
                    for ehr in self.sources.ehrs
                )
            )
        )

    async def lab_history(self) -> Fetched[LabHistory] | None:
        """The laboratory history (None when no LIS is configured)."""
        lis = self.sources.lis
        if lis is None:
            return None
        return await self._fetch(lis.source, "lab", lambda: lis.history(self.iin))

    async def prescriptions(self) -> Fetched[list[Prescription]] | None:
        """Active prescriptions from the drug provision system."""
        dps = self.sources.dps
        if dps is None:
            return None
        return await self._fetch(
            dps.source, "prescriptions", lambda: dps.active_prescriptions(self.iin)
        )

    async def dispensations(self) -> Fetched[list[Dispensation]] | None:
        """Every dispensation of the person (filtered by period by the caller)."""
        dps = self.sources.dps
        if dps is None:
            return None
        return await self._fetch(dps.source, "dispensations", lambda: dps.dispensations(self.iin))

    async def ambulance_calls(self) -> Fetched[list[AmbulanceCall]] | None:
        """The person's ambulance calls."""
        ambulance = self.sources.ambulance
        if ambulance is None:
            return None
        return await self._fetch(ambulance.source, "calls", lambda: ambulance.calls(self.iin))

    def reports(self) -> list[SourceReport]:
        """How each source consulted so far answered, in a stable order."""
        return [self._reports[name] for name in sorted(self._reports)]

    # --- machinery -------------------------------------------------------------------------

    async def _fetch(
        self, source: str, kind: str, loader: Callable[[], Awaitable[Any]]
    ) -> Fetched[Any]:
        task = self._tasks.get((source, kind))
        if task is None:
            task = asyncio.ensure_future(self._run(source, kind, loader))
            self._tasks[(source, kind)] = task
        if task.done():  # later sections of the same read: no new await machinery
            return task.result()
        # Shielded: one section's cancellation must not cancel the load the others share.
        return await asyncio.shield(task)

    async def _run(
        self, source: str, kind: str, loader: Callable[[], Awaitable[Any]]
    ) -> Fetched[Any]:
        fetcher = self.services.fetcher
        fetched = await fetcher.fetch(
            fetcher.key(source, kind, self.iin),
            loader,
            source=source,
            ttl_s=self.sources.ttl_s(source),
            deadline=self.deadline,
            codec=RECORD_CODEC,
            timeout_s=self.sources.timeout_s(source),
        )
        self._report(source, fetched)
        return fetched

    def _report(self, source: str, fetched: Fetched[Any]) -> None:
        error = fetched.error.kind if fetched.error is not None else None
        # A stale copy is usable data, but the source itself did not answer: ok is false.
        report = SourceReport(
            source, fetched.ok and error is None, fetched.stale, fetched.fetched_at, error
        )
        previous = self._reports.get(source)
        self._reports[source] = report if previous is None else combined_report(previous, report)


def combined_report(first: SourceReport, second: SourceReport) -> SourceReport:
    """One report for a source asked for two items (DPS: prescriptions and dispensations).

    The worst answer wins and the time is that of the oldest data shown, so the report
    does not depend on which of the two items finished first.
    """
    times = [t for t in (first.fetched_at, second.fetched_at) if t is not None]
    errors = sorted(e for e in (first.error, second.error) if e is not None)
    return SourceReport(
        first.source,
        first.ok and second.ok,
        first.stale or second.stale,
        min(times) if times else None,
        errors[0] if errors else None,
    )


def _bind(method: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    """A zero-argument loader calling ``method(*args)`` (avoids late binding in loops)."""
    return lambda: method(*args)
