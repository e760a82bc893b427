"""The population's clinical and family rules (docs/ground-truth.md), one test per rule.

Where a rule says how the truth is derived from the records (current medicines, exclusions,
guardians), the test derives it again from the system databases, independently of the
generator's code, and compares with the ground truth.
"""

from __future__ import annotations

import itertools
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


# ---- realism -------------------------------------------------------------------------------

WARFARIN = "B01AA03"
INR = "6301-6"


def test_warfarin_patients_have_inr_every_few_weeks(truth):
    """INR (LOINC 6301-6) at most ~5 weeks apart (a cancelled order aside) and recently."""
    checked = 0
    for iin, person in truth["people"].items():
        on_warfarin = [m for m in person["currentMedications"] if m["code"]["code"] == WARFARIN]
        if not on_warfarin or not person["inLis"]:
            continue
        since = min(
            [m["since"] for m in person["ehrMedications"] if m["code"]["code"] == WARFARIN]
            + [rx["issuedAt"][:10] for rx in person["prescriptions"] if rx["atc"] == WARFARIN]
        )
        if (TODAY - date.fromisoformat(since)).days < 60:
            continue
        days = sorted(
            date.fromisoformat(r["orderedAt"][:10])
            for r in person["labResults"]
            if r["test"]["loinc"] == INR
        )
        assert days, iin
        assert (TODAY - days[-1]).days <= 40, iin
        assert all((b - a).days <= 40 for a, b in itertools.pairwise(days)), iin
        checked += 1
    assert checked >= 2


def test_a_valve_prosthesis_resolves_the_stenosis(truth):
    """With a valve (SNOMED 25510005) I35.0 is no longer active, and Z95.2 is."""
    valves = [
        p for p in truth["people"].values() if any(i["code"] == "25510005" for i in p["implants"])
    ]
    assert valves
    for person in valves:
        problems = {p["code"]["code"]: p["clinicalStatus"] for p in person["problems"]}
        assert problems.get("I35.0") in ("resolved", "remission", "inactive", None)
        assert problems["Z95.2"] == "active"


# Licensed minimum ages in months (product information: EMC SmPCs, EMA EPARs).
MIN_AGE_MONTHS = {"R03AK07": 144, "A10BB09": 216, "C07AB07": 216, "B01AB05": 216, "M01AE01": 3}
MIN_AGE_MONTHS |= {"N02BE01": 2, "J01FA10": 6, "J01DC02": 3, "A10BA02": 120, "B01AC06": 192}


def months_between(birth: date, day: date) -> int:
    """Completed months of age."""
    return (day.year - birth.year) * 12 + day.month - birth.month - (day.day < birth.day)


def test_no_one_gets_a_medicine_before_its_licensed_age(truth):
    """Every statement and prescription respects the licence's minimum age on its start day."""
    seen = set()
    for person in truth["people"].values():
        birth = date.fromisoformat(person["identity"]["birthDate"])
        given = [(m["code"]["code"], m["since"]) for m in person["ehrMedications"]]
        given += [(rx["atc"], rx["issuedAt"][:10]) for rx in person["prescriptions"]]
        for atc, since in given:
            if atc in MIN_AGE_MONTHS:
                seen.add(atc)
                assert months_between(birth, date.fromisoformat(since)) >= MIN_AGE_MONTHS[atc]
    assert {"R03AK07", "M01AE01", "N02BE01"} <= seen


def test_young_asthmatics_get_a_paediatric_inhaled_steroid(truth):
    """Asthmatic children under 12 get budesonide (R03BA02), never budesonide/formoterol."""
    children = [
        p
        for p in truth["people"].values()
        if p["identity"]["age"] < 12 and any(c["code"]["code"] == "J45.9" for c in p["problems"])
    ]
    codes = {
        m["code"]["code"] for p in children for m in p["ehrMedications"] + p["currentMedications"]
    }
    assert "R03AK07" not in codes


def test_each_icd10_code_has_one_russian_display_in_the_ehrs(population):
    """Every ICD-10 coding in every EHR resource: one display per code, in Cyrillic."""
    displays: dict[str, set[str]] = {}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("system") == "http://hl7.org/fhir/sid/icd-10":
                displays.setdefault(node["code"], set()).add(node.get("display"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for region in REGIONS:
        for (text,) in db(population, f"ehr-{region}").execute("SELECT json FROM resource"):
            walk(json.loads(text))
    assert "K35.8" in displays or "J06.9" in displays
    for code, names in displays.items():
        assert len(names) == 1, (code, names)
        (name,) = names
        assert name and any("а" <= ch <= "я" for ch in name.lower()), (code, name)
