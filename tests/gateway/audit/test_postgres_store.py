"""The PostgreSQL audit store on the real server: chaining, tampering, concurrency, fail closed."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from gateway.audit import AuditUnavailable, open_audit_store
from gateway.audit.postgres_store import PostgresAuditStore
from gateway.audit.verify import verify_database
from tests.gateway.audit import (
    AIGUL,
    BEKZAT,
    PG_BASE_URL,
    SECRET,
    closed_port,
    disclosure,
    unique_schema,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_url():
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    schema = unique_schema()
    admin = await asyncpg.connect(PG_BASE_URL)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_BASE_URL}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def store(pg_url):
    store = open_audit_store(pg_url, SECRET)
    await store.open()
    yield store
    await store.close()


async def tamper(pg_url: str, *statements: str) -> None:
    """Change rows behind the store's back after removing its guard triggers."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fill(store, count: int, iin: str = AIGUL) -> None:
    for n in range(1, count + 1):
        await store.append(disclosure(n, iin))


async def test_appended_events_form_a_chain(store, pg_url):
    first = await store.append(disclosure(1))
    second = await store.append(disclosure(2, BEKZAT))
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert second.practitioner_name == "Ержан Сапаров"
    result = await verify_database(pg_url)
    assert (result.ok, result.checked) == (True, 2)


async def test_events_for_patient_newest_first_and_only_theirs(store):
    for n in range(1, 8):
        await store.append(disclosure(n, AIGUL if n % 2 else BEKZAT))
    aigul = await store.events_for_patient(AIGUL, 50)
    assert [e.request_id for e in aigul] == ["req-7", "req-5", "req-3", "req-1"]
    assert [e.request_id for e in await store.events_for_patient(BEKZAT, 1)] == ["req-6"]


async def test_iin_is_never_stored_in_clear(store, pg_url):
    await fill(store, 3)
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT * FROM audit_events")
    finally:
        await conn.close()
    assert len(rows) == 3
    assert all(AIGUL not in str(value) for row in rows for value in row.values())


async def test_database_refuses_update_delete_truncate(store, pg_url):
    await fill(store, 2)
    conn = await asyncpg.connect(pg_url)
    try:
        for statement in (
            "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
            "DELETE FROM audit_events WHERE seq = 2",
            "TRUNCATE audit_events",
            "UPDATE audit_chain_head SET seq = 1",
        ):
            with pytest.raises(asyncpg.RaiseError):
                await conn.execute(statement)
    finally:
        await conn.close()
    assert (await store.verify()).checked == 2


async def test_edited_event_is_named(store, pg_url):
    await fill(store, 8)
    await tamper(pg_url, "UPDATE audit_events SET role = 'nurse' WHERE seq = 6")
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 6, "edited")


async def test_removed_event_names_the_next(store, pg_url):
    await fill(store, 8)
    await tamper(pg_url, "DELETE FROM audit_events WHERE seq = 2")
    result = await verify_database(pg_url)
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 3, "removed")


async def test_swapped_rows_are_reordered(store, pg_url):
    await fill(store, 8)
    await tamper(
        pg_url,
        "UPDATE audit_events SET seq = -4 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 7",
        "UPDATE audit_events SET seq = 7 WHERE seq = -4",
    )
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 4, "reordered")


async def test_fifty_concurrent_appenders_keep_one_chain(store):
    async def appender(worker: int) -> list[int]:
        return [(await store.append(disclosure(worker * 100 + i))).seq for i in range(20)]

    seqs = await asyncio.gather(*(appender(w) for w in range(50)))
    assert sorted(s for chunk in seqs for s in chunk) == list(range(1, 1001))
    assert await store.count() == 1000
    result = await store.verify()
    assert (result.ok, result.checked) == (True, 1000)


async def test_two_stores_on_one_database_keep_one_chain(pg_url):
    # Two pools, as two gateway processes would have.
    first, second = (PostgresAuditStore(pg_url, SECRET) for _ in range(2))
    await first.open()
    await second.open()
    try:

        async def appender(store, worker: int) -> None:
            for i in range(20):
                await store.append(disclosure(worker * 100 + i))

        await asyncio.gather(
            *(appender(first, w) for w in range(10)), *(appender(second, w) for w in range(10, 20))
        )
        result = await first.verify()
        assert (result.ok, result.checked) == (True, 400)
    finally:
        await first.close()
        await second.close()


async def test_closed_port_fails_closed_on_open():
    store = open_audit_store(f"postgresql://postgres@127.0.0.1:{closed_port()}/test", SECRET)
    with pytest.raises(AuditUnavailable):
        await store.open()
    with pytest.raises(AuditUnavailable):
        await store.append(disclosure(1))
    with pytest.raises(AuditUnavailable):
        await verify_database(f"postgresql://postgres@127.0.0.1:{closed_port()}/test")


async def test_stuck_database_fails_closed_without_partial_write(pg_url):
    store = PostgresAuditStore(pg_url, SECRET, command_timeout_s=0.5)
    await store.open()
    blocker = await asyncpg.connect(pg_url)
    try:
        await fill(store, 2)
        # Another writer holds the chain head and never lets go.
        blocker_tx = blocker.transaction()
        await blocker_tx.start()
        await blocker.execute("SELECT * FROM audit_chain_head FOR UPDATE")
        outcomes = await asyncio.gather(
            *(store.append(disclosure(n)) for n in range(3, 6)), return_exceptions=True
        )
        await blocker_tx.rollback()
        assert all(isinstance(o, AuditUnavailable) for o in outcomes)
        assert await store.count() == 2
        assert (await store.append(disclosure(9))).seq == 3
        assert (await store.verify()).ok
    finally:
        await blocker.close()
        await store.close()


async def test_verify_of_a_database_without_audit_tables_is_unavailable(pg_url):
    with pytest.raises(AuditUnavailable):
        await verify_database(pg_url)


async def test_ping_reads_the_chain_head_and_fails_when_it_is_gone(store, pg_url):
    await fill(store, 3)
    await store.ping()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("ALTER TABLE audit_chain_head RENAME TO moved_head")
    finally:
        await conn.close()
    with pytest.raises(AuditUnavailable, match="does not answer"):
        await store.ping()
    await store.close()
    with pytest.raises(AuditUnavailable, match="not open"):
        await store.ping()
