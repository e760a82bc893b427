"""Audit append throughput: events/s of one store under concurrent appenders (group commit).

```sh
.venv/bin/python -m bench.audit_append --events 20000 --appenders 50
```

Opens the audit store on a fresh SQLite file (WAL, `synchronous = FULL`) and, when the
server answers, on PostgreSQL (`--pg-url`, a schema of its own, dropped afterwards), then
lets `--appenders` tasks append `--events` events in all, each waiting for its commit as a
request does. Prints events/s, wall and CPU time per event (CPU of this process, every thread: a
figure other load on the machine disturbs less); then checks that `verify` passes over
what was written.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from gateway.audit import AuditStore, NewAuditEvent, open_audit_store
from gateway.audit.keys import ChainKeys
from gateway.audit.trail import Trail
from gateway.auth.policy import Basis

SECRET = b"bench-patient-key-secret-32bytes"
CHAIN_KEY = b"bench-audit-chain-key-of-32bytes"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Throughput:
    """One backend's run."""

    backend: str
    events: int
    seconds: float
    cpu_seconds: float  # this process, every thread (the SQLite worker included)
    verified: bool

    @property
    def per_second(self) -> float:
        """Events committed per second."""
        return self.events / self.seconds


def _event(n: int) -> NewAuditEvent:
    """A doctor's break-glass read of one of 1,000 made-up patients."""
    return NewAuditEvent(
        subject=f"bench-doctor-{n % 37}",
        role="doctor",
        patient_iin=f"{900000000000 + n % 1000:012d}",
        sections=("IDENTITY", "ALLERGIES", "LAB_RESULTS"),
        request_id=uuid.uuid4().hex,
        practitioner_id="prac-17",
        org_bin="040340004567",
        reason="patient unconscious in the emergency room",
        break_glass=True,
        at=datetime.now(UTC),
        basis=Basis.BREAK_GLASS,
    )


def _open_store(url: str, directory: Path) -> AuditStore:
    """The store as the gateway opens it: keyed chain, checkpoints beside the database."""
    trail = Trail(ChainKeys.derive(CHAIN_KEY), directory / f"checkpoints-{uuid.uuid4().hex}")
    return open_audit_store(url, SECRET, trail)


async def _measure(
    backend: str, url: str, directory: Path, events: int, appenders: int
) -> Throughput:
    store = _open_store(url, directory)
    await store.open()
    try:
        per_task = events // appenders

        async def appender(worker: int) -> None:
            for i in range(per_task):
                await store.append(_event(worker * per_task + i))

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(appender(w) for w in range(appenders)))
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        verified = (await store.verify()).ok
    finally:
        await store.close()
    return Throughput(backend, per_task * appenders, seconds, cpu_seconds, verified)


async def _postgres(pg_url: str, directory: Path, events: int, appenders: int) -> Throughput | None:
    try:
        admin = await asyncpg.connect(pg_url, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    schema = f"audit_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"{pg_url}?search_path={schema}"
        return await _measure("postgresql", url, directory, events, appenders)
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def run(events: int, appenders: int, pg_url: str) -> list[Throughput]:
    """Measure SQLite, then PostgreSQL when it answers."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        url = f"sqlite:///{directory / 'audit.db'}"
        results = [await _measure("sqlite", url, directory, events, appenders)]
        pg = await _postgres(pg_url, directory, events, appenders)
    return results if pg is None else [*results, pg]


def main() -> None:
    """Print one line per backend."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit_append")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--appenders", type=int, default=50)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    for result in asyncio.run(run(args.events, args.appenders, args.pg_url)):
        print(
            f"{result.backend:10} {result.events:7,} events in {result.seconds:6.2f} s: "
            f"{result.per_second:8,.0f} events/s ({1e6 / result.per_second:6.1f} us/event, "
            f"CPU {1e6 * result.cpu_seconds / result.events:6.1f} us/event), "
            f"verify {'ok' if result.verified else 'FAILED'}"
        )


if __name__ == "__main__":
    main()
