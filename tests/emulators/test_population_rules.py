"""The population's clinical and family rules (docs/ground-truth.md), one test per rule.

Where a rule says how the truth is derived from the records (current medicines, exclusions,
guardians), the test derives it again from the system databases, independently of the
generator's code, and compares with the ground truth.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from emulators.population import generate
from emulators.storage import REGIONS

TODAY = date(2026, 11, 25)
SIZE = 600
SEED = 11


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A population generated for a fixed day."""
    data_dir = tmp_path_factory.mktemp("population-rules")
    generate(data_dir, size=SIZE, seed=SEED, today=TODAY)
    return data_dir


@pytest.fixture(scope="module")
def truth(population: Path) -> dict:
    """The parsed ground truth."""
    return json.loads((population / "ground_truth.json").read_text(encoding="utf-8"))


def db(population: Path, system: str) -> sqlite3.Connection:
    """Open one system's database."""
    return sqlite3.connect(population / f"{system}.sqlite")


def ehr_resources(population: Path, rtype: str) -> dict[str, list[dict]]:
    """Every resource of a type in the three EHRs, by the IIN of its patient."""
    out: dict[str, list[dict]] = {}
    for region in REGIONS:
        connection = db(population, f"ehr-{region}")
        iins = dict(
            connection.execute(
                "SELECT id, code FROM token WHERE type = 'Patient' AND param = 'identifier'"
            )
        )
        for patient_id, text in connection.execute(
            "SELECT patient_id, json FROM resource WHERE type = ?", (rtype,)
        ):
            out.setdefault(iins[patient_id], []).append(json.loads(text))
    return out


# ---- current medicines ---------------------------------------------------------------------


def supply_days(rx: dict, quantity: float) -> float:
    """SOURCES.md fields only: quantity over units a day when dose and strength share a unit."""
    if rx["dose_unit"] == rx["strength_unit"]:
        return quantity / (rx["dose_value"] / rx["strength_value"] * rx["times_per_day"])
    return float(rx["duration_days"])


def dps_rows(population: Path) -> tuple[dict[str, dict], list[dict]]:
    """Prescriptions by id and every dispensation, as dicts of their columns."""
    connection = db(population, "dps")
    connection.row_factory = sqlite3.Row
    prescriptions = {r["id"]: dict(r) for r in connection.execute("SELECT * FROM prescription")}
    dispensations = [dict(r) for r in connection.execute("SELECT * FROM dispensation")]
    return prescriptions, dispensations


def test_current_medications_are_the_union_of_ehr_prescriptions_and_supplies(population, truth):
    """EHR active statements, active prescriptions, dispensations covering today; by ATC."""
    expected: dict[str, dict[str, set[str]]] = {}
    for iin, statements in ehr_resources(population, "MedicationStatement").items():
        for statement in statements:
            if statement["status"] == "active":
                atc = statement["medicationCodeableConcept"]["coding"][0]["code"]
                expected.setdefault(iin, {}).setdefault(atc, set()).add("ehr")
    prescriptions, dispensations = dps_rows(population)
    for rx in prescriptions.values():
        if rx["status"] == "active":
            expected.setdefault(rx["iin"], {}).setdefault(rx["atc"], set()).add("prescription")
    for dsp in dispensations:
        elapsed = (TODAY - date.fromisoformat(dsp["dispensed_date"])).days
        if elapsed < supply_days(prescriptions[dsp["prescription_id"]], dsp["quantity"]):
            expected.setdefault(dsp["iin"], {}).setdefault(dsp["atc"], set()).add("dispensation")
    for iin, person in truth["people"].items():
        found = {m["code"]["code"]: set(m["sources"]) for m in person["currentMedications"]}
        assert found == expected.get(iin, {}), iin
        for entry in person["currentMedications"]:
            assert entry["pharmacyOnly"] == (entry["sources"] == ["dispensation"])


def test_no_supply_ends_within_two_days_of_today(population):
    """The generator keeps away from verdicts that rounding could flip."""
    prescriptions, dispensations = dps_rows(population)
    assert dispensations
    for dsp in dispensations:
        elapsed = (TODAY - date.fromisoformat(dsp["dispensed_date"])).days
        supply = supply_days(prescriptions[dsp["prescription_id"]], dsp["quantity"])
        assert abs(supply - elapsed) > 2, dsp["id"]


