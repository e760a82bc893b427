"""The SQLite audit store: chaining, tamper detection, concurrency, patients' view, fail closed."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.audit import AuditUnavailable, open_audit_store
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.audit.verify import verify_database
from gateway.db.sqlite import sqlite_path_from_url
from tests.gateway.audit import AIGUL, BEKZAT, DANIYAR, SECRET, disclosure

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def db_path(tmp_path):
    return tmp_path / "audit.db"


@pytest.fixture
async def store(db_path):
    store = open_audit_store(f"sqlite://{db_path}", SECRET)
    await store.open()
    yield store
    await store.close()


def tamper(db_path: Path, *statements: str) -> None:
    """Change the file behind the store's back, as someone with file access could."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


async def fill(store, count: int, iin: str = AIGUL) -> None:
    for n in range(1, count + 1):
        await store.append(disclosure(n, iin))


async def test_appended_events_form_a_chain(store):
    first = await store.append(disclosure(1))
    second = await store.append(disclosure(2, BEKZAT))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert second.subject == "doctor-2" and second.org_bin == "040340004567"
    assert second.sections == ("IDENTITY", "ALLERGIES")
    result = await store.verify()
    assert (result.ok, result.checked) == (True, 2)


async def test_events_for_patient_newest_first_and_only_theirs(store):
    for n in range(1, 8):
        await store.append(disclosure(n, AIGUL if n % 2 else BEKZAT))
    aigul = await store.events_for_patient(AIGUL, 50)
    assert [e.request_id for e in aigul] == ["req-7", "req-5", "req-3", "req-1"]
    bekzat = await store.events_for_patient(BEKZAT, 2)
    assert [e.request_id for e in bekzat] == ["req-6", "req-4"]
    assert await store.events_for_patient(DANIYAR, 50) == []
    assert await store.events_for_patient(AIGUL, 0) == []


async def test_iin_is_never_stored_in_clear(store, db_path):
    await fill(store, 3)
    await store.close()
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert "doctor-1" in dump  # the dump does hold the events
    assert AIGUL not in dump


async def test_database_refuses_update_and_delete(store, db_path):
    await fill(store, 2)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_events SET reason = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_events WHERE seq = 2")
        with pytest.raises(sqlite3.DatabaseError, match="only moves forward"):
            conn.execute("UPDATE audit_chain_head SET seq = 1")
    finally:
        conn.close()
    assert (await store.verify()).ok


async def test_edited_event_is_named(store, db_path):
    await fill(store, 8)
    tamper(db_path, "UPDATE audit_events SET sections = '[\"IDENTITY\"]' WHERE seq = 5")
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 5, "edited")
    assert result.checked == 4


async def test_removed_event_names_the_next(store, db_path):
    await fill(store, 8)
    tamper(db_path, "DELETE FROM audit_events WHERE seq = 3")
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 4, "removed")


async def test_removed_last_event_is_detected(store, db_path):
    await fill(store, 5)
    tamper(db_path, "DELETE FROM audit_events WHERE seq = 5")
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 5, "removed")


async def test_swapped_rows_are_reordered(store, db_path):
    await fill(store, 8)
    tamper(
        db_path,
        "UPDATE audit_events SET seq = -2 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -2",
    )
    result = await store.verify()
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 2, "reordered")


async def test_fifty_concurrent_appenders_keep_one_chain(store):
    async def appender(worker: int) -> list[int]:
        return [(await store.append(disclosure(worker * 100 + i))).seq for i in range(20)]

    seqs = await asyncio.gather(*(appender(w) for w in range(50)))
    assert sorted(s for chunk in seqs for s in chunk) == list(range(1, 1001))
    assert await store.count() == 1000
    result = await store.verify()
    assert (result.ok, result.checked) == (True, 1000)


async def test_two_stores_on_one_file_keep_one_chain(db_path):
    # Two stores have two connections, as two gateway processes would.
    first, second = (SqliteAuditStore(str(db_path), SECRET) for _ in range(2))
    await first.open()
    await second.open()
    try:

        async def appender(store, worker: int) -> None:
            for i in range(20):
                await store.append(disclosure(worker * 100 + i))

        await asyncio.gather(
            *(appender(first, w) for w in range(10)), *(appender(second, w) for w in range(10, 20))
        )
        assert await first.count() == 400
        result = await second.verify()
        assert (result.ok, result.checked) == (True, 400)
    finally:
        await first.close()
        await second.close()


