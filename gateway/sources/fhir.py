"""Adapters of the FHIR sources: the population register and the regional clinical records."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from datetime import date
from typing import Any, Literal

import httpx

from gateway.config import SourceSettings
from gateway.records import (
    Directory,
    EhrRecord,
    OrgRef,
    PatientRecord,
    PractitionerRef,
    Screened,
)
from gateway.sources.errors import source_errors
from gateway.sources.fhir_client import FhirClient, chunked, entry_ok, request_url
from gateway.sources.fhir_mapping import (
    BIN_SYSTEM,
    EHR_TYPES,
    ICD10_SYSTEM,
    IIN_SYSTEM,
    LOINC_SYSTEM,
    PRACTITIONER_SYSTEM,
    map_patient,
    patient_id,
)
from gateway.sources.guardians import guardianships_of
from gateway.sources.http import ClientOptions, require_iin
from gateway.sources.ownership import screened

PAGE_SIZE = 500  # the contract's maximum _count: one page holds a whole record as a rule
_ICD10_PREFIX = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?")
# Room for a national directory of organisations and practitioners (warm_directory).
_NAMES_CACHE_SIZE = 200_000
# Remembered for a key the register was asked for and does not know.
_NOT_IN_REGISTER = object()


@dataclasses.dataclass(frozen=True, slots=True)
class NameSearch:
    """Keys of one kind the name caches do not hold, and the directory map they go into."""

    resource_type: str
    by: str
    keys: tuple[str, ...]
    into: dict[str, Any]


# Names outlive the directory's reload period (at least 60 s, app.keep_directory_warm) even
# when the register's ttl_s is 0: reference data, not the patient data ttl_s is about.
DIRECTORY_MIN_TTL_S = 120.0


def _safe_token(value: str) -> bool:
    """A value that cannot break a comma-separated OR list or a system|code token."""
    return bool(value) and not any(ch in value for ch in ",|\\$")


class TtlLru:
    """A small in-process LRU cache whose entries expire ``ttl_s`` after they were stored."""

    def __init__(
        self,
        ttl_s: float,
        maxsize: int = _NAMES_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.maxsize = maxsize
        self.clock = clock
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        """The live value under ``key``, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``, evicting the least recently used entry when full."""
        if self.ttl_s <= 0:
            return
        self._items[key] = (self.clock() + self.ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)


def _organization(resource: dict[str, Any]) -> OrgRef:
    bin_ = next(
        (
            i.get("value")
            for i in resource.get("identifier") or ()
            if isinstance(i, dict) and i.get("system") == BIN_SYSTEM
        ),
        None,
    )
    address = next(iter(resource.get("address") or ()), None) or {}
    return OrgRef(
        bin=bin_ if isinstance(bin_, str) else None,
        name=resource.get("name") if isinstance(resource.get("name"), str) else None,
        region=address.get("state") if isinstance(address.get("state"), str) else None,
        fhir_id=resource.get("id") if isinstance(resource.get("id"), str) else None,
    )


def _practitioner(resource: dict[str, Any]) -> PractitionerRef:
    pid = next(
        (
            i.get("value")
            for i in resource.get("identifier") or ()
            if isinstance(i, dict) and i.get("system") == PRACTITIONER_SYSTEM
        ),
        None,
    )
    name = next(iter(resource.get("name") or ()), None) or {}
    text = name.get("text") if isinstance(name, dict) else None
    if not isinstance(text, str) and isinstance(name, dict):
        given = [g for g in name.get("given") or () if isinstance(g, str)]
        text = " ".join(p for p in (name.get("family"), *given) if isinstance(p, str)) or None
    return PractitionerRef(
        id=pid if isinstance(pid, str) else None,
        name=text,
        fhir_id=resource.get("id") if isinstance(resource.get("id"), str) else None,
    )


def fhir_client_options(settings: SourceSettings) -> ClientOptions:
    """FHIR JSON, with the configured bearer token when there is one (SOURCES.md section 1)."""
    headers = {"Accept": "application/fhir+json"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    return ClientOptions(headers=headers)


def _resources(entries: Iterable[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in entries if e["resource"].get("resourceType") == resource_type]


class RegisterAdapter:
    """The population register: who a person is, where they are attached, who their GP is."""

    client_options = staticmethod(fhir_client_options)

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.source = settings.name
        self.fhir = FhirClient(settings.name, client)
        # Organisation and practitioner names change rarely; keep them ttl_s in process.
        names_ttl_s = max(float(settings.ttl_s), DIRECTORY_MIN_TTL_S)
        self._orgs = TtlLru(names_ttl_s)
        self._practitioners = TtlLru(names_ttl_s)

    async def patient_by_iin(self, iin: str, care_team: bool = True) -> PatientRecord | None:
        """The register's record of a person; None if unknown.

        One search; with ``care_team``, plus one batch of reads for the polyclinic and GP not
        cached yet (their BIN, names and region are not in the Patient resource).
        """
        require_iin(iin)
        with source_errors(self.source):
            entries = await self.fhir.search(
                "Patient", [("identifier", f"{IIN_SYSTEM}|{iin}"), ("_count", "10")]
            )
            patient = next(
                (
                    p
                    for p in (
                        map_patient(r, self.source, self.settings.region)
                        for r in _resources(entries, "Patient")
                    )
                    if p is not None and p.iin == iin
                ),
                None,
            )
            if patient is None or not care_team:
                return patient
            return await self._with_care_team(patient)

    async def guardianships(self, adult_iin: str) -> Screened:
        """The RelatedPersons naming ``adult_iin`` as a parent or guardian, with each child's
        record (``gateway.sources.guardians``)."""
        require_iin(adult_iin)
        with source_errors(self.source):
            return await guardianships_of(self.fhir, self.source, self.settings.region, adult_iin)

    async def _with_care_team(self, patient: PatientRecord) -> PatientRecord:
        org = patient.managing_org
        gp = patient.gp
        org_key = ("id", org.fhir_id) if org and org.fhir_id else ("bin", org.bin) if org else None
        gp_key = ("id", gp.fhir_id) if gp and gp.fhir_id else ("identifier", gp.id) if gp else None
        found_org = self._orgs.get(org_key) if org_key else None
        found_gp = self._practitioners.get(gp_key) if gp_key else None
        requests: list[tuple[str, str]] = []
        if org_key and found_org is None and _safe_token(org_key[1] or ""):
            requests.append(("org", _read_url("Organization", org_key, BIN_SYSTEM)))
        if gp_key and found_gp is None and _safe_token(gp_key[1] or ""):
            requests.append(("gp", _read_url("Practitioner", gp_key, PRACTITIONER_SYSTEM)))
        if requests:
            answers = await self.fhir.batch([url for _, url in requests])
            for (what, _), entry in zip(requests, answers, strict=True):
                resource = _batch_resource(
                    entry, "Organization" if what == "org" else "Practitioner"
                )
                if resource is None:
                    continue
                if what == "org":
                    found_org = self._remember_org(_organization(resource))
                else:
                    found_gp = self._remember_practitioner(_practitioner(resource))
        org = found_org or org
        gp = found_gp or gp
        return dataclasses.replace(
            patient,
            managing_org=org,
            gp=gp,
            provenance=dataclasses.replace(patient.provenance, organization=org, practitioner=gp),
        )

    def _remember_org(self, org: OrgRef) -> OrgRef:
        if org.fhir_id:
            self._orgs.put(("id", org.fhir_id), org)
        if org.bin:
            self._orgs.put(("bin", org.bin), org)
        return org

    def _remember_practitioner(self, practitioner: PractitionerRef) -> PractitionerRef:
        if practitioner.fhir_id:
            self._practitioners.put(("id", practitioner.fhir_id), practitioner)
        if practitioner.id:
            self._practitioners.put(("identifier", practitioner.id), practitioner)
        return practitioner

    async def warm_directory(self) -> int:
        """Read every Organization and Practitioner into the name caches; returns how many.

        Reference data, not patient data: with the directory known, a passport's care team and
        provenance need no second register round trip after the patient search.
        """
        seen = 0
        with source_errors(self.source):
            for resource_type, parse, remember in (
                ("Organization", _organization, self._remember_org),
                ("Practitioner", _practitioner, self._remember_practitioner),
            ):
                pages = self.fhir.search_pages(resource_type, [("_count", str(PAGE_SIZE))])
                async for page in pages:
                    for resource in _resources(page, resource_type):
                        remember(parse(resource))
                        seen += 1
        return seen

    async def organizations(
        self, keys: Iterable[str], by: Literal["bin", "id"] = "bin"
    ) -> dict[str, OrgRef]:
        """Organisations by BIN (or FHIR id): one OR search per 100 uncached; unknown absent."""
        found, missing = self._known(self._orgs, by, keys)
        if missing:
            found.update(await self._search_names("Organization", by, missing))
        return found

    async def practitioners(
        self, keys: Iterable[str], by: Literal["identifier", "id"] = "identifier"
    ) -> dict[str, PractitionerRef]:
        """Practitioners by register id (or FHIR id), batched like ``organizations``."""
        found, missing = self._known(self._practitioners, by, keys)
        if missing:
            found.update(await self._search_names("Practitioner", by, missing))
        return found

    def known_directory(
        self,
        bins: Iterable[str],
        org_ids: Iterable[str],
        practitioner_ids: Iterable[str],
        practitioner_fhir_ids: Iterable[str],
    ) -> tuple[Directory, list[NameSearch]]:
        """The names of these keys the name caches hold, and the searches for the others."""
        wanted = (
            ("Organization", "bin", self._orgs, bins),
            ("Organization", "id", self._orgs, org_ids),
            ("Practitioner", "identifier", self._practitioners, practitioner_ids),
            ("Practitioner", "id", self._practitioners, practitioner_fhir_ids),
        )
        found: list[dict[str, Any]] = []
        searches: list[NameSearch] = []
        for resource_type, by, cache, keys in wanted:
            known, missing = self._known(cache, by, keys)
            found.append(known)
            if missing:
                searches.append(NameSearch(resource_type, by, tuple(missing), known))
        return Directory(*found), searches

    async def complete_directory(self, searches: Iterable[NameSearch]) -> None:
        """Run the searches of ``known_directory`` in parallel, filling the directory it gave."""
        searches = list(searches)
        answers = await asyncio.gather(
            *(self._search_names(s.resource_type, s.by, list(s.keys)) for s in searches)
        )
        for search, answer in zip(searches, answers, strict=True):
            search.into.update(answer)

    def _known(
        self, cache: TtlLru, by: str, keys: Iterable[str]
    ) -> tuple[dict[str, Any], list[str]]:
        """The cached entries of ``keys`` and the keys never looked up (or expired)."""
        found: dict[str, Any] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):  # dedupe, keep order
            if not _safe_token(key):
                continue
            cached = cache.get((by, key))
            if cached is None:
                missing.append(key)
            elif cached is not _NOT_IN_REGISTER:
                found[key] = cached
        return found, missing

    async def _search_names(self, resource_type: str, by: str, keys: list[str]) -> dict[str, Any]:
        """Search the register for ``keys``; remember what it answered, and what it did not
        know (so an unknown reference is not asked for again within ttl_s)."""
        is_org = resource_type == "Organization"
        system = BIN_SYSTEM if is_org else PRACTITIONER_SYSTEM
        parse = _organization if is_org else _practitioner
        remember = self._remember_org if is_org else self._remember_practitioner
        cache = self._orgs if is_org else self._practitioners
        found: dict[str, Any] = {}
        with source_errors(self.source):
            searches = []
            for chunk in chunked(keys):
                if by == "id":
                    params = [("_id", ",".join(chunk))]
                else:
                    params = [("identifier", ",".join(f"{system}|{k}" for k in chunk))]
                searches.append(
                    self.fhir.search(resource_type, [*params, ("_count", str(len(chunk)))])
                )
            for entries in await asyncio.gather(*searches):
                for resource in _resources(entries, resource_type):
                    ref = remember(parse(resource))
                    key = ref.fhir_id if by == "id" else (ref.bin if is_org else ref.id)
                    if key in keys:
                        found[key] = ref
        for key in keys:
            if key not in found:
                cache.put((by, key), _NOT_IN_REGISTER)
        return found


def _read_url(resource_type: str, key: tuple[str, str | None], system: str) -> str:
    """A batch entry URL: a read by FHIR id, or a search by logical identifier."""
    kind, value = key
    if kind == "id":
        return f"{resource_type}/{value}"
    return request_url(resource_type, [("identifier", f"{system}|{value}")])


def _batch_resource(entry: dict[str, Any], resource_type: str) -> dict[str, Any] | None:
    """The resource a batch entry answered: the read resource or the first search match."""
    if not entry_ok(entry):
        return None
    resource = entry["resource"]
    if resource.get("resourceType") == "Bundle":
        for inner in resource.get("entry") or ():
            found = inner.get("resource") if isinstance(inner, dict) else None
            if isinstance(found, dict) and found.get("resourceType") == resource_type:
                return found
        return None
    return resource if resource.get("resourceType") == resource_type else None


class EhrAdapter:
    """One regional clinical record (EHR): a patient's clinical resources in one round trip."""

    client_options = staticmethod(fhir_client_options)

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.source = settings.name
        self.region = settings.region
        self.fhir = FhirClient(settings.name, client)

    async def record(
        self,
        iin: str,
        types: frozenset[str],
        observation_codes: frozenset[str] | None = None,
    ) -> Screened:
        """The resources of ``types`` (FHIR type names, see ``EHR_TYPES``) this EHR holds for
        the person, as a ``Screened`` EhrRecord (None when it has no such patient; resources
        not referencing that Patient are dropped). One round trip (plus pages): a
        ``_revinclude`` search, or, when ``observation_codes`` limits the Observations to some
        LOINC codes, a batch of that search and an Observation search by those codes."""
        require_iin(iin)
        unknown = set(types) - EHR_TYPES.keys()
        if unknown:
            raise ValueError(f"not EHR resource types: {sorted(unknown)}")
        wanted = sorted(types)
        by_code = observation_codes is not None and "Observation" in types
        revincluded = [t for t in wanted if not (by_code and t == "Observation")]
        params = [
            ("identifier", f"{IIN_SYSTEM}|{iin}"),
            *(("_revinclude", f"{t}:patient") for t in revincluded),
            ("_count", str(PAGE_SIZE)),
        ]
        with source_errors(self.source):
            if by_code:
                codes = ",".join(f"{LOINC_SYSTEM}|{code}" for code in sorted(observation_codes))
                observations = [
                    ("patient.identifier", f"{IIN_SYSTEM}|{iin}"),
                    ("code", codes),
                    ("_count", str(PAGE_SIZE)),
                ]
                found = await self.fhir.search_batch(
                    [("Patient", params), ("Observation", observations)]
                )
                entries = [entry for answer in found for entry in answer]
            else:
                entries = await self.fhir.search("Patient", params)
            return self._screen(iin, types, wanted, entries)

    def _screen(
        self,
        iin: str,
        types: frozenset[str],
        wanted: list[str],
        entries: list[dict[str, Any]],
    ) -> Screened:
        """The person's record from a searchset: their Patient, and the clinical resources of
        ``types`` that reference it; other people's Patients and resources are dropped."""
        patient = None
        ids: set[str] = set()
        dropped = 0
        for entry in entries:
            resource = entry["resource"]
            if resource.get("resourceType") != "Patient":
                continue
            mapped = map_patient(resource, self.source, self.region)
            if mapped is None:
                continue  # no IIN: whose it is cannot be told; its resources cannot match
            if mapped.iin != iin:
                dropped += 1
            elif (entry.get("search") or {}).get("mode") in (None, "match"):
                patient = patient or mapped
                if mapped.local_id:
                    ids.add(mapped.local_id)
        fields: dict[str, list[Any]] = {EHR_TYPES[t][0]: [] for t in EHR_TYPES}
        for entry in entries:
            resource = entry["resource"]
            resource_type = resource.get("resourceType")
            if (
                resource_type not in EHR_TYPES
                or (entry.get("search") or {}).get("mode") == "outcome"
            ):
                continue
            if patient_id(resource) not in ids:
                dropped += 1
            elif resource_type in types:
                field, mapper = EHR_TYPES[resource_type]
                fields[field].append(mapper(resource, self.source, self.region))
        record = None
        if patient is not None:
            record = EhrRecord(
                source=self.source,
                region=self.region,
                patient=patient,
                types=tuple(wanted),
                **{name: tuple(items) for name, items in fields.items()},
            )
        return screened(self.source, record, dropped, "FHIR resources")

    async def has_encounter_with(self, iin: str, org_bin: str, since: date) -> bool:
        """Whether the person had an encounter at organisation ``org_bin`` on or after ``since``.

        The contract has no ``service-provider`` search parameter, so the encounters since that
        day are fetched (chained on the IIN) and the organisation is matched here, stopping at
        the first page with a match. Only logical ``urn:kz:bin`` references can match.
        """
        require_iin(iin)
        params = [
            ("patient.identifier", f"{IIN_SYSTEM}|{iin}"),
            ("date", f"ge{since.isoformat()}"),
            ("_count", str(PAGE_SIZE)),
        ]
        with source_errors(self.source):
            async for page in self.fhir.search_pages("Encounter", params):
                for resource in _resources(page, "Encounter"):
                    provider = resource.get("serviceProvider") or {}
                    identifier = provider.get("identifier") or {}
                    if (
                        identifier.get("system") == BIN_SYSTEM
                        and identifier.get("value") == org_bin
                    ):
                        return True
        return False

    async def count_active_conditions(
        self, icd10_prefix: str, statuses: tuple[str, ...] = ("active",)
    ) -> int:
        """How many Conditions with a code under ``icd10_prefix`` (e.g. E11) have one of
        ``statuses``, counted by the server (``_summary=count``)."""
        if not _ICD10_PREFIX.fullmatch(icd10_prefix):
            raise ValueError("not an ICD-10 category or code")
        params = [
            ("code:below", f"{ICD10_SYSTEM}|{icd10_prefix}"),
            ("clinical-status", ",".join(statuses)),
        ]
        with source_errors(self.source):
            return await self.fhir.count("Condition", params)
