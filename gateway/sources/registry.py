"""The adapter of each kind of source system, and the one way a source's client and adapter are
made. The kinds themselves are declared once, in ``gateway.config.KIND_RULES``."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from gateway.config import SourceKind, SourceSettings
from gateway.sources.ambulance import AmbulanceAdapter
from gateway.sources.dps import DpsAdapter
from gateway.sources.fhir import EhrAdapter, RegisterAdapter
from gateway.sources.http import ClientOptions, new_client
from gateway.sources.lis import LisAdapter


class SourceAdapter(Protocol):
    """What every adapter offers besides its kind's own reads."""

    source: str

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None: ...

    @staticmethod
    def client_options(settings: SourceSettings) -> ClientOptions:
        """Headers, auth and client class this kind of source needs."""
        ...


ADAPTERS: dict[SourceKind, type[Any]] = {
    SourceKind.REGISTER: RegisterAdapter,
    SourceKind.EHR: EhrAdapter,
    SourceKind.LIS: LisAdapter,
    SourceKind.DPS: DpsAdapter,
    SourceKind.AMBULANCE: AmbulanceAdapter,
}


def create_client(settings: SourceSettings, **extra: Any) -> httpx.AsyncClient:
    """The HTTP client of one source, with what its kind needs (auth, headers, client class).

    ``extra`` is passed to the client (tests give ``transport=httpx.MockTransport(...)``).
    """
    adapter_class = ADAPTERS[SourceKind(settings.kind)]
    return new_client(settings, adapter_class.client_options(settings), **extra)


def create_adapter(settings: SourceSettings, client: httpx.AsyncClient | None = None) -> Any:
    """The adapter of a source's kind, on ``client`` or a new one from ``create_client``."""
    adapter_class = ADAPTERS[SourceKind(settings.kind)]
    return adapter_class(settings, client if client is not None else create_client(settings))
