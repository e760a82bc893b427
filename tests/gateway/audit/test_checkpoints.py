"""The checkpoint file: signed lines, appended at start, periodically and at close, and read
back by verify; the seal shared by replicas through the database."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import stat
from datetime import UTC, datetime

import pytest

from gateway.audit import AuditUnavailable, open_audit_store
from gateway.audit.checkpoints import HEAD, SEAL, Checkpoint, CheckpointLog
from gateway.audit.verify import verify_database
from tests.gateway.audit import KEYS, SECRET, disclosure, trail
from tests.gateway.audit.attacker import Backend

AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_lines_are_signed_and_the_file_is_private(tmp_path):
    log = CheckpointLog(tmp_path / "cp", KEYS.checkpoints)
    log.append(Checkpoint(SEAL, 0, "0" * 64, AT))
    log.append(Checkpoint(HEAD, 7, "a" * 64, AT))
    assert stat.S_IMODE((tmp_path / "cp").stat().st_mode) == 0o600
    reading = log.read()
    assert [(c.kind, c.seq) for c in reading.checkpoints] == [(SEAL, 0), (HEAD, 7)]
    assert reading.forged_lines == () and reading.unreadable_lines == ()
    line = json.loads((tmp_path / "cp").read_text().splitlines()[1])
    assert line["seq"] == 7 and len(line["sig"]) == 64


def test_a_line_edited_or_signed_with_another_key_is_forged(tmp_path):
    path = tmp_path / "cp"
    log = CheckpointLog(path, KEYS.checkpoints)
    log.append(Checkpoint(HEAD, 5, "a" * 64, AT))
    CheckpointLog(path, b"another-key-another-key-another!").append(
        Checkpoint(HEAD, 9, "b" * 64, AT)
    )
    moved = path.read_text().splitlines()[0].replace('"seq":5', '"seq":50')
    with path.open("a") as handle:
        handle.write(moved + "\n")
    reading = log.read()
    assert [c.seq for c in reading.checkpoints] == [5]
    assert reading.forged_lines == (2, 3)


def test_a_torn_last_line_stays_apart_from_the_next(tmp_path):
    path = tmp_path / "cp"
    log = CheckpointLog(path, KEYS.checkpoints)
    log.append(Checkpoint(HEAD, 1, "a" * 64, AT))
    with path.open("ab") as handle:
        handle.write(b'{"v":1,"kind":"he')  # a crash in the middle of a write
    log.append(Checkpoint(HEAD, 2, "b" * 64, AT))
    reading = log.read()
    assert [c.seq for c in reading.checkpoints] == [1, 2]
    assert reading.unreadable_lines == (2,)


async def opened(backend: Backend, **changes):
    store = open_audit_store(
        backend.url, SECRET, dataclasses.replace(trail(backend.directory), **changes)
    )
    await store.open()
    return store


async def test_the_ticker_checkpoints_the_growing_head(backend):
    store = await opened(backend, checkpoint_interval_s=0.05)
    try:
        for n in range(1, 4):
            last = await store.append(disclosure(n))
        log = trail(backend.directory).log()
        for _ in range(200):  # the ticker runs every 50 ms; wait for it, 10 s at most
            if any(c.seq == last.seq for c in log.read().checkpoints):
                break
            await asyncio.sleep(0.05)
        heads = [c for c in log.read().checkpoints if c.kind == HEAD]
        assert (heads[-1].seq, heads[-1].hash) == (3, last.hash)
        # An idle chain adds nothing more.
        await asyncio.sleep(0.3)
        assert [c for c in log.read().checkpoints if c.kind == HEAD] == heads
    finally:
        await store.close()


async def test_close_checkpoints_the_head(backend):
    store = await opened(backend)  # the default interval: no tick during this test
    await store.append(disclosure(1))
    last = await store.append(disclosure(2))
    await store.close()
    latest = trail(backend.directory).log().read().latest
    assert latest is not None and (latest.kind, latest.seq, latest.hash) == (HEAD, 2, last.hash)


async def test_verify_flags_a_forged_checkpoint_line(backend):
    store = await opened(backend)
    await store.append(disclosure(1))
    await store.close()
    CheckpointLog(trail(backend.directory).checkpoint_path, b"x" * 32).append(
        Checkpoint(HEAD, 1, "c" * 64, AT)
    )
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.problem) == (False, "forged checkpoint")


async def test_a_keyed_chain_without_its_checkpoint_file_cannot_be_verified(backend):
    store = await opened(backend)
    await store.append(disclosure(1))
    await store.close()
    trail(backend.directory).checkpoint_path.unlink()
    with pytest.raises(AuditUnavailable, match="holds no seal"):
        await verify_database(backend.url, trail(backend.directory))


async def test_a_replica_with_its_own_file_takes_the_seal_from_the_database(backend):
    first = await opened(backend)
    await first.append(disclosure(1))
    other = backend.directory / "replica-b"
    other.mkdir()
    second = open_audit_store(backend.url, SECRET, trail(other))
    await second.open()
    await second.append(disclosure(2))
    await first.close()
    await second.close()
    for directory in (backend.directory, other):
        reading = trail(directory).log().read()
        assert reading.seal is not None and reading.seal.seq == 0
        assert (await verify_database(backend.url, trail(directory))).ok


async def test_a_deleted_seal_row_is_restored_from_the_file(backend, caplog):
    store = await opened(backend)
    await store.append(disclosure(1))
    await store.close()
    if backend.kind == "sqlite":
        drop = "DROP TRIGGER audit_chain_seal_no_delete"
    else:
        drop = "DROP TRIGGER audit_chain_seal_once ON audit_chain_seal"
    await backend.execute(drop, "DELETE FROM audit_chain_seal")
    with caplog.at_level(logging.WARNING, logger="gateway.audit"):
        store = await opened(backend)
    await store.append(disclosure(2))
    await store.close()
    assert "restored from the file" in caplog.text
    assert (await verify_database(backend.url, trail(backend.directory))).ok


async def test_a_checkpoint_whose_hash_is_not_the_chains_is_a_rechained_history(backend):
    store = await opened(backend)
    for n in range(1, 4):
        await store.append(disclosure(n))
    await store.close()
    # A signed statement that event 2 once had another hash: the history was rewritten since.
    trail(backend.directory).log().append(Checkpoint(HEAD, 2, "d" * 64, AT))
    result = await verify_database(backend.url, trail(backend.directory))
    assert (result.ok, result.first_broken_seq, result.problem) == (False, 2, "re-chained")
    assert "recorded another hash" in str(result.detail)
