"""The source systems: adapters per kind, HTTP clients, cache and resilience, behind one face.

Resolvers use the face only: ``SourceSystems`` (made once per process), the ``PersonReader`` it
hands out per person and request, and what they return (``Fetched``, ``SourceReport``, the
records of ``gateway.records``). Adapters, the fetcher and cache keys stay inside.
"""

from __future__ import annotations

from gateway.sources.fetcher import Fetched
from gateway.sources.reader import PersonReader, SourceReport
from gateway.sources.systems import RegionCount, SourceSystems

__all__ = ["Fetched", "PersonReader", "RegionCount", "SourceReport", "SourceSystems"]
