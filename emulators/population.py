"""The synthetic population: a seeded model of people and their records in every source system.

``generate()`` writes ``register.sqlite``, ``ehr-{region}.sqlite``, ``lis.sqlite``, ``dps.sqlite``
and ``ambulance.sqlite`` (layout: ``emulators/storage.py``) plus ``ground_truth.json``
(``docs/ground-truth.md``). Everything comes from one ``random.Random(seed)`` walked in a fixed
order, so the same seed, size and day give byte-identical files. The ground truth is written
from the generator's own model of each person, never read back from the databases.
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import random
import shutil
import sqlite3
import sys
import time
from bisect import bisect
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from emulators import ids
from emulators import population_data as D
from emulators.storage import DATABASES, REGIONS, create_database, database_path

ALMATY = timezone(timedelta(hours=5))
HISTORY_DAYS = 3 * 365
OVERDUE_YEARS = 5  # a screening older than this is overdue under any national interval
BATCH_PEOPLE = 2000
SHARDS = 2  # people are split by index parity; fixed, so the output never depends on the CPUs
IN_PROCESS_BELOW = 5000  # small populations are generated shard after shard, without processes
SORT_KEYS = {
    "patient": ["iin"],
    "lab_order": ["order_no"],
    "lab_result": ["order_no", "seq"],
    "prescription": ["id"],
    "dispensation": ["id"],
    "call": ["id"],
}
FORCED_PER_CASE = 4
EDGE_CASES = (
    "twoRegions",
    "registerOnly",
    "noLabHistory",
    "pregnant",
    "child",
    "veryOld",
    "secondPassIin",
    "kazakhLetters",
    "ambulance",
    "implant",
    "overdueScreening",
)

Json = dict[str, Any]
Token = tuple[str, str, str]

QUALIFICATIONS = {
    "gp": "Врач общей практики",
    "nurse": "Медицинская сестра общей практики",
    "cardiologist": "Кардиолог",
    "endocrinologist": "Эндокринолог",
    "gynaecologist": "Акушер-гинеколог",
    "therapist": "Терапевт",
    "surgeon": "Хирург",
    "emergency": "Врач приёмного отделения",
    "paramedic": "Фельдшер скорой помощи",
    "lab": "Врач клинической лабораторной диагностики",
}
CLASS_DISPLAY = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency"}
KIND_OF_CLASS = {"AMB": "OUTPATIENT", "IMP": "INPATIENT", "EMER": "EMERGENCY"}
PROBLEM_STATUS = {
    "active": "ACTIVE",
    "recurrence": "ACTIVE",
    "relapse": "ACTIVE",
    "inactive": "INACTIVE",
    "remission": "INACTIVE",
    "resolved": "RESOLVED",
}
CRITICALITY = {"low": "LOW", "high": "HIGH", "unable-to-assess": "UNKNOWN"}
FLAG_NAMES = {"N": "NORMAL", "L": "LOW", "H": "HIGH", "A": "ABNORMAL", None: None}
TIMES_TEXT = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
UCUM_CODE = {"IU": "[IU]"}
SURGERY = {
    "K35.8": ("80146002", "Appendectomy"),
    "K80.2": ("38102005", "Cholecystectomy"),
    "S72.0": ("52734007", "Total replacement of hip"),
}
IMPLANTS = {
    "pacemaker": ("14106009", "Cardiac pacemaker", "Электрокардиостимулятор"),
    "valve": ("25510005", "Heart valve prosthesis", "Протез аортального клапана"),
    "pump": ("69805005", "Insulin pump", "Инсулиновая помпа"),
}
SMOKING = (
    ("266919005", "Never smoked tobacco", "NEVER"),
    ("8517006", "Ex-smoker", "FORMER"),
    ("77176002", "Smoker", "CURRENT"),
)
ABO = (
    ("O(I)", "58460004", "Blood group O"),
    ("A(II)", "112144000", "Blood group A"),
    ("B(III)", "112149005", "Blood group B"),
    ("AB(IV)", "165743006", "Blood group AB"),
)
# Median height (cm) and BMI by completed year of age 0..18 (WHO-like growth references).
HEIGHT = {
    True: (
        50,
        76,
        88,
        96,
        103,
        110,
        116,
        122,
        128,
        133,
        138,
        143,
        149,
        156,
        163,
        169,
        173,
        175,
        176,
    ),
    False: (
        49,
        74,
        86,
        95,
        102,
        109,
        115,
        121,
        127,
        133,
        138,
        144,
        151,
        157,
        160,
        162,
        163,
        163,
        163,
    ),
}
CHILD_BMI = (
    13.5,
    17.2,
    16.5,
    16.0,
    15.7,
    15.4,
    15.4,
    15.6,
    16.0,
    16.4,
    16.9,
    17.5,
    18.0,
    18.7,
    19.3,
    19.8,
    20.4,
    20.9,
    21.3,
)


def iso(moment: datetime) -> str:
    """An ISO 8601 Almaty date-time (moments are naive local times in whole minutes)."""
    return moment.isoformat() + "+05:00"


def coding(system: str, code: str, display: str | None) -> Json:
    """A Coding as both FHIR and the ground truth write it."""
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, text: str | None = None) -> Json:
    """A CodeableConcept with one coding and a text."""
    return {"coding": [coding(system, code, display)], "text": text or display}


def age_on(birth: date, day: date) -> int:
    """Completed years of age on a day."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def years_before(day: date, years: int) -> date:
    """The same calendar day some years earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def fmt_number(value: float) -> str:
    """A dose or strength as people write it: 500, 1.5."""
    return f"{value:g}"


@dataclass(slots=True)
class Org:
    """An organisation of the register."""

    fhir_id: str
    bin: str
    name: str
    type: str
    region: str
    code: str | None = None


@dataclass(slots=True)
class Staff:
    """A practitioner of the register and the organisation they work for."""

    fhir_id: str
    pid: str
    name: str
    fio: str
    qualification: str
    org: Org


@dataclass(slots=True)
class Visit:
    """An encounter of the model before it is written."""

    start: datetime
    end: datetime | None
    cls: str
    org: Org
    staff: Staff | None
    reason: Json | None
    reason_text: str | None = None
    acute: bool = False


@dataclass(slots=True)
class Person:
    """One person of the model while their records are generated."""

    index: int
    iin: str
    birth: date
    male: bool
    age: int
    region: str
    polyclinic: Org
    gp: Staff
    truth: Json
    regions: list[str] = field(default_factory=list)
    moved_at: date | None = None
    old_region: str | None = None
    old_polyclinic: Org | None = None
    old_gp: Staff | None = None
    local_ids: dict[str, str] = field(default_factory=dict)
    chronic: list[str] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)
    edd: date | None = None
    z_height: float = 0.0
    z_bmi: float = 0.0

    def region_at(self, day: date) -> str:
        """The region whose EHR holds a record of that day (movers: the old one before moving)."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_region  # type: ignore[return-value]
        return self.region

    def polyclinic_at(self, day: date) -> Org:
        """The polyclinic the person was attached to on that day."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_polyclinic  # type: ignore[return-value]
        return self.polyclinic

    def gp_at(self, day: date) -> Staff:
        """The general practitioner the person had on that day."""
        if self.moved_at is not None and day < self.moved_at:
            return self.old_gp  # type: ignore[return-value]
        return self.gp


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
        """Queue one resource with its search tokens."""
        self.resources.append((rtype, rid, patient_id, day, orjson.dumps(resource).decode()))
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
        if table in ("resource", "token"):  # EHR ids ascend within and across shards: appends
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


class Directory:
    """The register's organisations and practitioners, per region and role."""

    def __init__(self, rng: random.Random, size: int, today: date) -> None:
        self.orgs: list[Org] = []
        self.staff: list[Staff] = []
        self.of_type: dict[tuple[str, str], list[Org]] = {}
        self.roles: dict[tuple[str, str], list[Staff]] = {}
        bins: set[str] = set()
        per_poly_gps = max(2, min(40, size // 250))
        per_hospital = max(2, min(20, size // 3000))
        per_station = max(2, min(30, size // 3000))
        for region in REGIONS:
            for template in D.ORG_TEMPLATES:
                numbers = rng.sample(range(1, 40), template.count)
                orgs: list[Org] = []
                for k, number in enumerate(numbers):
                    name_pattern = template.names[k % len(template.names)]
                    name = f"{name_pattern.format(n=number)}, {D.CITY_RU[region]}"
                    attribute = 1 if template.type == "pharmacy" else 0
                    org = Org(
                        fhir_id=f"org-{len(self.orgs) + 1}",
                        bin=self._new_bin(rng, bins, today, attribute),
                        name=name,
                        type=template.type,
                        region=region,
                    )
                    if template.type == "ambulance-station":
                        org.code = f"{D.REGION_ABBR[region]}-{k + 1:02d}"
                    self.orgs.append(org)
                    orgs.append(org)
                self.of_type[(region, template.type)] = orgs
            for org in self.of_type[(region, "polyclinic")]:
                self._hire(rng, org, "gp", per_poly_gps)
                for role in ("nurse", "cardiologist", "endocrinologist", "gynaecologist"):
                    self._hire(rng, org, role, 1)
            for org in self.of_type[(region, "hospital")]:
                for role in ("therapist", "surgeon", "emergency"):
                    self._hire(rng, org, role, per_hospital)
            for org in self.of_type[(region, "ambulance-station")]:
                self._hire(rng, org, "paramedic", per_station)
            for org in self.of_type[(region, "laboratory")]:
                self._hire(rng, org, "lab", 1)

    @staticmethod
    def _new_bin(rng: random.Random, used: set[str], today: date, attribute: int) -> str:
        while True:
            registered = date(rng.randint(1996, today.year - 2), rng.randint(1, 12), 1)
            first11 = f"{ids.bin_prefix(registered, 4, attribute)}{rng.randint(0, 99999):05d}"
            number, _ = ids.make_number(first11)
            if number is not None and number not in used:
                used.add(number)
                return number

    def _hire(self, rng: random.Random, org: Org, role: str, count: int) -> None:
        staff = self.roles.setdefault((org.bin, role), [])
        for _ in range(count):
            male = rng.random() < (0.3 if role in ("nurse", "gynaecologist") else 0.45)
            family, given, patronymic = make_name(rng, male, False)
            name = " ".join(x for x in (family, given, patronymic) if x)
            initials = " ".join(f"{x[0]}." for x in (given, patronymic) if x)
            n = len(self.staff) + 1
            member = Staff(
                fhir_id=f"pr-{n}",
                pid=f"P{100000 + n * 7:07d}",
                name=name,
                fio=f"{family} {initials}",
                qualification=QUALIFICATIONS[role],
                org=org,
            )
            self.staff.append(member)
            staff.append(member)

    def orgs_of(self, region: str, org_type: str) -> list[Org]:
        """The organisations of one type in a region."""
        return self.of_type[(region, org_type)]

    def staff_of(self, org: Org, role: str) -> list[Staff]:
        """The practitioners of one role at an organisation."""
        return self.roles.get((org.bin, role), [])


KAZAKH_LETTER_GIVEN = {
    True: tuple(n for n in D.KAZAKH_MALE if D.KAZAKH_LETTERS & set(n)),
    False: tuple(n for n in D.KAZAKH_FEMALE if D.KAZAKH_LETTERS & set(n)),
}


def make_name(rng: random.Random, male: bool, kazakh_letters: bool) -> tuple[str, str, str | None]:
    """A (family, given, patronymic) name in Kazakh or Russian form; patronymic sometimes absent."""
    if kazakh_letters or rng.random() < 0.72:
        kazakh_form = kazakh_letters or rng.random() < 0.5
        pool = (
            KAZAKH_LETTER_GIVEN[male]
            if kazakh_letters
            else (D.KAZAKH_MALE if male else D.KAZAKH_FEMALE)
        )
        given = rng.choice(pool)
        family = rng.choice(D.KAZAKH_FAMILY)
        if not male:
            family += "а"
        father = rng.choice(D.KAZAKH_MALE)
        if kazakh_form:
            patronymic = father + ("ұлы" if male else "қызы")
        else:
            patronymic = father.translate(D.RUSSIFY) + ("ович" if male else "овна")
            family, given = family.translate(D.RUSSIFY), given.translate(D.RUSSIFY)
    else:
        _, patronymic_male, patronymic_female = rng.choice(D.RUSSIAN_MALE)
        given = rng.choice(D.RUSSIAN_MALE)[0] if male else rng.choice(D.RUSSIAN_FEMALE)
        family = rng.choice(D.RUSSIAN_FAMILY)
        if not male and family not in D.INVARIANT_FAMILY:
            family += "а"
        patronymic = patronymic_male if male else patronymic_female
    if not kazakh_letters and rng.random() < 0.07:
        return family, given, None
    return family, given, patronymic


class Population:
    """Walks the people in order and writes every system's records and the ground truth."""

    def __init__(
        self, shard_dir: Path, size: int, seed: int, today: date, shard: int = 0, shards: int = 1
    ) -> None:
        self.rng = random.Random(seed)
        self.shard = shard
        self.shards = shards
        self.size = size
        self.seed = seed
        self.today = today
        self.yesterday = today - timedelta(days=1)
        self.history_start = today - timedelta(days=HISTORY_DAYS)
        self.directory = Directory(self.rng, size, today)
        self.forced = self._forced_cases()
        self.register = FhirSink(shard_dir, "register", "", shard, shards)
        self.ehr = {r: FhirSink(shard_dir, f"ehr-{r}", f"{r[:3]}-", shard, shards) for r in REGIONS}
        self.lis = RowSink(shard_dir, "lis", {"patient": 1, "lab_order": 8, "lab_result": 10})
        self.dps = RowSink(shard_dir, "dps", {"prescription": 22, "dispensation": 18})
        self.ambulance = RowSink(shard_dir, "ambulance", {"call": 21})
        self.used_iins: set[str] = set()
        self.counters: dict[str, int] = {}
        self.cases: dict[str, list[str]] = {name: [] for name in EDGE_CASES}
        self.people_out = (shard_dir / "people.json").open("wb")
        self.people_written = 0
        self.age_cum = list(
            _accumulate([w for _, _, w in D.AGE_BANDS]),
        )

    # ---- generic helpers -------------------------------------------------------------------

    def count(self, key: str) -> int:
        """The next number of a named sequence (order numbers, prescription ids...)."""
        value = self.counters.get(key, 0) + 1
        self.counters[key] = value
        return (value - 1) * self.shards + self.shard + 1  # shards interleave, never collide

    def day_between(self, first: date, last: date) -> date:
        """A random day in [first, last] (last when the range is empty: never after last)."""
        span = (last - first).days
        return last if span <= 0 else first + timedelta(days=self.rng.randint(0, span))

    def at(self, day: date, first_hour: int = 8, last_hour: int = 18) -> datetime:
        """A random minute of a day between two hours."""
        rng = self.rng
        return datetime(
            day.year, day.month, day.day, rng.randint(first_hour, last_hour - 1), rng.randint(0, 59)
        )

    def org_ref(self, org: Org) -> Json:
        """A logical reference to an organisation by BIN; display sometimes absent."""
        ref: Json = {"identifier": {"system": D.BIN_SYSTEM, "value": org.bin}}
        if self.rng.random() < 0.85:
            ref["display"] = org.name
        return ref

    def staff_ref(self, staff: Staff) -> Json:
        """A logical reference to a practitioner by register id; display sometimes absent."""
        ref: Json = {"identifier": {"system": D.PRACTITIONER_SYSTEM, "value": staff.pid}}
        if self.rng.random() < 0.85:
            ref["display"] = staff.name
        return ref

    def emit(
        self,
        person: Person,
        day: date,
        rtype: str,
        body: Json,
        tokens: list[Token],
        when: str | None,
        patient_key: str = "subject",
    ) -> tuple[str, str]:
        """Write a clinical resource to the EHR of the region holding that day; (id, region)."""
        region = person.region_at(day)
        sink = self.ehr[region]
        rid = sink.new_id()
        local = person.local_ids[region]
        resource = {
            "resourceType": rtype,
            "id": rid,
            patient_key: {"reference": f"Patient/{local}"},
        }
        resource.update(body)
        sink.add(rtype, rid, local, when, resource, tokens)
        return rid, region

    # ---- the walk ----------------------------------------------------------------------------

    def run(self) -> dict[str, list[str]]:
        """Generate this shard's people (truth streamed to people.json); returns edge cases."""
        if self.shard == 0:
            self._write_directory()
        for done, index in enumerate(range(self.shard, self.size, self.shards), start=1):
            # Each person has their own stream, so a shard's people do not depend on the others.
            self.rng = random.Random(self.seed * 1_000_003 + index)
            self._person(index, self.forced.get(index))
            if done % BATCH_PEOPLE == 0:
                self._flush()
        self._flush()
        self.people_out.close()
        return self.cases

    def _flush(self) -> None:
        self.register.flush()
        for sink in self.ehr.values():
            sink.flush()
        self.lis.flush()
        self.dps.flush()
        self.ambulance.flush()

    def close(self) -> list[Path]:
        """Commit and close every shard database; returns their paths."""
        connections = [
            self.register.connection,
            *(s.connection for s in self.ehr.values()),
            self.lis.connection,
            self.dps.connection,
            self.ambulance.connection,
        ]
        paths = []
        for connection in connections:
            connection.commit()
            paths.append(Path(connection.execute("PRAGMA database_list").fetchone()[2]))
            connection.close()
        return paths

    def _forced_cases(self) -> dict[int, str]:
        """A few people of each edge case, chosen up front so small populations have them all."""
        forced_cases = (
            "veryOld",
            "child",
            "pregnant",
            "registerOnly",
            "twoRegions",
            "noLabHistory",
            "ambulance",
            "implant",
            "overdueScreening",
            "secondPassIin",
            "kazakhLetters",
        )
        order = self.rng.sample(
            range(self.size), min(self.size, FORCED_PER_CASE * len(forced_cases))
        )
        return {idx: forced_cases[k // FORCED_PER_CASE] for k, idx in enumerate(order)}

    def _write_directory(self) -> None:
        for org in self.directory.orgs:
            resource = {
                "resourceType": "Organization",
                "id": org.fhir_id,
                "identifier": [{"system": D.BIN_SYSTEM, "value": org.bin}],
                "active": True,
                "type": [
                    {
                        "coding": [
                            coding("urn:kz:organization-type", org.type, org.type.capitalize())
                        ],
                        "text": org.type,
                    }
                ],
                "name": org.name,
                "address": [{"city": D.CITY_RU[org.region], "state": org.region, "country": "KZ"}],
            }
            tokens = [
                ("identifier", D.BIN_SYSTEM, org.bin),
                ("type", "urn:kz:organization-type", org.type),
            ]
            self.register.add("Organization", org.fhir_id, None, None, resource, tokens)
        for staff in self.directory.staff:
            family, _, rest = staff.name.partition(" ")
            resource = {
                "resourceType": "Practitioner",
                "id": staff.fhir_id,
                "extension": [
                    {
                        "url": "urn:kz:fhir:practitioner-organization",
                        "valueReference": {
                            "reference": f"Organization/{staff.org.fhir_id}",
                            "identifier": {"system": D.BIN_SYSTEM, "value": staff.org.bin},
                            "display": staff.org.name,
                        },
                    }
                ],
                "identifier": [{"system": D.PRACTITIONER_SYSTEM, "value": staff.pid}],
                "active": True,
                "name": [{"text": staff.name, "family": family, "given": rest.split(" ")}],
                "qualification": [{"code": {"text": staff.qualification}}],
            }
            tokens = [
                ("identifier", D.PRACTITIONER_SYSTEM, staff.pid),
                ("organization", "", f"Organization/{staff.org.fhir_id}"),
            ]
            self.register.add("Practitioner", staff.fhir_id, None, None, resource, tokens)

    # ---- one person --------------------------------------------------------------------------

    def _person(self, index: int, forced: str | None) -> None:
        rng = self.rng
        male, age = self._sex_and_age(forced)
        anniversary = years_before(self.today, age)
        birth = anniversary - timedelta(days=rng.randint(0, 364))
        age = age_on(birth, self.today)
        family, given, patronymic = make_name(rng, male, forced == "kazakhLetters")
        full_name = " ".join(x for x in (family, given, patronymic) if x)
        iin, second_pass = self._new_iin(birth, male, forced == "secondPassIin")
        region = rng.choices(REGIONS, weights=[D.REGION_WEIGHTS[r] for r in REGIONS])[0]
        polyclinic = rng.choice(self.directory.orgs_of(region, "polyclinic"))
        gp = rng.choice(self.directory.staff_of(polyclinic, "gp"))
        truth: Json = {
            "identity": {
                "iin": iin,
                "familyName": family,
                "givenName": given,
                "patronymic": patronymic,
                "fullName": full_name,
                "birthDate": birth.isoformat(),
                "sex": "MALE" if male else "FEMALE",
                "age": age,
                "region": region,
            },
            "careTeam": {
                "attachedOrganization": {
                    "bin": polyclinic.bin,
                    "name": polyclinic.name,
                    "region": region,
                },
                "generalPractitioner": {"id": gp.pid, "name": gp.name},
            },
        }
        person = Person(index, iin, birth, male, age, region, polyclinic, gp, truth)
        self._register_patient(person, family, given, patronymic, full_name)
        truth["_secondPass"] = second_pass
        register_only = forced == "registerOnly" or (forced is None and rng.random() < 0.015)
        if register_only:
            self._empty_sections(truth)
            self._close_person(iin, truth)
            return
        person.regions = [region]
        if forced == "twoRegions" or (forced is None and rng.random() < 0.025):
            person.old_region = rng.choice([r for r in REGIONS if r != region])
            person.moved_at = self.today - timedelta(days=rng.randint(120, 800))
            person.old_polyclinic = rng.choice(
                self.directory.orgs_of(person.old_region, "polyclinic")
            )
            person.old_gp = rng.choice(self.directory.staff_of(person.old_polyclinic, "gp"))
            person.regions = [person.old_region, region]
        in_lis = not (forced == "noLabHistory" or (forced is None and rng.random() < 0.04))
        self._clinical(person, forced, in_lis)
        self._close_person(iin, truth)

    def _sex_and_age(self, forced: str | None) -> tuple[bool, int]:
        rng = self.rng
        if forced == "veryOld":
            return rng.random() < 0.3, rng.randint(90, 101)
        if forced == "child":
            return rng.random() < 0.5, rng.randint(0, 4)
        if forced == "pregnant":
            return False, rng.randint(20, 40)
        if forced == "overdueScreening":
            return rng.random() < 0.5, rng.randint(48, 69)
        if forced == "implant":
            return rng.random() < 0.5, rng.randint(58, 85)
        low, high, _ = D.AGE_BANDS[bisect(self.age_cum, rng.random() * self.age_cum[-1])]
        age = rng.randint(low, high)
        # Women outlive men: the old are mostly women.
        male = rng.random() < (0.5 if age < 60 else 0.42 if age < 80 else 0.3)
        return male, age

    def _new_iin(self, birth: date, male: bool, want_second_pass: bool) -> tuple[str, bool]:
        prefix = ids.iin_prefix(birth, male)
        while True:
            # Serials of different shards differ in residue, so shards never issue the same IIN.
            serial = self.rng.randint(0, (9998 - self.shard) // self.shards) * self.shards
            serial += self.shard + 1
            number, second_pass = ids.make_number(f"{prefix}{serial:04d}")
            if number is None or number in self.used_iins:
                continue  # a serial with no valid check digit is never issued
            if want_second_pass and not second_pass:
                continue
            self.used_iins.add(number)
            return number, second_pass

    def _patient_resource(
        self,
        pid: str,
        person: Person,
        names: tuple[str, str, str | None, str],
        region: str,
    ) -> Json:
        family, given, patronymic, full_name = names
        resource: Json = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": D.IIN_SYSTEM, "value": person.iin}],
            "active": True,
            "name": [
                {
                    "use": "official",
                    "text": full_name,
                    "family": family,
                    "given": [given, patronymic] if patronymic else [given],
                }
            ],
            "gender": "male" if person.male else "female",
            "birthDate": person.birth.isoformat(),
            "address": [{"city": D.CITY_RU[region], "state": region, "country": "KZ"}],
        }
        return resource

    def _register_patient(
        self, person: Person, family: str, given: str, patronymic: str | None, full_name: str
    ) -> None:
        rng = self.rng
        pid = f"pat-{person.index + 1}"
        person.truth["_names"] = (family, given, patronymic, full_name)
        resource = self._patient_resource(
            pid, person, (family, given, patronymic, full_name), person.region
        )
        if person.age >= 14 or rng.random() < 0.5:
            phone = f"+7{rng.choice(D.MOBILE_PREFIXES)}{rng.randint(0, 9999999):07d}"
            resource["telecom"] = [{"system": "phone", "value": phone, "use": "mobile"}]
        resource["managingOrganization"] = {
            "reference": f"Organization/{person.polyclinic.fhir_id}",
            "display": person.polyclinic.name,
        }
        resource["generalPractitioner"] = [
            {"reference": f"Practitioner/{person.gp.fhir_id}", "display": person.gp.name}
        ]
        tokens = [
            ("identifier", D.IIN_SYSTEM, person.iin),
            ("gender", "", resource["gender"]),
            ("address-state", "", person.region),
            ("organization", "", f"Organization/{person.polyclinic.fhir_id}"),
            ("general-practitioner", "", f"Practitioner/{person.gp.fhir_id}"),
        ]
        self.register.add("Patient", pid, pid, person.birth.isoformat(), resource, tokens)

    @staticmethod
    def _empty_sections(truth: Json) -> None:
        truth.update(
            {
                "ehrRegions": [],
                "inLis": False,
                "allergies": [],
                "lifestyle": None,
                "diagnosticStudies": [],
                "labResults": [],
                "labOrders": [],
                "physiologicalState": {"pregnancy": None, "bloodPressure": None, "heartRate": None},
                "riskBehaviours": None,
                "immunizations": [],
                "screenings": [],
                "problems": [],
                "ehrMedications": [],
                "prescriptions": [],
                "currentMedications": [],
                "anthropometrics": None,
                "bloodGroup": None,
                "implants": [],
                "encounters": [],
                "dispensations": [],
                "ambulanceCalls": [],
            }
        )

    # ---- clinical record ---------------------------------------------------------------------

    def _clinical(self, person: Person, forced: str | None, in_lis: bool) -> None:
        rng = self.rng
        truth = person.truth
        self._empty_sections(truth)
        truth["ehrRegions"] = list(person.regions)
        truth["inLis"] = in_lis
        for region in person.regions:
            sink = self.ehr[region]
            local = sink.new_id("pat-")
            person.local_ids[region] = local
            resource = self._patient_resource(local, person, truth["_names"], region)
            tokens = [
                ("identifier", D.IIN_SYSTEM, person.iin),
                ("gender", "", resource["gender"]),
                ("address-state", "", region),
            ]
            sink.add("Patient", local, local, person.birth.isoformat(), resource, tokens)
        person.z_height = max(-2.5, min(2.5, rng.gauss(0, 1)))
        person.z_bmi = max(-2.0, min(3.0, rng.gauss(0, 1)))
        if (
            not person.male
            and 18 <= person.age <= 45
            and (forced == "pregnant" or (forced is None and rng.random() < 0.05))
        ):
            # A whole number of weeks ahead, so every rounding of gestational age agrees.
            person.edd = self.today + timedelta(days=7 * rng.randint(1, 30))
        implant = None
        if forced == "implant":
            implant = rng.choice(("pacemaker", "valve"))
        person.chronic = self._chronic_conditions(person, implant)
        if "E10.9" in person.chronic and rng.random() < 0.5:
            implant = "pump"
        elif "I44.2" in person.chronic:
            implant = "pacemaker"
        elif "I35.0" in person.chronic:
            implant = "valve"
        self._allergies(person)
        if in_lis:
            self.lis.add("patient", (person.iin,))
        calls = self._ambulance_calls(person, forced == "ambulance")
        visits = self._plan_visits(person, calls)
        self._write_visits(person, visits, in_lis)
        self._chronic_records(person, implant)
        checkups = sorted(v.start for v in visits if v.cls == "AMB")
        self._observations(person, checkups)
        self._immunizations(person)
        self._screenings(person, forced == "overdueScreening")
        self._studies(person)
        if in_lis:
            self._routine_lab(person)
        self._finish_truth(person)

    def _chronic_conditions(self, person: Person, implant: str | None) -> list[str]:
        rng = self.rng
        age, male = person.age, person.male
        if person.edd is not None:  # pregnancy: only conditions compatible with its drugs
            chances = {"J45.9": 0.05, "E03.9": 0.06, "K29.5": 0.05}
        else:
            chances = {
                "I10": min(0.65, 0.03 + (age - 30) * 0.013) if age >= 30 else 0.0,
                "E11.9": min(0.22, 0.01 + (age - 35) * 0.005) if age >= 35 else 0.0,
                "E10.9": 0.004 if 8 <= age < 60 else 0.0,
                "E78.0": min(0.35, 0.05 + (age - 40) * 0.008) if age >= 40 else 0.0,
                "I25.1": min(0.35, (0.02 + (age - 50) * 0.008) * (1.4 if male else 1.0))
                if age >= 50
                else 0.0,
                "J45.9": 0.05 if age >= 3 else 0.0,
                "J44.9": (0.06 if male else 0.02) if age >= 45 else 0.0,
                "N18.3": 0.05 if age >= 55 else 0.0,
                "I48.9": 0.04 + (age - 60) * 0.003 if age >= 60 else 0.0,
                "I44.2": 0.006 if age >= 60 else 0.0,
                "I35.0": 0.003 if age >= 55 else 0.0,
                "E03.9": (0.01 if male else 0.05) if age >= 25 else 0.0,
                "K29.5": 0.06 if age >= 18 else 0.0,
            }
        chronic = [code for code, chance in chances.items() if rng.random() < chance]
        if "E10.9" in chronic and "E11.9" in chronic:
            chronic.remove("E11.9")
        if implant == "pacemaker" and "I44.2" not in chronic:
            chronic.append("I44.2")
        if implant == "valve" and "I35.0" not in chronic:
            chronic.append("I35.0")
        if person.edd is not None:
            chronic.append("Z34.9")
        return chronic

    def _allergies(self, person: Person) -> None:
        rng = self.rng
        if rng.random() >= 0.13:
            return
        count = 2 if rng.random() < 0.2 else 1
        for allergen in rng.sample(D.ALLERGENS, count):
            system, code, display, category, reactions, excluded = allergen
            person.excluded |= excluded
            earliest = max(person.birth + timedelta(days=180), self.today - timedelta(days=3650))
            day = self.day_between(earliest, self.yesterday)
            recorded = self.at(day)
            reaction = rng.choice(reactions)
            severe = reaction in ("анафилаксия", "отёк Квинке")
            criticality = (
                "high" if severe else ("unable-to-assess" if rng.random() < 0.1 else "low")
            )
            severity = "severe" if severe else rng.choice(("mild", "moderate"))
            body = {
                "clinicalStatus": concept(D.ALLERGY_CLINICAL, "active", "Active"),
                "verificationStatus": concept(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "confirmed",
                    "Confirmed",
                ),
                "category": [category],
                "criticality": criticality,
                "code": concept(system, code, display),
                "recordedDate": iso(recorded),
                "recorder": self.staff_ref(person.gp_at(day)),
                "reaction": [{"manifestation": [{"text": reaction}], "severity": severity}],
            }
            tokens = [
                ("clinical-status", D.ALLERGY_CLINICAL, "active"),
                ("code", system, code),
                ("category", "", category),
            ]
            _, region = self.emit(
                person, day, "AllergyIntolerance", body, tokens, iso(recorded), "patient"
            )
            person.truth["allergies"].append(
                {
                    "substance": coding(system, code, display),
                    "category": category,
                    "criticality": CRITICALITY[criticality],
                    "reactions": [reaction],
                    "clinicalStatus": "active",
                    "region": region,
                }
            )

    # ---- encounters ---------------------------------------------------------------------------

    def _plan_visits(self, person: Person, calls: list[Visit]) -> list[Visit]:
        """Outpatient, emergency and inpatient encounters of the last three years."""
        rng = self.rng
        age = person.age
        start = max(self.history_start, person.birth)
        visits: list[Visit] = list(calls)
        acute_pool = D.CHILD_ACUTE if age < 14 else D.ADULT_ACUTE
        # Routine check-ups and chronic follow-ups at the attached polyclinic.
        routine = rng.randint(3, 8) if age < 5 else rng.randint(0, 3)
        routine += sum(rng.randint(1, 3) for c in person.chronic if c != "Z34.9")
        check_code = (
            ("Z00.1", "Routine child health examination", "Профилактический осмотр ребёнка")
            if age < 18
            else ("Z00.0", "General medical examination", "Профилактический осмотр")
        )
        chronic = [c for c in person.chronic if c != "Z34.9"]
        for _ in range(routine):
            day = self.day_between(start, self.yesterday)
            if chronic and rng.random() < 0.7:
                condition = D.CHRONIC[rng.choice(chronic)]
                reason = (condition.code, condition.display, condition.name_ru)
            else:
                reason = check_code
            visits.append(self._outpatient(person, day, reason, specialist_for=reason[0]))
        # Most people saw their own GP this year; movers always did, in their new region.
        if rng.random() < 0.85 or not visits or person.moved_at is not None:
            first = self.today - timedelta(days=330)
            if person.moved_at is not None:
                first = max(first, person.moved_at)
            day = self.day_between(first, self.yesterday)
            visits.append(self._outpatient(person, day, check_code, own_gp=True))
        if person.moved_at is not None:  # a mover has history in the old region too
            day = self.day_between(
                person.moved_at - timedelta(days=400), person.moved_at - timedelta(days=1)
            )
            visits.append(self._outpatient(person, max(day, start), check_code))
        if person.edd is not None:
            conception = person.edd - timedelta(days=266)
            first = max(conception + timedelta(days=42), start)
            for _ in range(rng.randint(3, 6)):
                day = self.day_between(first, self.yesterday)
                reason = ("Z34.9", D.CHRONIC["Z34.9"].display, D.CHRONIC["Z34.9"].name_ru)
                visits.append(self._outpatient(person, day, reason, specialist="gynaecologist"))
        # Acute illnesses treated as outpatients (children more often).
        episodes = rng.randint(1, 4) if age < 14 else rng.choice((0, 0, 1, 1, 2))
        if age < 14 and rng.random() < 0.25:
            episodes += 1
            recent = True
        else:
            recent = False
        for k in range(episodes):
            if recent and k == episodes - 1:
                day = self.today - timedelta(days=rng.randint(1, 4))
            else:
                day = self.day_between(start, self.yesterday)
            acute = rng.choice(acute_pool)
            visit = self._outpatient(person, max(day, start), acute)
            visit.acute = True
            visits.append(visit)
        # Emergency department and hospital stays at a hospital, another organisation.
        if rng.random() < 0.05:
            day = self.day_between(start, self.yesterday)
            acute = rng.choice(D.ADULT_ACUTE if age >= 14 else D.CHILD_ACUTE)
            visits.append(self._hospital_visit(person, day, "EMER", acute))
        inpatient_chance = 0.04 + 0.03 * len(chronic) + (0.05 if age >= 70 else 0.0)
        if rng.random() < inpatient_chance:
            fitting = [a for a in D.INPATIENT_ACUTE if _fits_inpatient(a.code, age)]
            acute = rng.choice(fitting)
            day = self.day_between(start, self.yesterday)
            visits.append(self._hospital_visit(person, day, "IMP", acute))
        visits.sort(key=lambda v: v.start)
        return visits

    def _outpatient(
        self,
        person: Person,
        day: date,
        reason: tuple[str, str, str],
        own_gp: bool = False,
        specialist_for: str | None = None,
        specialist: str | None = None,
    ) -> Visit:
        rng = self.rng
        org = person.polyclinic_at(day)
        staff: Staff | None = person.gp_at(day)
        role = specialist
        if specialist_for in ("I10", "I25.1", "I48.9", "I44.2", "I35.0") and rng.random() < 0.3:
            role = "cardiologist"
        elif specialist_for in ("E11.9", "E10.9", "E03.9") and rng.random() < 0.4:
            role = "endocrinologist"
        if role and not own_gp:
            staff = rng.choice(self.directory.staff_of(org, role))
        if not own_gp and rng.random() < 0.08:
            staff = None  # participant not recorded
        start = self.at(day)
        end = start + timedelta(minutes=rng.randint(12, 40))
        return Visit(
            start, end, "AMB", org, staff, coding(D.ICD10, reason[0], reason[1]), reason[2]
        )

    def _hospital_visit(self, person: Person, day: date, cls: str, acute: D.Acute) -> Visit:
        rng = self.rng
        region = person.region_at(day)
        org = rng.choice(self.directory.orgs_of(region, "hospital"))
        role = (
            "emergency" if cls == "EMER" else ("surgeon" if acute.code in SURGERY else "therapist")
        )
        staff = rng.choice(self.directory.staff_of(org, role))
        start = self.at(day, 0, 24)
        if cls == "EMER":
            end: datetime | None = start + timedelta(minutes=rng.randint(60, 360))
        else:
            end = start + timedelta(days=rng.randint(3, 12), hours=rng.randint(0, 6))
        if end is not None and end.date() >= self.today:
            end = None  # still in hospital
        visit = Visit(
            start, end, cls, org, staff, coding(D.ICD10, acute.code, acute.display), acute.name_ru
        )
        return visit

    def _write_visits(self, person: Person, visits: list[Visit], in_lis: bool) -> None:
        rng = self.rng
        truth = person.truth
        for visit in visits:
            day = visit.start.date()
            period: Json = {"start": iso(visit.start)}
            if visit.end is not None:
                period["end"] = iso(visit.end)
            reason = visit.reason if rng.random() < 0.96 else None
            body: Json = {
                "status": "finished" if visit.end is not None else "in-progress",
                "class": {
                    "system": D.ACT_CODE,
                    "code": visit.cls,
                    "display": CLASS_DISPLAY[visit.cls],
                },
            }
            if visit.staff is not None:
                body["participant"] = [{"individual": self.staff_ref(visit.staff)}]
            body["period"] = period
            if reason is not None:
                body["reasonCode"] = [{"coding": [reason], "text": _ru(visit)}]
            body["serviceProvider"] = self.org_ref(visit.org)
            tokens = [("class", D.ACT_CODE, visit.cls), ("status", "", body["status"])]
            if reason is not None:
                tokens.append(("reason-code", D.ICD10, reason["code"]))
            eid, region = self.emit(person, day, "Encounter", body, tokens, period["start"])
            truth["encounters"].append(
                {
                    "kind": KIND_OF_CLASS[visit.cls],
                    "start": period["start"],
                    "end": period.get("end"),
                    "organization": {"bin": visit.org.bin},
                    "practitioner": {"id": visit.staff.pid} if visit.staff else None,
                    "diagnosis": reason,
                    "region": region,
                }
            )
            acute = visit.acute or visit.cls in ("IMP", "EMER")
            if acute and visit.reason is not None:
                self._episode(person, visit, eid, in_lis)

    def _episode(self, person: Person, visit: Visit, eid: str, in_lis: bool) -> None:
        """The diagnosis, treatment and tests of an acute episode."""
        rng = self.rng
        reason = visit.reason
        assert reason is not None
        day = visit.start.date()
        recorder = visit.staff or person.gp_at(day)
        ongoing = visit.end is None or (self.today - day).days <= 10
        status = "active" if ongoing else "resolved"
        self._condition(
            person,
            day,
            visit.start,
            reason,
            _ru(visit),
            status,
            "encounter-diagnosis",
            recorder,
            eid,
        )
        code = reason["code"]
        if visit.cls == "IMP" and code in SURGERY:
            self._condition(
                person,
                day,
                visit.start,
                reason,
                _ru(visit),
                "resolved",
                "problem-list-item",
                recorder,
                eid,
            )
            snomed, display = SURGERY[code]
            performed = visit.start + timedelta(hours=rng.randint(2, 20))
            body = {
                "status": "completed",
                "category": {"text": "surgical"},
                "code": concept(D.SNOMED, snomed, display),
                "performedDateTime": iso(performed),
                "performer": [{"actor": self.staff_ref(recorder)}],
                "outcome": {"text": "Без осложнений"},
            }
            tokens = [
                ("category", "", "surgical"),
                ("code", D.SNOMED, snomed),
                ("status", "", "completed"),
            ]
            self.emit(person, day, "Procedure", body, tokens, iso(performed))
        if visit.cls in ("IMP", "EMER"):
            study = {"J18.9": "xray-pneumonia", "K35.8": "us-abdomen", "K80.2": "us-abdomen"}.get(
                code, "ecg"
            )
            self._study(person, visit.start + timedelta(hours=1), study, visit.org)
            if in_lis:
                self._lab_order(
                    person,
                    visit.start + timedelta(minutes=40),
                    ("HGB", "WBC", "PLT", "CRP"),
                    acute=True,
                    lab=None,
                )
        self._episode_medication(person, visit, ongoing)

    def _episode_medication(self, person: Person, visit: Visit, ongoing: bool) -> None:
        rng = self.rng
        code = visit.reason["code"] if visit.reason else ""
        weight = self._body(person, visit.start.date())[0]
        child = person.age < 14
        if visit.cls == "IMP":
            if code == "N10":
                regimen = ("J01GB03", max(80.0, min(400.0, round(5 * weight / 40) * 40)), 1, 7)
            elif code == "J18.9" and ({"J45.9", "J44.9"} & set(person.chronic)):
                regimen = ("H02AB06", 30.0, 1, 5)
            elif code == "J18.9":
                regimen = _child_regimen("J01CR02", weight) if child else ("J01CR02", 875.0, 2, 7)
            elif child:
                return
            else:
                regimen = ("B01AB05", 40.0, 1, 7)
        elif code in ("J06.9", "A09.9", "M54.5") or rng.random() < 0.3:
            drug = "M01AE01" if (code == "M54.5" or rng.random() < 0.4) else "N02BE01"
            if drug in person.excluded:
                drug = "N02BE01"
            regimen = (
                _child_regimen(drug, weight)
                if child
                else ((drug, 400.0, 3, 5) if drug == "M01AE01" else (drug, 500.0, 3, 3))
            )
        else:
            options = [
                a for a in ("J01CA04", "J01CR02", "J01FA10", "J01DC02") if a not in person.excluded
            ]
            drug = rng.choice(options)
            regimen = (
                _child_regimen(drug, weight)
                if child
                else {
                    "J01CA04": ("J01CA04", 500.0, 3, 7),
                    "J01CR02": ("J01CR02", 875.0, 2, 7),
                    "J01FA10": ("J01FA10", 500.0, 1, 3),
                    "J01DC02": ("J01DC02", 500.0, 2, 7),
                }[drug]
            )
        atc, dose, times, days = regimen
        start = visit.start + timedelta(minutes=30)
        end = start + timedelta(days=days)
        active = ongoing and end.date() >= self.today
        self._medication_statement(
            person,
            start,
            atc,
            dose,
            times,
            "active" if active else "completed",
            visit.staff or person.gp_at(start.date()),
            end,
        )
        if visit.cls == "AMB" and rng.random() < 0.3:
            self._prescription(person, start.date(), atc, dose, times, days, "dispensed", "OSMS")

    # ---- problems and medicines ----------------------------------------------------------------

    def _condition(
        self,
        person: Person,
        day: date,
        onset: datetime,
        code: Json,
        text: str,
        status: str,
        category: str,
        recorder: Staff,
        encounter: str | None = None,
    ) -> None:
        rng = self.rng
        recorded = max(onset, datetime(day.year, day.month, day.day, 8)) + timedelta(
            minutes=rng.randint(5, 60)
        )
        if recorded.date() >= self.today:
            recorded = onset
        display = "Problem List Item" if category == "problem-list-item" else "Encounter Diagnosis"
        body: Json = {
            "clinicalStatus": concept(D.CONDITION_CLINICAL, status, status.capitalize()),
            "category": [concept(D.CONDITION_CATEGORY, category, display)],
            "code": {"coding": [code], "text": text or code["display"]},
        }
        if encounter is not None:
            body["encounter"] = {"reference": f"Encounter/{encounter}"}
        body["onsetDateTime"] = iso(onset)
        if status == "resolved":
            abatement = min(
                onset + timedelta(days=rng.randint(5, 20)), recorded + timedelta(days=30)
            )
            body["abatementDateTime"] = iso(max(abatement, recorded))
        body["recordedDate"] = iso(recorded)
        body["recorder"] = self.staff_ref(recorder)
        tokens = [
            ("code", D.ICD10, code["code"]),
            ("category", D.CONDITION_CATEGORY, category),
            ("clinical-status", D.CONDITION_CLINICAL, status),
        ]
        _, region = self.emit(person, recorded.date(), "Condition", body, tokens, iso(onset))
        if category == "problem-list-item":
            person.truth["problems"].append(
                {
                    "code": code,
                    "status": PROBLEM_STATUS[status],
                    "clinicalStatus": status,
                    "onset": onset.date().isoformat(),
                    "region": region,
                }
            )

    def _chronic_records(self, person: Person, implant: str | None) -> None:
        rng = self.rng
        seen_atc: set[str] = set()
        for code in person.chronic:
            condition = D.CHRONIC[code]
            if code == "Z34.9":
                onset_day = max(person.edd - timedelta(days=266 - 42), self.history_start)  # type: ignore[operator]
                onset_day = min(onset_day, self.yesterday)
            else:
                earliest = max(
                    person.birth + timedelta(days=365 * 3), self.today - timedelta(days=365 * 15)
                )
                onset_day = self.day_between(earliest, self.today - timedelta(days=90))
            status = "active"
            if code == "J45.9":
                status = rng.choices(("active", "remission", "relapse"), (70, 20, 10))[0]
            elif code == "K29.5":
                status = rng.choices(("active", "remission", "recurrence"), (50, 35, 15))[0]
            onset = self.at(onset_day)
            self._condition(
                person,
                onset_day,
                onset,
                coding(D.ICD10, code, condition.display),
                condition.name_ru,
                status,
                "problem-list-item",
                person.gp_at(onset_day),
            )
            since_day = min(onset_day + timedelta(days=rng.randint(0, 14)), self.yesterday)
            for group_index, group in enumerate(D.CHRONIC_REGIMENS.get(code, ())):
                if group_index > 0 and rng.random() >= (0.7 if code == "I25.1" else 0.5):
                    continue
                options = [
                    r for r in group if r.atc not in person.excluded and r.atc not in seen_atc
                ]
                if not options:
                    continue
                regimen = rng.choice(options)
                seen_atc.add(regimen.atc)
                self._maintenance(person, since_day, regimen)
        if implant is not None:
            snomed, display, text = IMPLANTS[implant]
            day = self.day_between(
                self.today - timedelta(days=365 * 8), self.today - timedelta(days=30)
            )
            body = {"status": "active", "type": concept(D.SNOMED, snomed, display, text)}
            tokens = [("type", D.SNOMED, snomed), ("status", "", "active")]
            self.emit(person, day, "Device", body, tokens, None, "patient")
            person.truth["implants"].append(coding(D.SNOMED, snomed, display))

    def _maintenance(self, person: Person, since_day: date, regimen: D.Regimen) -> None:
        """A long-term medicine: in the EHR, in DPS prescriptions, or in both."""
        rng = self.rng
        mode = rng.choices(("both", "ehr", "dps"), (60, 25, 15))[0]
        program = "GOBMP" if rng.random() < 0.7 else "OSMS"
        if mode in ("both", "ehr"):
            status = "on-hold" if rng.random() < 0.03 else "active"
            self._medication_statement(
                person,
                self.at(since_day),
                regimen.atc,
                regimen.dose,
                regimen.times_per_day,
                status,
                person.gp_at(since_day),
                None,
            )
            if status != "active":
                mode = "ehr"
        if mode in ("both", "dps"):
            first = max(since_day, self.today - timedelta(days=180))
            latest = self.today - timedelta(days=rng.randint(1, 28))
            issues = []
            day = latest
            while day >= first:
                issues.append(day)
                day -= timedelta(days=30 + rng.randint(-2, 3))
            for k, issue in enumerate(reversed(issues)):
                is_latest = k == len(issues) - 1
                if is_latest:
                    status = "active" if rng.random() < 0.7 else "dispensed"
                else:
                    status = rng.choices(("dispensed", "expired", "cancelled"), (85, 10, 5))[0]
                self._prescription(
                    person,
                    issue,
                    regimen.atc,
                    regimen.dose,
                    regimen.times_per_day,
                    30,
                    status,
                    program,
                )

    def _medication_statement(
        self,
        person: Person,
        start: datetime,
        atc: str,
        dose: float,
        times: int,
        status: str,
        source: Staff,
        end: datetime | None,
    ) -> None:
        drug = D.DRUGS[atc]
        unit = drug.unit
        period = {"start": iso(start)}
        if end is not None and status != "active":
            period["end"] = iso(end)
        body = {
            "status": status,
            "medicationCodeableConcept": concept(D.ATC, atc, drug.inn),
            "effectivePeriod": period,
            "informationSource": self.staff_ref(source),
            "dosage": [
                {
                    "text": f"по {fmt_number(dose)} {_unit_ru(unit)} {times} р/день",
                    "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
                    "route": {"text": drug.route},
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": dose,
                                "unit": unit,
                                "system": D.UCUM,
                                "code": UCUM_CODE.get(unit, unit),
                            }
                        }
                    ],
                }
            ],
        }
        tokens = [("status", "", status), ("code", D.ATC, atc)]
        _, region = self.emit(
            person, start.date(), "MedicationStatement", body, tokens, period["start"]
        )
        person.truth["ehrMedications"].append(
            {
                "code": coding(D.ATC, atc, drug.inn),
                "name": drug.inn,
                "dose": {"value": dose, "unit": unit},
                "timesPerDay": times,
                "route": drug.route,
                "since": start.date().isoformat(),
                "status": status,
                "region": region,
            }
        )

    def _prescription(
        self,
        person: Person,
        issue: date,
        atc: str,
        dose: float,
        times: int,
        days: int,
        status: str,
        program: str,
    ) -> None:
        rng = self.rng
        drug = D.DRUGS[atc]
        gp = person.gp_at(issue)
        issued = self.at(issue)
        rx_id = f"RX-{self.count('rx'):07d}"
        valid_until = (issue + timedelta(days=30)).isoformat()
        text = f"{fmt_number(dose)} {drug.unit} {TIMES_TEXT.get(times, f'{times} times daily')}"
        strength_unit = f"{drug.unit}/ml" if drug.form in ("suspension", "pen") else drug.unit
        self.dps.add(
            "prescription",
            (
                rx_id,
                person.iin,
                iso(issued),
                valid_until,
                status,
                atc,
                drug.inn,
                drug.trade,
                drug.form,
                drug.strength,
                strength_unit,
                dose,
                drug.unit,
                times,
                drug.route,
                days,
                text,
                gp.pid,
                gp.name,
                gp.org.bin,
                gp.org.name,
                program,
            ),
        )
        person.truth["prescriptions"].append(
            {
                "id": rx_id,
                "status": status,
                "atc": atc,
                "inn": drug.inn,
                "dose": {"value": dose, "unit": drug.unit},
                "timesPerDay": times,
                "route": drug.route,
                "issuedAt": iso(issued),
                "validUntil": valid_until,
                "program": program,
            }
        )
        if status != "dispensed":
            return
        day = min(issue + timedelta(days=rng.randint(0, 3)), self.yesterday)
        dispensed = self.at(day, 9, 21)
        if dispensed < issued:
            dispensed = issued + timedelta(minutes=rng.randint(20, 120))
        quantity = math.ceil(dose * times * days / (drug.strength * drug.units_per_pack) - 1e-9)
        price = Decimal(str(drug.price_kzt)).quantize(Decimal("0.01"))
        amount = price * quantity
        region = person.region_at(day)
        pharmacy = rng.choice(self.directory.orgs_of(region, "pharmacy"))
        dsp_id = f"DSP-{self.count('dsp'):07d}"
        self.dps.add(
            "dispensation",
            (
                dsp_id,
                person.iin,
                iso(dispensed),
                day.isoformat(),
                rx_id,
                atc,
                drug.inn,
                drug.trade,
                drug.form,
                drug.strength,
                strength_unit,
                quantity,
                str(price),
                str(amount),
                program,
                pharmacy.bin,
                pharmacy.name,
                region,
            ),
        )
        person.truth["dispensations"].append(
            {
                "id": dsp_id,
                "drug": coding(D.ATC, atc, drug.inn),
                "name": drug.inn,
                "quantity": quantity,
                "amountKzt": str(amount),
                "program": program,
                "dispensedAt": iso(dispensed),
                "pharmacy": {"bin": pharmacy.bin, "name": pharmacy.name, "region": region},
            }
        )

    # ---- observations ------------------------------------------------------------------------

    def _body(self, person: Person, day: date) -> tuple[float, float, float]:
        """(weight kg, height cm, BMI) on a day, from the person's growth percentiles."""
        years = max(0.0, (day - person.birth).days / 365.25)
        heights = HEIGHT[person.male]
        if years < 18:
            low = int(years)
            frac = years - low
            height = heights[low] + (heights[low + 1] - heights[low]) * frac
            bmi = CHILD_BMI[low] + (CHILD_BMI[low + 1] - CHILD_BMI[low]) * frac
            bmi *= 1 + 0.09 * person.z_bmi
            height *= 1 + 0.04 * person.z_height
        else:
            height = (heights[18] + 6.5 * person.z_height) - max(0.0, years - 60) * 0.12
            bmi = 21.5 + min(years - 18, 47) * 0.14 + 3.6 * person.z_bmi
            if "E11.9" in person.chronic:
                bmi += 3.0
        bmi = max(12.5, min(48.0, bmi))
        height = round(height, 1)
        weight = round(bmi * (height / 100) ** 2, 1)
        return weight, height, round(weight / (height / 100) ** 2, 1)

    def _observation(
        self,
        person: Person,
        moment: datetime,
        category: str,
        code: str,
        display: str,
        value: Json,
        performer: list[Json],
    ) -> str:
        body: Json = {
            "status": "final",
            "category": [concept(D.OBSERVATION_CATEGORY, category, category)],
            "code": concept(D.LOINC, code, display),
            "effectiveDateTime": iso(moment),
            "performer": performer,
        }
        body.update(value)
        tokens = [
            ("code", D.LOINC, code),
            ("category", D.OBSERVATION_CATEGORY, category),
            ("status", "", "final"),
        ]
        return self.emit(person, moment.date(), "Observation", body, tokens, iso(moment))[1]

    def _observations(self, person: Person, checkups: list[datetime]) -> None:
        rng = self.rng
        truth = person.truth
        if not checkups:
            checkups = [self.at(self.day_between(self.history_start, self.yesterday))]
        sets = [checkups[-1]]
        if len(checkups) > 1 and rng.random() < 0.5:
            sets.insert(0, checkups[0])
        hypertensive = "I10" in person.chronic
        for moment in sets:
            moment += timedelta(minutes=3)
            day = moment.date()
            performer = [self.staff_ref(person.gp_at(day)), self.org_ref(person.polyclinic_at(day))]
            weight, height, bmi = self._body(person, day)
            years = person.age - (self.today - day).days // 365
            q = _quantity
            self._observation(
                person, moment, "vital-signs", "29463-7", "Body weight", q(weight, "kg"), performer
            )
            self._observation(
                person, moment, "vital-signs", "8302-2", "Body height", q(height, "cm"), performer
            )
            self._observation(
                person,
                moment,
                "vital-signs",
                "39156-5",
                "Body mass index (BMI)",
                q(bmi, "kg/m2"),
                performer,
            )
            waist = None
            if years >= 18:
                base = (2.9 * bmi + 13) if person.male else (2.7 * bmi + 12)
                waist = float(round(base + rng.gauss(0, 3)))
                self._observation(
                    person,
                    moment,
                    "exam",
                    "8280-0",
                    "Waist circumference",
                    q(waist, "cm"),
                    performer,
                )
            bp = None
            if years >= 7:
                if years < 18:
                    systolic = round(rng.gauss(106, 8))
                elif hypertensive:
                    systolic = round(rng.gauss(142, 12))
                else:
                    systolic = round(rng.gauss(112 + 0.4 * (years - 18), 9))
                diastolic = round(systolic * 0.63 + rng.gauss(0, 5))
                bp = f"{systolic}/{diastolic}"
                body = {
                    "component": [
                        {
                            "code": concept(D.LOINC, "8480-6", "Systolic blood pressure"),
                            "valueQuantity": _quantity(systolic, "mm[Hg]")["valueQuantity"],
                        },
                        {
                            "code": concept(D.LOINC, "8462-4", "Diastolic blood pressure"),
                            "valueQuantity": _quantity(diastolic, "mm[Hg]")["valueQuantity"],
                        },
                    ]
                }
                self._observation(
                    person,
                    moment,
                    "vital-signs",
                    "85354-9",
                    "Blood pressure panel with all children optional",
                    body,
                    performer,
                )
            base_hr = (
                130
                if years < 1
                else 112
                if years < 3
                else 98
                if years < 7
                else 86
                if years < 13
                else 74
            )
            heart_rate = round(rng.gauss(base_hr, 7))
            self._observation(
                person,
                moment,
                "vital-signs",
                "8867-4",
                "Heart rate",
                q(heart_rate, "/min"),
                performer,
            )
            truth["anthropometrics"] = {
                "weightKg": weight,
                "heightCm": height,
                "bmi": bmi,
                "waistCm": waist,
                "measuredAt": iso(moment),
            }
            truth["physiologicalState"]["bloodPressure"] = bp
            truth["physiologicalState"]["heartRate"] = heart_rate
        latest = sets[-1] + timedelta(minutes=9)
        performer = [self.staff_ref(person.gp_at(latest.date()))]
        if rng.random() < 0.85:  # blood group, typed once, long ago
            earliest = max(person.birth + timedelta(days=1), self.today - timedelta(days=3650))
            typed = self.at(self.day_between(earliest, self.yesterday))
            lab_org = [self.org_ref(person.polyclinic_at(typed.date()))]
            group = rng.choices(ABO, (32, 30, 30, 8))[0]
            positive = rng.random() < 0.93
            self._observation(
                person,
                typed,
                "laboratory",
                "883-9",
                "ABO group [Type] in Blood",
                {"valueCodeableConcept": concept(D.SNOMED, group[1], group[2])},
                lab_org,
            )
            rh_code, rh_display = (
                ("165747007", "RhD positive") if positive else ("165746003", "RhD negative")
            )
            self._observation(
                person,
                typed,
                "laboratory",
                "10331-7",
                "Rh [Type] in Blood",
                {"valueCodeableConcept": concept(D.SNOMED, rh_code, rh_display)},
                lab_org,
            )
            truth["bloodGroup"] = f"{group[0]} Rh{'+' if positive else '-'}"
        if person.age >= 6 and rng.random() < 0.75:
            exercise = rng.choice((0, 30, 60, 90, 120, 150, 180, 240, 300, 420))
            sleep = round(min(11.0, max(4.5, rng.gauss(7.6 if person.age >= 18 else 9.0, 0.9))), 1)
            self._observation(
                person,
                latest,
                "social-history",
                "68516-4",
                "On those days that you engage in moderate to strenuous exercise",
                q(exercise, "min/wk"),
                performer,
            )
            self._observation(
                person,
                latest,
                "social-history",
                "93832-4",
                "Sleep duration",
                q(sleep, "h/d"),
                performer,
            )
            truth["lifestyle"] = {"exerciseMinutesPerWeek": exercise, "sleepHoursPerDay": sleep}
        if person.age >= 15 and rng.random() < 0.75:
            weights = (50, 15, 35) if person.male else (90, 4, 6)
            if person.edd is not None:
                weights = (95, 5, 0)
            smoking = rng.choices(SMOKING, weights)[0]
            audit = (
                0
                if person.edd is not None
                else min(12, max(0, round(rng.gauss(3.5 if person.male else 1.5, 2))))
            )
            drugs = rng.random() < 0.01
            self._observation(
                person,
                latest,
                "social-history",
                "72166-2",
                "Tobacco smoking status",
                {"valueCodeableConcept": concept(D.SNOMED, smoking[0], smoking[1])},
                performer,
            )
            self._observation(
                person,
                latest,
                "social-history",
                "75626-2",
                "Total score [AUDIT-C]",
                {"valueInteger": audit},
                performer,
            )
            drug_code = (
                ("228367002", "Uses drugs") if drugs else ("228366006", "Does not misuse drugs")
            )
            self._observation(
                person,
                latest,
                "social-history",
                "11343-1",
                "Other non-medical drug use",
                {"valueCodeableConcept": concept(D.SNOMED, *drug_code)},
                performer,
            )
            truth["riskBehaviours"] = {
                "smoking": smoking[2],
                "alcoholAuditC": audit,
                "drugUse": drugs,
            }
        if person.edd is not None:
            conception = person.edd - timedelta(days=266)
            first_visit = max(conception + timedelta(days=35), self.today - timedelta(days=28))
            moment = self.at(self.day_between(first_visit, self.yesterday))
            obs_by = [
                self.staff_ref(
                    rng.choice(self.directory.staff_of(person.polyclinic, "gynaecologist"))
                )
            ]
            self._observation(
                person,
                moment,
                "exam",
                "82810-3",
                "Pregnancy status",
                {"valueCodeableConcept": concept(D.SNOMED, "77386006", "Pregnant")},
                obs_by,
            )
            self._observation(
                person,
                moment,
                "exam",
                "11778-8",
                "Delivery date Estimated",
                {"valueDateTime": person.edd.isoformat()},
                obs_by,
            )
            weeks = (280 - (person.edd - self.today).days) // 7
            truth["physiologicalState"]["pregnancy"] = {
                "status": "PREGNANT",
                "expectedDeliveryDate": person.edd.isoformat(),
                "gestationalWeeks": weeks,
            }
        elif not person.male and 18 <= person.age <= 45 and rng.random() < 0.3:
            self._observation(
                person,
                latest,
                "exam",
                "82810-3",
                "Pregnancy status",
                {"valueCodeableConcept": concept(D.SNOMED, "60001007", "Not pregnant")},
                performer,
            )
            truth["physiologicalState"]["pregnancy"] = {
                "status": "NOT_PREGNANT",
                "expectedDeliveryDate": None,
                "gestationalWeeks": None,
            }

    # ---- immunisations, screenings, studies -----------------------------------------------------

    def _immunization(self, person: Person, day: date, vaccine: str, dose: int, org: Org) -> None:
        rng = self.rng
        moment = self.at(day, 9, 17)
        display = D.VACCINE_DISPLAY[vaccine]
        body = {
            "status": "completed",
            "vaccineCode": concept(D.VACCINE, vaccine, display),
            "occurrenceDateTime": iso(moment),
            "lotNumber": f"{rng.choice('ABCDEFGHKLMNPRST')}{rng.randint(1000, 99999)}",
            "performer": [{"actor": self.org_ref(org)}],
            "protocolApplied": [{"doseNumberPositiveInt": dose}],
        }
        tokens = [("status", "", "completed"), ("vaccine-code", D.VACCINE, vaccine)]
        _, region = self.emit(person, day, "Immunization", body, tokens, iso(moment), "patient")
        person.truth["immunizations"].append(
            {
                "vaccine": coding(D.VACCINE, vaccine, display),
                "date": day.isoformat(),
                "doseNumber": dose,
                "region": region,
            }
        )

    def _immunizations(self, person: Person) -> None:
        rng = self.rng
        birth = person.birth
        if person.age <= 17:
            for vaccine, _, dose, days in D.CHILD_CALENDAR:
                day = birth + timedelta(days=days + (rng.randint(0, 20) if days > 7 else 0))
                if day > self.yesterday or rng.random() < 0.03:
                    continue
                region = person.region_at(day)
                org = (
                    rng.choice(self.directory.orgs_of(region, "hospital"))
                    if days <= 2
                    else person.polyclinic_at(day)
                )
                self._immunization(person, day, vaccine, dose, org)
            if not person.male and person.age >= 11:
                day = years_before(birth, -11) + timedelta(days=rng.randint(0, 90))
                if day <= self.yesterday and rng.random() < 0.8:
                    self._immunization(person, day, "HPV", 1, person.polyclinic_at(day))
        if person.age >= 16 and rng.random() < 0.7:
            for dose, at_age in enumerate(range(16, person.age + 1, 10), start=1):
                day = years_before(birth, -at_age) + timedelta(days=rng.randint(0, 120))
                if self.today - timedelta(days=365 * 20) <= day <= self.yesterday:
                    self._immunization(person, day, "Td", dose, person.polyclinic_at(day))
        at_risk = (
            person.age >= 65 or person.edd is not None or bool(person.chronic) or person.age < 5
        )
        if at_risk and (self.today - birth).days > 180:
            for year in (self.today.year - 2, self.today.year - 1, self.today.year):
                season = date(year, 10, 1)
                if season > self.yesterday - timedelta(days=7) or season < birth + timedelta(
                    days=180
                ):
                    continue
                if rng.random() < 0.55:
                    day = self.day_between(season, min(date(year, 11, 30), self.yesterday))
                    self._immunization(person, day, "Flu", 1, person.polyclinic_at(day))

    def _screenings(self, person: Person, force_overdue: bool) -> None:
        rng = self.rng
        eligible = [
            s
            for s in D.SCREENINGS
            if s.min_age <= person.age <= s.max_age
            and (s.sex is None or (s.sex == "male") == person.male)
        ]
        if not eligible:
            return
        overdue_pick = rng.choice(eligible) if force_overdue else None
        for screening in eligible:
            roll = rng.random()
            years_ago = rng.randint(OVERDUE_YEARS + 1, OVERDUE_YEARS + 2)
            overdue_ok = person.age - years_ago >= screening.min_age - 1
            if screening is overdue_pick or (roll < 0.2 and overdue_ok):
                day = self.day_between(
                    years_before(self.today, years_ago),
                    years_before(self.today, years_ago) + timedelta(days=200),
                )
            elif roll < 0.85:
                day = self.day_between(self.today - timedelta(days=330), self.yesterday)
            else:
                continue  # never screened
            day = min(day, self.yesterday)
            moment = self.at(day)
            outcome = rng.choices(D.SCREENING_OUTCOMES, (50, 35, 15))[0]
            body = {
                "status": "completed",
                "category": {"text": "screening"},
                "code": concept(D.SNOMED, screening.code, screening.display),
                "performedDateTime": iso(moment),
                "performer": [{"actor": self.org_ref(person.polyclinic_at(day))}],
                "outcome": {"text": outcome},
            }
            tokens = [
                ("category", "", "screening"),
                ("code", D.SNOMED, screening.code),
                ("status", "", "completed"),
            ]
            _, region = self.emit(person, day, "Procedure", body, tokens, iso(moment))
            person.truth["screenings"].append(
                {
                    "code": coding(D.SNOMED, screening.code, screening.display),
                    "date": day.isoformat(),
                    "outcome": outcome,
                    "region": region,
                }
            )

    def _study(self, person: Person, moment: datetime, key: str, org: Org) -> None:
        rng = self.rng
        loinc, display, category, conclusions = D.STUDIES[key]
        conclusion = rng.choice(conclusions)
        body = {
            "status": "final",
            "category": [concept(D.DIAGNOSTIC_SERVICE, category, category)],
            "code": concept(D.LOINC, loinc, display),
            "effectiveDateTime": iso(moment),
            "issued": iso(moment + timedelta(minutes=rng.randint(20, 180))),
            "performer": [self.org_ref(org)],
            "conclusion": conclusion,
        }
        tokens = [
            ("category", D.DIAGNOSTIC_SERVICE, category),
            ("code", D.LOINC, loinc),
            ("status", "", "final"),
        ]
        _, region = self.emit(person, moment.date(), "DiagnosticReport", body, tokens, iso(moment))
        person.truth["diagnosticStudies"].append(
            {
                "code": coding(D.LOINC, loinc, display),
                "category": category,
                "date": iso(moment),
                "conclusion": conclusion,
                "region": region,
            }
        )

    def _studies(self, person: Person) -> None:
        rng = self.rng
        chronic = set(person.chronic)
        start = max(self.history_start, person.birth)

        def planned(key: str) -> None:
            day = self.day_between(start, self.yesterday)
            self._study(person, self.at(day), key, person.polyclinic_at(day))

        if chronic & {"I10", "I25.1", "I48.9", "I44.2", "I35.0"} or (
            person.age >= 40 and rng.random() < 0.25
        ):
            key = "ecg-af" if "I48.9" in chronic else "ecg-pacer" if "I44.2" in chronic else "ecg"
            planned(key)
        if person.age >= 18 and rng.random() < 0.5:
            planned("xray")
        if person.age >= 18 and rng.random() < (0.5 if "K29.5" in chronic else 0.08):
            planned("us-abdomen")
        if chronic & {"I25.1", "I35.0"} and rng.random() < 0.6:
            planned("us-heart")
        if person.edd is not None:
            day = max(person.edd - timedelta(days=266 - 70), self.today - timedelta(days=60))
            day = min(day, self.yesterday)
            self._study(person, self.at(day), "us-pregnancy", person.polyclinic_at(day))

    # ---- laboratory ------------------------------------------------------------------------------

    def _routine_lab(self, person: Person) -> None:
        rng = self.rng
        start = max(self.history_start, person.birth + timedelta(days=30))
        chronic = set(person.chronic)
        for _ in range(rng.randint(1, 3)):
            tests = ["HGB", "WBC", "PLT", "ESR"]
            if person.age >= 18:
                tests.append("GLU")
            if person.age >= 40 or chronic & {"E78.0", "I25.1"}:
                tests.append("CHOL")
            if person.age >= 50 or chronic & {"I10", "E11.9", "N18.3"}:
                tests.append("CREA")
            if rng.random() < 0.3:
                tests.append("CRP")
            if person.age >= 18 and rng.random() < 0.1:
                tests.append("HBSAG")
            self._lab_order(person, self.at(self.day_between(start, self.yesterday), 8, 12), tests)
        if chronic & {"E11.9", "E10.9"}:
            day = self.today - timedelta(days=rng.randint(5, 100))
            while day >= start:
                self._lab_order(person, self.at(day, 8, 11), ("GLU", "HBA1C"))
                day -= timedelta(days=rng.randint(90, 180))
        if "E03.9" in chronic:
            self._lab_order(
                person, self.at(self.day_between(start, self.yesterday), 8, 11), ("TSH",)
            )
        if person.edd is not None:
            booking = max(person.edd - timedelta(days=266 - 56), start)
            self._lab_order(
                person,
                self.at(min(booking, self.yesterday), 8, 11),
                ("HGB", "WBC", "PLT", "GLU", "HBSAG"),
            )
        if rng.random() < 0.06:  # an order still waiting for the lab
            self._lab_order(
                person,
                self.at(self.today - timedelta(days=rng.randint(1, 2)), 8, 12),
                ("HGB", "WBC", "PLT"),
                pending=True,
            )

    def _lab_order(
        self,
        person: Person,
        ordered: datetime,
        tests: tuple[str, ...] | list[str],
        acute: bool = False,
        lab: Org | None = None,
        pending: bool = False,
    ) -> None:
        rng = self.rng
        if ordered.date() >= self.today:
            ordered = ordered - timedelta(days=1)
        region = person.region_at(ordered.date())
        lab = lab or self.directory.orgs_of(region, "laboratory")[0]
        order_no = f"LIS-{ordered.year}-{self.count('lis'):07d}"
        if pending:
            status = rng.choice(("NEW", "IN_WORK"))
        else:
            status = "CANCELLED" if rng.random() < 0.05 else "DONE"
        doctor = person.gp_at(ordered.date()) if rng.random() < 0.85 else None
        self.lis.add(
            "lab_order",
            (
                order_no,
                person.iin,
                ordered.isoformat(timespec="minutes"),
                status,
                lab.bin,
                lab.name,
                doctor.pid if doctor else None,
                doctor.fio if doctor else None,
            ),
        )
        person.truth["labOrders"].append(
            {"orderNumber": order_no, "status": status, "orderedAt": iso(ordered)}
        )
        if status != "DONE":
            return
        validated = ordered + timedelta(minutes=rng.randint(90, 480))
        for seq, test in enumerate(tests, start=1):
            loinc, name, unit, ref = D.LAB_TESTS[test]
            value, ref = self._lab_value(person, test, ref, acute)
            if test == "HBSAG" and rng.random() < 0.5:
                loinc = None  # some analysers report the local code only
            flag = _flag(value, ref) if rng.random() >= 0.03 else None
            self.lis.add(
                "lab_result",
                (
                    order_no,
                    seq,
                    test,
                    loinc,
                    name,
                    value,
                    unit,
                    ref,
                    flag,
                    validated.isoformat(timespec="minutes"),
                ),
            )
            person.truth["labResults"].append(
                {
                    "test": {"testCode": test, "loinc": loinc, "testName": name},
                    "value": value,
                    "numericValue": _numeric(value),
                    "unit": unit,
                    "referenceRange": ref,
                    "flag": FLAG_NAMES[flag],
                    "resultedAt": iso(validated),
                    "orderNumber": order_no,
                    "orderedAt": iso(ordered),
                    "labBin": lab.bin,
                }
            )

    def _lab_value(self, person: Person, test: str, ref: str, acute: bool) -> tuple[str, str]:
        g = self.rng.gauss
        chronic = person.chronic
        child = person.age < 14
        diabetic = "E11.9" in chronic or "E10.9" in chronic
        if test == "GLU":
            return f"{_clamp(g(8.3, 2.0) if diabetic else g(5.1, 0.6), 3.0, 19.0):.1f}", ref
        if test == "HBA1C":
            return f"{_clamp(g(7.7, 1.2) if diabetic else g(5.3, 0.4), 4.2, 13.0):.1f}", ref
        if test == "HGB":
            if child:
                ref, mean = "110-140", 124
            elif person.male:
                ref, mean = "130-170", 148
            else:
                ref, mean = "120-150", 118 if person.edd else 131
            return str(round(_clamp(g(mean, 12), 70, 190))), ref
        if test == "WBC":
            return f"{_clamp(g(12.5, 3.5) if acute else g(6.4, 1.7), 2.1, 28.0):.1f}", ref
        if test == "PLT":
            return str(round(_clamp(g(255, 60), 80, 620))), ref
        if test == "ESR":
            return str(
                round(_clamp(g(10 if person.male else 13, 6) + (18 if acute else 0), 2, 70))
            ), ref
        if test == "CHOL":
            high = "E78.0" in chronic or "I25.1" in chronic
            return f"{_clamp(g(5.9, 1.0) if high else g(4.8, 0.8), 2.6, 9.5):.1f}", ref
        if test == "CREA":
            if child:
                ref, mean = "27-62", 45
            elif person.male:
                ref, mean = "62-106", 88
            else:
                ref, mean = "44-80", 68
            if "N18.3" in chronic:
                mean = 160
            return str(round(_clamp(g(mean, 13), 20, 600))), ref
        if test == "CRP":
            if acute:
                return f"{_clamp(g(38, 25), 6.0, 220):.1f}", ref
            level = self.rng.expovariate(1 / 1.6)
            return ("<0.1" if level < 0.1 else f"{min(level, 4.9):.1f}"), ref
        if test == "TSH":
            return (
                f"{_clamp(g(3.4, 2.0) if 'E03.9' in chronic else g(2.0, 0.8), 0.1, 14.0):.2f}",
                ref,
            )
        positive = self.rng.random() < 0.03
        return ("positive" if positive else "negative"), ref

    # ---- ambulance ---------------------------------------------------------------------------

    def _ambulance_calls(self, person: Person, forced: bool) -> list[Visit]:
        """The person's 103 calls; a hospitalisation also becomes a hospital stay in the EHR."""
        rng = self.rng
        chance = 0.03 + 0.02 * len(person.chronic) + (0.05 if person.age >= 75 else 0.0)
        if not forced and rng.random() >= chance:
            return []
        stays: list[Visit] = []
        start = max(self.history_start, person.birth)
        reasons = [
            r
            for r in D.AMBULANCE_REASONS
            if r[3] <= person.age and (r[4] is None or r[4] in person.chronic)
        ]
        for _ in range(rng.randint(1, 3) if forced else rng.randint(1, 2)):
            day = self.day_between(start, self.yesterday)
            received = self.at(day, 0, 24)
            region = person.region_at(day)
            abbr = D.REGION_ABBR[region]
            call_id = f"103-{abbr}-{received.year}-{self.count(f'103-{abbr}-{received.year}'):06d}"
            station = rng.choice(self.directory.orgs_of(region, "ambulance-station"))
            paramedic = rng.choice(self.directory.staff_of(station, "paramedic"))
            complaint, icd, diagnosis, _, _ = rng.choice(reasons)
            roll = rng.random()
            if roll < 0.04:
                outcome: str | None = "FALSE_CALL"
            elif roll < 0.12:
                outcome = "REFUSED"
            elif icd in ("I21.0", "I63.9", "K35.8") or roll < 0.3:
                outcome = "HOSPITALIZED"
            else:
                outcome = "TREATED_ON_SITE"
            if outcome == "FALSE_CALL":
                icd_code: str | None = None
                diagnosis_text: str | None = None
            else:
                icd_code, diagnosis_text = icd, diagnosis
            arrived = (
                received + timedelta(minutes=rng.randint(7, 45)) if rng.random() < 0.95 else None
            )
            vitals_known = outcome != "FALSE_CALL" and rng.random() < 0.9
            systolic = round(rng.gauss(165 if icd in ("I10", "I63.9") else 128, 15))
            bp = f"{systolic}/{round(systolic * 0.62)}" if vitals_known else None
            hr = round(rng.gauss(92, 14)) if vitals_known else None
            spo2 = (
                min(100, round(rng.gauss(95, 2.5))) if vitals_known and rng.random() < 0.9 else None
            )
            glucose = (
                round(_clamp(rng.gauss(14 if icd == "E11.9" else 6.0, 2), 2.5, 30), 1)
                if vitals_known and (icd == "E11.9" or rng.random() < 0.3)
                else None
            )
            hospital = (
                rng.choice(self.directory.orgs_of(region, "hospital"))
                if outcome == "HOSPITALIZED"
                else None
            )
            if rng.random() < 0.03:
                outcome, hospital = None, None  # outcome not recorded
            station_known = rng.random() >= 0.03
            paramedic_known = rng.random() >= 0.08
            self.ambulance.add(
                "call",
                (
                    call_id,
                    person.iin,
                    iso(received),
                    day.isoformat(),
                    iso(arrived) if arrived else None,
                    region,
                    station.code if station_known else None,
                    station.bin if station_known else None,
                    station.name if station_known else None,
                    paramedic.pid if paramedic_known else None,
                    paramedic.fio if paramedic_known else None,
                    complaint if rng.random() < 0.97 else None,
                    icd_code,
                    diagnosis_text,
                    bp,
                    hr,
                    spo2,
                    glucose,
                    outcome,
                    hospital.bin if hospital else None,
                    hospital.name if hospital else None,
                ),
            )
            person.truth["ambulanceCalls"].append(
                {
                    "id": call_id,
                    "received": iso(received),
                    "region": region,
                    "diagnosisIcd10": icd_code,
                    "outcome": outcome,
                    "stationCode": station.code if station_known else None,
                }
            )
            person.truth["encounters"].append(
                {
                    "kind": "AMBULANCE",
                    "start": iso(received),
                    "end": None,
                    "organization": {"bin": station.bin} if station_known else None,
                    "practitioner": {"id": paramedic.pid} if paramedic_known else None,
                    "diagnosis": coding(D.ICD10, icd_code, diagnosis_text) if icd_code else None,
                    "region": region,
                }
            )
            if hospital is not None and icd_code is not None:
                admitted = received + timedelta(minutes=rng.randint(40, 90))
                end: datetime | None = admitted + timedelta(days=rng.randint(2, 10))
                if end is not None and end.date() >= self.today:
                    end = None
                staff = rng.choice(
                    self.directory.staff_of(
                        hospital, "surgeon" if icd_code == "K35.8" else "therapist"
                    )
                )
                stays.append(
                    Visit(
                        admitted,
                        end,
                        "IMP",
                        hospital,
                        staff,
                        coding(D.ICD10, icd_code, diagnosis_text),
                        diagnosis_text,
                    )
                )
        return stays

    # ---- ground truth ------------------------------------------------------------------------

    def _finish_truth(self, person: Person) -> None:
        truth = person.truth
        current: dict[str, Json] = {}
        for med in truth["ehrMedications"]:
            if med["status"] == "active" and med["code"]["code"] not in current:
                current[med["code"]["code"]] = {
                    k: med[k] for k in ("code", "name", "dose", "timesPerDay", "route", "since")
                }
        for rx in truth["prescriptions"]:
            if rx["status"] == "active" and rx["atc"] not in current:
                current[rx["atc"]] = {
                    "code": coding(D.ATC, rx["atc"], rx["inn"]),
                    "name": rx["inn"],
                    "dose": rx["dose"],
                    "timesPerDay": rx["timesPerDay"],
                    "route": rx["route"],
                    "since": rx["issuedAt"][:10],
                }
        truth["currentMedications"] = list(current.values())
        truth["encounters"].sort(key=lambda e: e["start"])
        truth["problems"].sort(key=lambda p: p["onset"])
        truth["immunizations"].sort(key=lambda i: (i["date"], i["vaccine"]["code"]))
        truth["screenings"].sort(key=lambda s: s["date"])
        truth["diagnosticStudies"].sort(key=lambda s: s["date"])
        truth["ehrMedications"].sort(key=lambda m: m["since"])
        truth["labResults"].sort(key=lambda r: (r["orderedAt"], r["orderNumber"]))
        truth["labOrders"].sort(key=lambda r: (r["orderedAt"], r["orderNumber"]))
        truth["prescriptions"].sort(key=lambda r: (r["issuedAt"], r["id"]))
        truth["dispensations"].sort(key=lambda r: (r["dispensedAt"], r["id"]))
        truth["ambulanceCalls"].sort(key=lambda r: r["received"])

    def _close_person(self, iin: str, truth: Json) -> None:
        """Note the person's edge cases and stream their ground truth out (memory stays flat)."""
        cases = self.cases
        overdue_before = years_before(self.today, OVERDUE_YEARS).isoformat()
        identity = truth["identity"]
        second_pass = truth.pop("_secondPass")
        truth.pop("_names", None)
        if len(truth["ehrRegions"]) == 2:
            cases["twoRegions"].append(iin)
        if not truth["ehrRegions"]:
            cases["registerOnly"].append(iin)
        elif not truth["inLis"]:
            cases["noLabHistory"].append(iin)
        pregnancy = truth["physiologicalState"]["pregnancy"]
        if pregnancy and pregnancy["status"] == "PREGNANT":
            cases["pregnant"].append(iin)
        if identity["age"] < 5:
            cases["child"].append(iin)
        if identity["age"] >= 90:
            cases["veryOld"].append(iin)
        if second_pass:
            cases["secondPassIin"].append(iin)
        if D.KAZAKH_LETTERS & set(identity["fullName"]):
            cases["kazakhLetters"].append(iin)
        if truth["ambulanceCalls"]:
            cases["ambulance"].append(iin)
        if truth["implants"]:
            cases["implant"].append(iin)
        latest: dict[str, str] = {}
        for screening in truth["screenings"]:
            code = screening["code"]["code"]
            latest[code] = max(latest.get(code, ""), screening["date"])
        if any(day < overdue_before for day in latest.values()):
            cases["overdueScreening"].append(iin)
        if self.people_written:
            self.people_out.write(b",")
        self.people_out.write(orjson.dumps(iin) + b":" + orjson.dumps(truth))
        self.people_written += 1


def directory_truth(directory: Directory) -> tuple[list[Json], list[Json]]:
    """The ground truth's organizations and practitioners."""
    organizations = [
        {"bin": o.bin, "name": o.name, "type": o.type, "region": o.region, "fhirId": o.fhir_id}
        for o in directory.orgs
    ]
    practitioners = [
        {
            "id": s.pid,
            "name": s.name,
            "qualification": s.qualification,
            "orgBin": s.org.bin,
            "fhirId": s.fhir_id,
        }
        for s in directory.staff
    ]
    return organizations, practitioners


def _accumulate(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _fits_inpatient(code: str, age: int) -> bool:
    minimum = {"S72.0": 65, "I63.9": 50, "K80.2": 30, "N10": 15, "K35.8": 5}.get(code, 0)
    return age >= minimum


def _child_regimen(atc: str, weight: float) -> tuple[str, float, int, int]:
    """A weight-based children's course, rounded as a paediatrician would."""
    for course_atc, mg_per_kg, times, days in D.CHILD_COURSES:
        if course_atc == atc:
            dose = mg_per_kg * weight
            dose = float(round(dose / 5) * 5) if dose >= 20 else float(round(dose))
            return atc, max(dose, 1.0), times, days
    raise KeyError(atc)


def _quantity(value: float, unit: str) -> Json:
    return {"valueQuantity": {"value": value, "unit": unit, "system": D.UCUM, "code": unit}}


def _ru(visit: Visit) -> str:
    if visit.reason_text:
        return visit.reason_text
    return visit.reason["display"] if visit.reason else ""


def _unit_ru(unit: str) -> str:
    return {"mg": "мг", "ug": "мкг", "IU": "ЕД"}.get(unit, unit)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _numeric(value: str) -> float | None:
    """The number in a lab value when it is a plain number ('5.4'), else None ('<0.1', words)."""
    try:
        return float(value)
    except ValueError:
        return None


def _flag(value: str, ref: str) -> str:
    """N / L / H against a 'low-high' range; A for a word differing from the expected word."""
    if "-" not in ref:
        return "N" if value == ref else "A"
    number = _numeric(value)
    if number is None:
        return "N"  # a bound below the detection limit is normal here
    low, high = (float(x) for x in ref.split("-"))
    return "L" if number < low else "H" if number > high else "N"


def today_in_almaty() -> date:
    """The current calendar day in Kazakhstan (UTC+05:00)."""
    return datetime.now(ALMATY).date()


def generate_shard(shard_dir: Path, size: int, seed: int, today: date, shard: int) -> None:
    """Generate one shard's people into scratch databases and ground-truth fragments."""
    # Nothing generated here forms reference cycles; the collector would only rescan the heap.
    collecting = gc.isenabled()
    gc.disable()
    try:
        population = Population(shard_dir, size, seed, today, shard, SHARDS)
        cases = population.run()
        population.close()
    finally:
        if collecting:
            gc.enable()
    (shard_dir / "cases.json").write_bytes(orjson.dumps(cases))


def generate(data_dir: Path, size: int = 300, seed: int = 7, today: date | None = None) -> Path:
    """Write every system's database and ground_truth.json; returns the ground truth's path."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    today = today or today_in_almaty()
    scratch = data_dir / ".shards"
    shutil.rmtree(scratch, ignore_errors=True)
    shard_dirs = [scratch / str(k) for k in range(SHARDS)]
    for shard_dir in shard_dirs:
        shard_dir.mkdir(parents=True)
    if size < IN_PROCESS_BELOW:
        for k, shard_dir in enumerate(shard_dirs):
            generate_shard(shard_dir, size, seed, today, k)
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=SHARDS, mp_context=context) as pool:
            jobs = [
                pool.submit(generate_shard, shard_dir, size, seed, today, k)
                for k, shard_dir in enumerate(shard_dirs)
            ]
            for job in jobs:
                job.result()
    with ThreadPoolExecutor(max_workers=SHARDS) as pool:  # sqlite releases the GIL
        merges = [pool.submit(merge_shards, data_dir, shard_dirs, system) for system in DATABASES]
        truth_path = write_truth(data_dir, shard_dirs, size, seed, today)
        for merge in merges:
            merge.result()
    shutil.rmtree(scratch)
    return truth_path


def write_truth(data_dir: Path, shard_dirs: list[Path], size: int, seed: int, today: date) -> Path:
    """Assemble ground_truth.json from the shards' fragments, without parsing them again."""
    organizations, practitioners = directory_truth(Directory(random.Random(seed), size, today))
    cases: dict[str, list[str]] = {name: [] for name in EDGE_CASES}
    for shard_dir in shard_dirs:
        for name, iins in orjson.loads((shard_dir / "cases.json").read_bytes()).items():
            cases[name].extend(iins)
    head = orjson.dumps(
        {
            "seed": seed,
            "size": size,
            "today": today.isoformat(),
            "organizations": organizations,
            "practitioners": practitioners,
        }
    )
    truth_path = data_dir / "ground_truth.json"
    with truth_path.open("wb") as out:
        out.write(head[:-1])
        out.write(b',"people":{')
        separator = b""
        for shard_dir in shard_dirs:  # each holds '"iin":{...},"iin":{...}' members
            people = shard_dir / "people.json"
            if people.stat().st_size:
                out.write(separator)
                with people.open("rb") as members:
                    shutil.copyfileobj(members, out, 1 << 20)
                separator = b","
        out.write(b'},"edgeCases":')
        out.write(orjson.dumps(cases))
        out.write(b"}")
    return truth_path


def main(argv: list[str] | None = None) -> int:
    """CLI: generate a population into a data directory."""
    parser = argparse.ArgumentParser(prog="emulators generate", description=main.__doc__)
    parser.add_argument("--population", type=int, default=300, help="number of people")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the day the population is generated for (YYYY-MM-DD)",
    )
    args = parser.parse_args(argv)
    if args.population < 1:
        parser.error("--population must be at least 1")
    began = time.perf_counter()
    truth_path = generate(args.data_dir, size=args.population, seed=args.seed, today=args.today)
    elapsed = time.perf_counter() - began
    names = ", ".join(
        database_path(args.data_dir, s).name for s in ("register", "lis", "dps", "ambulance")
    )
    print(
        f"generated {args.population} people (seed {args.seed}) in {elapsed:.1f}s: "
        f"{names}, ehr-*.sqlite, {truth_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
