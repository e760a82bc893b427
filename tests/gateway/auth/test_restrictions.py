"""Patients' section restrictions on both backends: set, unset, persist, refuse, fail closed."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from gateway.audit import open_audit_store
from gateway.auth.restrictions import (
    RESTRICTABLE_SECTIONS,
    RestrictionsUnavailable,
    SectionNotRestrictable,
    open_restriction_store,
)
from tests.gateway.audit import (
    AIGUL,
    BEKZAT,
    PG_BASE_URL,
    SECRET,
    closed_port,
    disclosure,
    unique_schema,
)

# ACCESS.md, "Patient restrictions": what a patient may hide, and what stays visible for safety.
MAY_RESTRICT = {
    "LIFESTYLE",
    "DIAGNOSTIC_STUDIES",
    "LAB_RESULTS",
    "RISK_BEHAVIOURS",
    "IMMUNIZATIONS",
    "SCREENINGS",
    "PROBLEMS",
    "ENCOUNTERS",
    "DISPENSATIONS",
}
NEVER_RESTRICTED = [
    "IDENTITY",
    "CARE_TEAM",
    "EMERGENCY",
    "ALLERGIES",
    "MEDICATIONS",
    "PHYSIOLOGICAL_STATE",
    "ANTHROPOMETRICS",
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path):
    """The audit database URL on each backend (PostgreSQL in a throwaway schema)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/audit.db"
        return
    schema = unique_schema()
    admin = await asyncpg.connect(PG_BASE_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE_URL}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def restrictions(database_url):
    store = open_restriction_store(database_url, SECRET)
    await store.open()
    yield store
    await store.close()


def test_restrictable_sections_match_the_contract():
    assert set(RESTRICTABLE_SECTIONS) == MAY_RESTRICT


async def test_nothing_is_restricted_at_first(restrictions):
    assert await restrictions.restricted_sections(AIGUL) == frozenset()


async def test_set_and_unset(restrictions):
    assert await restrictions.set_restricted(AIGUL, "LAB_RESULTS", True) == {"LAB_RESULTS"}
    assert await restrictions.set_restricted(AIGUL, "ENCOUNTERS", True) == {
        "LAB_RESULTS",
        "ENCOUNTERS",
    }
    # Restricting twice is not an error and changes nothing.
    assert await restrictions.set_restricted(AIGUL, "ENCOUNTERS", True) == {
        "LAB_RESULTS",
        "ENCOUNTERS",
    }
    assert await restrictions.set_restricted(AIGUL, "LAB_RESULTS", False) == {"ENCOUNTERS"}
    assert await restrictions.set_restricted(AIGUL, "PROBLEMS", False) == {"ENCOUNTERS"}
    assert await restrictions.restricted_sections(AIGUL) == {"ENCOUNTERS"}


async def test_patients_are_kept_apart(restrictions):
    await restrictions.set_restricted(AIGUL, "LIFESTYLE", True)
    await restrictions.set_restricted(BEKZAT, "DISPENSATIONS", True)
    assert await restrictions.restricted_sections(AIGUL) == {"LIFESTYLE"}
    assert await restrictions.restricted_sections(BEKZAT) == {"DISPENSATIONS"}


async def test_restrictions_persist_across_reopen(database_url):
    store = open_restriction_store(database_url, SECRET)
    await store.open()
    await store.set_restricted(AIGUL, "SCREENINGS", True)
    await store.set_restricted(AIGUL, "RISK_BEHAVIOURS", True)
    await store.close()
    store = open_restriction_store(database_url, SECRET)
    await store.open()
    try:
        assert await store.restricted_sections(AIGUL) == {"SCREENINGS", "RISK_BEHAVIOURS"}
    finally:
        await store.close()


async def test_concurrent_changes_all_land(restrictions):
    sections = sorted(MAY_RESTRICT)
    await asyncio.gather(*(restrictions.set_restricted(AIGUL, s, True) for s in sections))
    assert await restrictions.restricted_sections(AIGUL) == MAY_RESTRICT


@pytest.mark.parametrize("section", [*NEVER_RESTRICTED, "lab_results", "NOT_A_SECTION", ""])
async def test_safety_sections_cannot_be_restricted(restrictions, section):
    with pytest.raises(SectionNotRestrictable):
        await restrictions.set_restricted(AIGUL, section, True)
    assert await restrictions.restricted_sections(AIGUL) == frozenset()


async def test_bad_iin_is_refused(restrictions):
    with pytest.raises(ValueError):
        await restrictions.set_restricted("not-an-iin", "LAB_RESULTS", True)


async def test_restrictions_live_beside_the_audit_chain(database_url):
    audit = open_audit_store(database_url, SECRET)
    restrictions = open_restriction_store(database_url, SECRET)
    await audit.open()
    await restrictions.open()
    try:
        await audit.append(disclosure(1))
        await restrictions.set_restricted(AIGUL, "PROBLEMS", True)
        await audit.append(disclosure(2))
        assert (await audit.verify()).checked == 2
        assert await restrictions.restricted_sections(AIGUL) == {"PROBLEMS"}
    finally:
        await audit.close()
        await restrictions.close()


async def test_sqlite_iin_not_stored_in_clear(tmp_path):
    path = tmp_path / "audit.db"
    store = open_restriction_store(f"sqlite://{path}", SECRET)
    await store.open()
    await store.set_restricted(AIGUL, "LAB_RESULTS", True)
    await store.close()
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert "LAB_RESULTS" in dump and AIGUL not in dump


async def test_unreachable_database_fails_closed(tmp_path):
    for url in (
        f"sqlite://{tmp_path}/missing-dir/audit.db",
        f"postgresql://postgres@127.0.0.1:{closed_port()}/test",
    ):
        store = open_restriction_store(url, SECRET)
        with pytest.raises(RestrictionsUnavailable):
            await store.open()
        with pytest.raises(RestrictionsUnavailable):
            await store.restricted_sections(AIGUL)