APPENDER_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from gateway.audit import open_audit_store
    from tests.gateway.audit import SECRET, disclosure

    async def main(url, worker):
        store = open_audit_store(url, SECRET)
        await store.open()
        await asyncio.gather(*(store.append(disclosure(worker * 1000 + i)) for i in range(150)))
        await store.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_separate_processes_keep_one_chain(db_path):
    url = f"sqlite://{db_path}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPENDER_PROCESS, url, str(worker), cwd=ROOT
        )
        for worker in range(3)
    ]
    assert [await proc.wait() for proc in procs] == [0, 0, 0]
    result = await verify_database(url)
    assert (result.ok, result.checked) == (True, 450)


async def test_events_persist_across_reopen(db_path):
    url = f"sqlite://{db_path}"
    store = open_audit_store(url, SECRET)
    await store.open()
    await fill(store, 3)
    await store.close()
    store = open_audit_store(url, SECRET)
    await store.open()
    try:
        assert (await store.append(disclosure(4))).seq == 4
        assert [e.seq for e in await store.events_for_patient(AIGUL, 10)] == [4, 3, 2, 1]
        assert (await store.verify()).checked == 4
    finally:
        await store.close()


async def test_unwritable_path_fails_closed_on_open(tmp_path):
    store = open_audit_store(f"sqlite://{tmp_path}/missing-dir/audit.db", SECRET)
    with pytest.raises(AuditUnavailable):
        await store.open()
    with pytest.raises(AuditUnavailable):
        await store.append(disclosure(1))
    assert not (tmp_path / "missing-dir").exists()


async def test_locked_database_fails_closed_without_partial_write(db_path):
    store = SqliteAuditStore(str(db_path), SECRET, busy_timeout_ms=100)
    await store.open()
    try:
        await fill(store, 2)
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock and never lets go
        try:
            outcomes = await asyncio.gather(
                *(store.append(disclosure(n)) for n in range(3, 8)), return_exceptions=True
            )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert all(isinstance(o, AuditUnavailable) for o in outcomes)
        assert await store.count() == 2
        assert (await store.append(disclosure(9))).seq == 3
        assert (await store.verify()).ok
    finally:
        await store.close()


async def test_closed_store_refuses_appends(store):
    await store.close()
    with pytest.raises(AuditUnavailable):
        await store.append(disclosure(1))
    with pytest.raises(AuditUnavailable):
        await store.events_for_patient(AIGUL, 5)


async def test_bad_iin_is_refused_not_written(store):
    with pytest.raises(ValueError):
        await store.events_for_patient("123", 5)
    assert await store.count() == 0


def run_cli(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.audit.verify", "--database-url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_verify_command_reports_ok_then_the_broken_event(store, db_path):
    await fill(store, 4)
    url = f"sqlite://{db_path}"
    ok = run_cli(url)
    assert ok.returncode == 0
    assert ok.stdout.strip() == "audit chain OK: 4 events"
    tamper(db_path, "UPDATE audit_events SET break_glass = 1 WHERE seq = 2")
    broken = run_cli(url)
    assert broken.returncode == 1
    assert broken.stdout.startswith("audit chain BROKEN at event seq=2: edited")


async def test_verify_command_without_a_database_exits_2(tmp_path):
    missing = run_cli(f"sqlite://{tmp_path}/nothing.db")
    assert missing.returncode == 2
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.parametrize(
    "url,path",
    [
        ("sqlite:///var/lib/ehp/audit.db", "/var/lib/ehp/audit.db"),
        ("sqlite:////var/lib/ehp/audit.db", "/var/lib/ehp/audit.db"),
        ("sqlite://audit.db", "audit.db"),
        ("sqlite:data/audit.db", "data/audit.db"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_url_paths(url, path):
    assert sqlite_path_from_url(url) == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///x.db?mode=ro", "mysql://x"])
def test_bad_sqlite_urls_are_refused(url):
    with pytest.raises(ValueError):
        sqlite_path_from_url(url)


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError):
        open_audit_store("mysql://db/audit", SECRET)


async def test_ping_reads_the_chain_head_and_fails_when_it_is_gone(store, db_path):
    await fill(store, 3)
    await store.ping()
    tamper(db_path, "ALTER TABLE audit_chain_head RENAME TO moved_head")
    with pytest.raises(AuditUnavailable, match="does not answer"):
        await store.ping()
    await store.close()
    with pytest.raises(AuditUnavailable, match="not open"):
        await store.ping()