def test_a_medicine_known_only_from_the_pharmacy_takes_the_named_prescription(population, truth):
    """Dose, times a day and route from the prescription; since = the covering dispensation."""
    prescriptions, dispensations = dps_rows(population)
    cases = truth["edgeCases"]["pharmacyOnly"]
    assert len(cases) >= 3
    for iin in cases:
        for entry in truth["people"][iin]["currentMedications"]:
            if not entry["pharmacyOnly"]:
                continue
            covering = [
                d
                for d in dispensations
                if d["iin"] == iin
                and d["atc"] == entry["code"]["code"]
                and (TODAY - date.fromisoformat(d["dispensed_date"])).days
                < supply_days(prescriptions[d["prescription_id"]], d["quantity"])
            ]
            latest = max(covering, key=lambda d: d["dispensed_date"])
            rx = prescriptions[latest["prescription_id"]]
            assert entry["since"] == latest["dispensed_date"]
            assert entry["dose"] == {"value": rx["dose_value"], "unit": rx["dose_unit"]}
            assert entry["timesPerDay"] == rx["times_per_day"]
            assert entry["route"] == rx["route"]


# ---- screening exclusions ------------------------------------------------------------------

SNOMED = "http://snomed.info/sct"
# The programme's exclusions as its source states them (KR DSM-174/2020 Appendix 1, quoted in
# gateway/data/screening_programme.json): not under dynamic observation for arterial
# hypertension, coronary heart disease, diabetes or glaucoma (blood pressure, diabetes and
# glaucoma screenings), for breast / cervical / colorectal cancer; and no screening of an
# organ that was removed (mastectomy, total hysterectomy).
CARDIO_METABOLIC = ("I10", "I11", "I12", "I13", "I15", "I20", "I21", "I22", "I23", "I24", "I25")
CARDIO_METABOLIC += ("E10", "E11", "E12", "E13", "E14", "H40", "H42")
EXCLUDED_BY = {
    "171222001": (CARDIO_METABOLIC, ()),
    "171183004": (CARDIO_METABOLIC, ()),
    "171205003": (CARDIO_METABOLIC, ()),
    "71651007": (("C50",), ("172043006",)),
    "171149006": (("C53",), ("116140006",)),
    "104435004": (("C18", "C19", "C20"), ()),
}
FEMALE_ONLY = {"71651007", "171149006"}
ACTIVE = {"active", "recurrence", "relapse"}


def exclusion_starts(population: Path) -> dict[str, dict[str, str]]:
    """From the EHRs: per IIN, the first day each screening became excluded."""
    starts: dict[str, dict[str, str]] = {}

    def exclude(iin: str, screening: str, day: str) -> None:
        known = starts.setdefault(iin, {})
        known[screening] = min(known.get(screening, day), day)

    for iin, conditions in ehr_resources(population, "Condition").items():
        for condition in conditions:
            category = condition["category"][0]["coding"][0]["code"]
            status = condition["clinicalStatus"]["coding"][0]["code"]
            if category != "problem-list-item" or status not in ACTIVE:
                continue
            code = condition["code"]["coding"][0]["code"]
            for screening, (categories, _) in EXCLUDED_BY.items():
                if code.startswith(categories):
                    exclude(iin, screening, condition["onsetDateTime"][:10])
    for iin, procedures in ehr_resources(population, "Procedure").items():
        for procedure in procedures:
            code = procedure["code"]["coding"][0]["code"]
            for screening, (_, removals) in EXCLUDED_BY.items():
                if code in removals:
                    exclude(iin, screening, procedure["performedDateTime"][:10])
    return starts


def test_screening_exclusions_are_what_the_records_imply(population, truth):
    """Per person, the excluded screenings are those the EHR's problems and operations imply."""
    starts = exclusion_starts(population)
    for iin, person in truth["people"].items():
        female = person["identity"]["sex"] == "FEMALE"
        expected = {s for s in starts.get(iin, {}) if female or s not in FEMALE_ONLY}
        found = {e["code"]["code"] for e in person["screeningExclusions"]}
        assert found == expected, iin
        assert all(
            e["code"]["system"] == SNOMED and e["reason"] for e in person["screeningExclusions"]
        )
    kinds = {e["code"]["code"] for p in truth["people"].values() for e in p["screeningExclusions"]}
    assert kinds >= {"171222001", "171183004", "71651007", "171149006"}


def test_no_screening_is_done_once_excluded(population, truth):
    """No screening Procedure on or after the day its exclusion began (diagnosis, operation)."""
    starts = exclusion_starts(population)
    checked = 0
    for iin, procedures in ehr_resources(population, "Procedure").items():
        for procedure in procedures:
            if procedure.get("category", {}).get("text") != "screening":
                continue
            code = procedure["code"]["coding"][0]["code"]
            since = starts.get(iin, {}).get(code)
            if since is not None:
                checked += 1
                assert procedure["performedDateTime"][:10] < since, (iin, code)
    assert checked, "some people were screened before their exclusion began"
