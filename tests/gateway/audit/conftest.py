"""Fixtures of the audit tests: a fresh audit database of each kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.gateway.audit import PG_BASE_URL, unique_schema
from tests.gateway.audit.attacker import Backend


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def backend(request, tmp_path) -> AsyncIterator[Backend]:
    """A fresh audit database of each kind."""
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite://{tmp_path / 'audit.db'}", tmp_path)
        return
    schema = unique_schema()
    admin = await asyncpg.connect(PG_BASE_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Backend("postgres", f"{PG_BASE_URL}?search_path={schema}", tmp_path)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
