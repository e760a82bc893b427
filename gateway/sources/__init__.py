"""Adapters of the source systems: fetch from upstream and normalise into ``gateway.records``.

One adapter per kind of system (SOURCES.md). Each takes its settings and the HTTP client
``create_client(settings)`` made; failures come out as ``SourceError`` only. Caching and
resilience wrap the adapters' calls from outside.
"""

from __future__ import annotations

from typing import Any

import httpx

from gateway.config import SourceSettings
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.dps import DpsAdapter
from gateway.sources.errors import SourceError
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.http import create_client
from gateway.sources.lis import LisAdapter

ADAPTERS: dict[str, type] = {
    "fhir-register": RegisterAdapter,
    "fhir-ehr": EhrAdapter,
    "lis-json": LisAdapter,
    "dps-json": DpsAdapter,
    "ambulance-xml": AmbulanceAdapter,
}


def create_adapter(settings: SourceSettings, client: httpx.AsyncClient | None = None) -> Any:
    """The adapter of a source's kind, on ``client`` or a new one from ``create_client``."""
    adapter_class = ADAPTERS[settings.kind]
    return adapter_class(settings, client if client is not None else create_client(settings))


__all__ = [
    "ADAPTERS",
    "AmbulanceAdapter",
    "DpsAdapter",
    "EhrAdapter",
    "LisAdapter",
    "RegisterAdapter",
    "SourceError",
    "create_adapter",
    "create_client",
]
