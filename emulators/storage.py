"""The SQLite layout each emulator answers from; the population generator writes it.

One database file per system instance, in a data directory:
``register.sqlite``, ``ehr-astana.sqlite``, ``ehr-almaty.sqlite``, ``ehr-shymkent.sqlite``,
``lis.sqlite``, ``dps.sqlite``, ``ambulance.sqlite``, plus ``ground_truth.json``.

The FHIR servers keep whole resources as JSON with the columns their searches need
beside them, so every search is answered with SQL over indexes, never by loading all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

REGIONS: tuple[str, ...] = ("astana", "almaty", "shymkent")
# Whole resources live in WITHOUT ROWID B-trees, whose cells keep about an eighth of a page
# inline: 8 KiB pages hold a register Patient with its contacts (up to ~1.5 KB) without an
# overflow page each (4 KiB pages tripled the register's file).
PAGE_SIZE = 8192

FHIR_DDL = """
-- One row per FHIR resource. patient_id is the local Patient id the resource belongs to
-- (for a Patient: its own id; NULL for Organization / Practitioner). date is the value the
-- `date` / `birthdate` search parameter and `_sort=-date` use, as an ISO 8601 string.
CREATE TABLE resource (
    type        TEXT NOT NULL,
    id          TEXT NOT NULL,
    patient_id  TEXT,
    date        TEXT,
    json        TEXT NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX resource_patient ON resource (type, patient_id, date);

-- Token and reference search values. param is the FHIR search parameter name
-- (identifier, code, category, clinical-status, status, class, gender, address-state,
-- organization, general-practitioner). For references system is '' and code is
-- 'Organization/{id}'. For code-like params system is the code system URI.
CREATE TABLE token (
    type    TEXT NOT NULL,
    id      TEXT NOT NULL,
    param   TEXT NOT NULL,
    system  TEXT NOT NULL DEFAULT '',
    code    TEXT NOT NULL
);
CREATE INDEX token_lookup ON token (type, param, code, system);
CREATE INDEX token_owner ON token (type, id);
"""

LIS_DDL = """
-- People the laboratory knows (a person absent here gets 404 PATIENT_NOT_FOUND).
CREATE TABLE patient (iin TEXT PRIMARY KEY) WITHOUT ROWID;
-- ordered_at / validated_at are ISO 8601 local times 'YYYY-MM-DDTHH:MM' (Asia/Almaty);
-- the API formats them as dd.MM.yyyy HH:mm.
CREATE TABLE lab_order (
    order_no    TEXT PRIMARY KEY,
    iin         TEXT NOT NULL,
    ordered_at  TEXT NOT NULL,
    status      TEXT NOT NULL,          -- NEW, IN_WORK, DONE, CANCELLED
    lab_bin     TEXT NOT NULL,
    lab_name    TEXT NOT NULL,
    doctor_id   TEXT,
    doctor_fio  TEXT
) WITHOUT ROWID;
CREATE INDEX lab_order_iin ON lab_order (iin, ordered_at);
CREATE TABLE lab_result (
    order_no     TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    test_code    TEXT NOT NULL,
    loinc        TEXT,
    test_name    TEXT NOT NULL,
    value        TEXT NOT NULL,
    units        TEXT,
    ref          TEXT,
    flag         TEXT,                  -- N, L, H, A or NULL
    validated_at TEXT,
    PRIMARY KEY (order_no, seq)
) WITHOUT ROWID;
"""

DPS_DDL = """
-- Times are ISO 8601 with offset; dates YYYY-MM-DD; money is a decimal string in KZT.
CREATE TABLE prescription (
    id              TEXT PRIMARY KEY,
    iin             TEXT NOT NULL,
    issued_at       TEXT NOT NULL,
    valid_until     TEXT NOT NULL,
    status          TEXT NOT NULL,      -- active, dispensed, expired, cancelled
    atc             TEXT NOT NULL,
    inn             TEXT NOT NULL,
    trade_name      TEXT NOT NULL,
    form            TEXT NOT NULL,
    strength_value  REAL NOT NULL,
    strength_unit   TEXT NOT NULL,
    dose_value      REAL NOT NULL,
    dose_unit       TEXT NOT NULL,
    times_per_day   INTEGER NOT NULL,
    route           TEXT NOT NULL,
    duration_days   INTEGER NOT NULL,
    dosage_text     TEXT NOT NULL,
    prescriber_id   TEXT NOT NULL,
    prescriber_name TEXT NOT NULL,
    org_bin         TEXT NOT NULL,
    org_name        TEXT NOT NULL,
    program         TEXT NOT NULL       -- GOBMP or OSMS
) WITHOUT ROWID;
CREATE INDEX prescription_iin ON prescription (iin, status);
CREATE TABLE dispensation (
    id               TEXT PRIMARY KEY,
    iin              TEXT NOT NULL,
    dispensed_at     TEXT NOT NULL,
    dispensed_date   TEXT NOT NULL,     -- YYYY-MM-DD of dispensed_at, for range filters
    prescription_id  TEXT NOT NULL,
    atc              TEXT NOT NULL,
    inn              TEXT NOT NULL,
    trade_name       TEXT NOT NULL,
    form             TEXT NOT NULL,
    strength_value   REAL NOT NULL,
    strength_unit    TEXT NOT NULL,
    quantity         REAL NOT NULL,
    unit_price_kzt   TEXT NOT NULL,
    amount_kzt       TEXT NOT NULL,
    program          TEXT NOT NULL,
    pharmacy_bin     TEXT NOT NULL,
    pharmacy_name    TEXT NOT NULL,
    pharmacy_region  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dispensation_iin ON dispensation (iin, dispensed_date);
-- Covers every stats query (any grouping, any region) so it never reads the table rows.
CREATE INDEX dispensation_stats ON dispensation (
    dispensed_date, pharmacy_region, atc, inn, program, pharmacy_bin, pharmacy_name, iin,
    amount_kzt
);
"""

AMBULANCE_DDL = """
-- received / arrived are ISO 8601 with offset. region is the station's region.
-- Every column but id, iin, received, region may be NULL (the element is then omitted).
CREATE TABLE call (
    id              TEXT PRIMARY KEY,
    iin             TEXT NOT NULL,
    received        TEXT NOT NULL,
    received_date   TEXT NOT NULL,      -- YYYY-MM-DD, for range filters
    arrived         TEXT,
    region          TEXT NOT NULL,
    station_code    TEXT,
    station_bin     TEXT,
    station_name    TEXT,
    paramedic_id    TEXT,
    paramedic_name  TEXT,
    complaint       TEXT,
    diagnosis_icd10 TEXT,
    diagnosis_text  TEXT,
    bp              TEXT,
    hr              INTEGER,
    spo2            INTEGER,
    glucose         REAL,
    outcome         TEXT,               -- TREATED_ON_SITE, HOSPITALIZED, REFUSED, DIED, FALSE_CALL
    hospital_bin    TEXT,
    hospital_name   TEXT
) WITHOUT ROWID;
CREATE INDEX call_iin ON call (iin, received_date);
CREATE INDEX call_date ON call (received_date, region);
"""

DATABASES: dict[str, str] = {
    "register": FHIR_DDL,
    **{f"ehr-{region}": FHIR_DDL for region in REGIONS},
    "lis": LIS_DDL,
    "dps": DPS_DDL,
    "ambulance": AMBULANCE_DDL,
}


def database_path(data_dir: Path, system: str) -> Path:
    """Return the SQLite file of one system instance (e.g. ``ehr-astana``)."""
    return data_dir / f"{system}.sqlite"


def create_database(data_dir: Path, system: str) -> sqlite3.Connection:
    """Create (replacing any old file) and open the database of one system instance."""
    path = database_path(data_dir, system)
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    connection.executescript(DATABASES[system])
    return connection


def open_database(data_dir: Path, system: str) -> sqlite3.Connection:
    """Open one system's database read-only, shareable across threads."""
    uri = f"file:{database_path(data_dir, system)}?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)
