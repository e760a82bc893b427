"""The sources' face: the configured source systems behind one object resolvers ask.

``SourceSystems`` is made once per process from the settings. Resolvers ask it for a person's
reader (``person``), for managers' aggregates, and for names of organisations and practitioners;
it owns the adapters, their HTTP clients, the cache keys, codec and TTLs, and the fetcher
(cache, stale-if-error, single-flight, deadline, retries, breaker). Nothing outside this
package sees an adapter, a cache key or the fetcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from gateway.config import Settings, SourceKind, SourceSettings
from gateway.deadline import Deadline
from gateway.records import StatRow
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.breaker import BreakerSettings
from gateway.sources.dps import DpsAdapter
from gateway.sources.fetcher import RECORD_CODEC, Fetched, Fetcher
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.lis import LisAdapter
from gateway.sources.reader import PersonReader, bind
from gateway.sources.registry import create_adapter, create_client
from gateway.sources.resilience import RetrySettings


@dataclass(frozen=True, slots=True)
class RegionCount:
    """One regional EHR's answer to a count: its region, its source name, and the count."""

    region: str
    source: str
    fetched: Fetched[int]


@dataclass
class SourceSystems:
    """The configured source systems, by kind, with the fetcher every read goes through."""

    settings: dict[str, SourceSettings]
    fetcher: Fetcher
    register: RegisterAdapter
    ehrs: tuple[EhrAdapter, ...] = ()
    lis: LisAdapter | None = None
    dps: DpsAdapter | None = None
    ambulance: AmbulanceAdapter | None = None
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> SourceSystems:
        """Adapters and clients for every configured source, and the fetcher of `[cache]`."""
        by_kind: dict[SourceKind, list[Any]] = {}
        clients = []
        for source in settings.sources:
            client = create_client(source)
            clients.append(client)
            by_kind.setdefault(source.kind, []).append(create_adapter(source, client))
        cache, resilience = settings.cache, settings.resilience
        fetcher = Fetcher.create(
            backend=cache.backend,
            redis_url=cache.redis_url,
            encryption_key=cache.encryption_key,
            max_stale_s=cache.max_stale_s,
            max_items=cache.max_items,
            subject_key=cache.key_salt,
            sources=tuple(source.name for source in settings.sources),
            breaker=BreakerSettings(
                failure_threshold=resilience.breaker_failure_threshold,
                open_s=resilience.breaker_open_s,
                window=resilience.breaker_window,
                min_calls=resilience.breaker_min_calls,
                failure_ratio=resilience.breaker_failure_ratio,
            ),
            retry=RetrySettings(
                max_attempts=resilience.retry_max_attempts,
                base_s=resilience.retry_base_ms / 1000,
                cap_s=resilience.retry_cap_ms / 1000,
                budget_ratio=resilience.retry_budget_ratio,
                budget_floor=resilience.retry_budget_floor,
            ),
        )

        def single(kind: SourceKind) -> Any:
            return by_kind.get(kind, [None])[0]

        return cls(
            settings={source.name: source for source in settings.sources},
            fetcher=fetcher,
            register=single(SourceKind.REGISTER),
            ehrs=tuple(by_kind.get(SourceKind.EHR, ())),
            lis=single(SourceKind.LIS),
            dps=single(SourceKind.DPS),
            ambulance=single(SourceKind.AMBULANCE),
            clients=clients,
        )

    # --- what resolvers ask for ----------------------------------------------------------------

    def person(self, iin: str, deadline: Deadline) -> PersonReader:
        """A reader of one person's records for one request (loads start when asked)."""
        return PersonReader(self, iin, deadline)

    @property
    def regions(self) -> tuple[str, ...]:
        """The configured regions: one per regional EHR, in configuration order."""
        return tuple(ehr.region for ehr in self.ehrs if ehr.region)

    def source_of(self, kind: SourceKind) -> str | None:
        """The name of the (single) configured source of `kind`, or None."""
        adapter = {
            SourceKind.REGISTER: self.register,
            SourceKind.LIS: self.lis,
            SourceKind.DPS: self.dps,
            SourceKind.AMBULANCE: self.ambulance,
        }.get(kind)
        return adapter.source if adapter is not None else None

    async def dispensation_view(
        self, from_date: date, to_date: date, region: str | None, group: str, deadline: Deadline
    ) -> Fetched[list[StatRow]] | None:
        """The DPS's own aggregate of one view (national when `region` is None); None when no
        drug provision system is configured."""
        dps = self.dps
        if dps is None:
            return None
        params = ("dispensations", from_date.isoformat(), to_date.isoformat(), group)
        return await self._aggregate(
            dps.source,
            (*params, region or "*"),
            lambda: dps.dispensation_stats(from_date, to_date, region, group),
            deadline,
        )

    async def call_view(
        self, from_date: date, to_date: date, region: str | None, group: str, deadline: Deadline
    ) -> Fetched[list[StatRow]] | None:
        """The ambulance dispatch's own aggregate of one view; None when it is not configured."""
        ambulance = self.ambulance
        if ambulance is None:
            return None
        params = ("calls", from_date.isoformat(), to_date.isoformat(), group)
        return await self._aggregate(
            ambulance.source,
            (*params, region or "*"),
            lambda: ambulance.call_stats(from_date, to_date, region, group),
            deadline,
        )

    async def condition_counts(
        self, icd10_category: str, statuses: tuple[str, ...], deadline: Deadline
    ) -> list[RegionCount]:
        """Each regional EHR's count of Conditions under an ICD-10 category, asked in parallel."""
        ehrs = [ehr for ehr in self.ehrs if ehr.region]
        fetched = await asyncio.gather(
            *(
                self._aggregate(
                    ehr.source,
                    ("prevalence", icd10_category, *statuses),
                    bind(ehr.count_active_conditions, icd10_category, statuses),
                    deadline,
                )
                for ehr in ehrs
            )
        )
        return [
            RegionCount(ehr.region or "", ehr.source, result)
            for ehr, result in zip(ehrs, fetched, strict=True)
        ]

    async def names(
        self, org_bins: Iterable[str], practitioner_ids: Iterable[str]
    ) -> tuple[dict[str, str | None], dict[str, str | None]]:
        """Names of organisations (by BIN) and practitioners (by register id) from the register;
        unknown ones are absent."""
        orgs, practitioners = await asyncio.gather(
            self.register.organizations(sorted(set(org_bins))),
            self.register.practitioners(sorted(set(practitioner_ids))),
        )
        return (
            {key: ref.name for key, ref in orgs.items()},
            {key: ref.name for key, ref in practitioners.items()},
        )

    # --- operations ------------------------------------------------------------------------------

    def ttl_s(self, name: str) -> float:
        """How long the named source's answers stay fresh."""
        return float(self.settings[name].ttl_s)

    def timeout_s(self, name: str) -> float:
        """The per-call timeout of the named source."""
        return self.settings[name].timeout_ms / 1000

    async def warm_directory(self) -> int:
        """Load the register's organisations and practitioners; returns how many."""
        return await self.register.warm_directory()

    def breaker_states(self) -> dict[str, str]:
        """Circuit state per configured source: "closed", "half_open" or "open"."""
        states = self.fetcher.breaker_states()
        return {name: states.get(name, "closed") for name in self.settings}

    async def close(self) -> None:
        """Release every client and the cache's connections."""
        await asyncio.gather(*(client.aclose() for client in self.clients), return_exceptions=True)
        await self.fetcher.close()

    async def _aggregate(
        self,
        source: str,
        params: tuple[str, ...],
        loader: Callable[[], Awaitable[Any]],
        deadline: Deadline,
    ) -> Fetched[Any]:
        """One aggregate through the fetcher: cached for the source's ttl, keyed by its params."""
        fetcher = self.fetcher
        return await fetcher.fetch(
            fetcher.key(source, "stats." + params[0], *params),
            loader,
            source=source,
            ttl_s=self.ttl_s(source),
            deadline=deadline,
            codec=RECORD_CODEC,
            timeout_s=self.timeout_s(source),
        )
