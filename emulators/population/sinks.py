"""Writing the shard databases in bulk and merging the shards into each system's database."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from emulators.clock import search_date
from emulators.population.model import Json, Token
from emulators.storage import DATABASES, PAGE_SIZE, create_database

SORT_KEYS = {
    "resource": ["type", "id"],
    "patient": ["iin"],
    "lab_order": ["order_no"],
    "lab_result": ["order_no", "seq"],
    "prescription": ["id"],
    "dispensation": ["id"],
    "call": ["id"],
}


class FhirSink:
    """One FHIR database being written: resource and token rows, flushed in batches."""

    def __init__(self, data_dir: Path, system: str, prefix: str, shard: int, shards: int) -> None:
        self.connection = open_shard(data_dir, system)
        self.prefix = prefix
        self.counter = 0
        self.shard = shard
        self.shards = shards
        self.resources: list[tuple[Any, ...]] = []
        self.tokens: list[tuple[str, ...]] = []

    def new_id(self, kind: str = "") -> str:
        """A fresh local resource id of this instance."""
        self.counter += 1
        # Shard first, so each shard's ids sort after the previous shard's: merging appends.
        return f"{self.prefix}{kind}{self.shard}{self.counter:07d}"

    def add(
        self,
        rtype: str,
        rid: str,
        patient_id: str | None,
        day: str | None,
        resource: Json,
        tokens: list[Token],
    ) -> None:
        """Queue one resource with its search tokens (``day``: its FHIR date or dateTime)."""
        when = search_date(day) if day is not None else None
        self.resources.append((rtype, rid, patient_id, when, orjson.dumps(resource).decode()))
        for param, system, code in tokens:
            self.tokens.append((rtype, rid, param, system, code))

    def flush(self) -> None:
        """Write the queued rows (inside the database's single transaction)."""
        self.connection.executemany("INSERT INTO resource VALUES (?,?,?,?,?)", self.resources)
        self.connection.executemany("INSERT INTO token VALUES (?,?,?,?,?)", self.tokens)
        self.resources.clear()
        self.tokens.clear()


class RowSink:
    """One relational database being written (lis, dps, ambulance), flushed in batches."""

    def __init__(self, data_dir: Path, system: str, tables: dict[str, int]) -> None:
        self.connection = open_shard(data_dir, system)
        self.sql = {t: f"INSERT INTO {t} VALUES ({','.join('?' * n)})" for t, n in tables.items()}
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in tables}

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue one row."""
        self.rows[table].append(row)

    def flush(self) -> None:
        """Write the queued rows (inside the database's single transaction)."""
        for table, rows in self.rows.items():
            self.connection.executemany(self.sql[table], rows)
            rows.clear()


def table_columns(system: str) -> dict[str, list[str]]:
    """The tables of a system's layout and their columns, in declaration order."""
    probe = sqlite3.connect(":memory:")
    probe.executescript(DATABASES[system])
    tables = [
        row[0]
        for row in probe.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
        )
    ]
    columns = {t: [row[1] for row in probe.execute(f"PRAGMA table_info({t})")] for t in tables}
    probe.close()
    return columns


def tune_for_bulk(connection: sqlite3.Connection) -> None:
    """One bulk transaction, nothing to recover after a crash (the file is regenerated)."""
    connection.execute("PRAGMA journal_mode=OFF")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")
    connection.execute("PRAGMA temp_store=MEMORY")


def open_shard(shard_dir: Path, system: str) -> sqlite3.Connection:
    """A scratch database with the system's tables but no keys or indexes: appends only."""
    path = shard_dir / f"{system}.sqlite"
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    tune_for_bulk(connection)
    for table, columns in table_columns(system).items():
        connection.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
    connection.execute("BEGIN")
    return connection


def merge_shards(data_dir: Path, shard_dirs: list[Path], system: str) -> None:
    """Write a system's database in its exact layout from the shards, rows sorted by key."""
    connection = create_database(data_dir, system)
    tune_for_bulk(connection)
    # Indexes are built once after loading (a sort), instead of row by row.
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    for k, shard_dir in enumerate(shard_dirs):
        connection.execute(f"ATTACH DATABASE ? AS s{k}", (str(shard_dir / f"{system}.sqlite"),))
    connection.execute("BEGIN")
    for table, columns in table_columns(system).items():
        keys = SORT_KEYS.get(table, columns)
        if table == "token" or (table == "resource" and system != "register"):
            # EHR ids ascend within and across shards: appends. The register interleaves
            # patients and their RelatedPersons: sorted by key, its pages stay full.
            for k in range(len(shard_dirs)):
                connection.execute(f"INSERT INTO main.{table} SELECT * FROM s{k}.{table}")
            continue
        union = " UNION ALL ".join(f"SELECT * FROM s{k}.{table}" for k in range(len(shard_dirs)))
        connection.execute(
            f"INSERT INTO main.{table} SELECT * FROM ({union}) ORDER BY {', '.join(keys)}"
        )
    for _, sql in indexes:
        connection.execute(sql)
    connection.commit()
    for k in range(len(shard_dirs)):
        connection.execute(f"DETACH DATABASE s{k}")
    connection.close()
