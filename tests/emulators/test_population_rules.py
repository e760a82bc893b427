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

from emulators.storage import REGIONS
from tests.emulators.generated import TODAY, db, generated, read_truth

SIZE = 600
SEED = 11


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A population generated for a fixed day."""
    return generated(tmp_path_factory, "population-rules", SIZE, SEED)


@pytest.fixture(scope="module")
def truth(population: Path) -> dict:
    """The parsed ground truth."""
    return read_truth(population)


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


# Kazakhstan by age, per cent (Bureau of National Statistics, 20-million mark, November 2023).
KAZAKHSTAN_AGES = {(0, 17): 33.7, (18, 44): 36.1, (45, 59): 16.0, (60, 74): 10.5, (75, 200): 3.8}


@pytest.fixture(scope="module")
def large_truth(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A larger population, for shares of the whole."""
    return read_truth(generated(tmp_path_factory, "population-large", 4000, SEED))


def test_the_age_pyramid_is_kazakhstans(large_truth):
    """Each broad age group within 2 points of the national share; 90+ about 0.3 %."""
    ages = [p["identity"]["age"] for p in large_truth["people"].values()]
    for (low, high), share in KAZAKHSTAN_AGES.items():
        found = 100 * sum(low <= a <= high for a in ages) / len(ages)
        assert abs(found - share) <= 2.0, ((low, high), found, share)
    very_old = 100 * sum(a >= 90 for a in ages) / len(ages)
    assert very_old <= 0.6


def test_children_are_attached_to_paediatricians(truth):
    """The GP of everyone under 18 is a paediatrician; of every adult, a general practitioner."""
    qualification = {p["id"]: p["qualification"] for p in truth["practitioners"]}
    assert "Врач-педиатр участковый" in qualification.values()
    for person in truth["people"].values():
        gp = qualification[person["careTeam"]["generalPractitioner"]["id"]]
        if person["identity"]["age"] < 18:
            assert gp == "Врач-педиатр участковый"
        else:
            assert gp == "Врач общей практики"


def test_first_names_follow_the_birth_cohort(large_truth):
    """Names of one era never appear in another: no Алихан born before 2005, no Валентина after."""
    from emulators import population_data as D

    pools = (
        D.KAZAKH_MALE_BY_COHORT,
        D.KAZAKH_FEMALE_BY_COHORT,
        D.RUSSIAN_MALE_BY_COHORT,
        D.RUSSIAN_FEMALE_BY_COHORT,
    )
    for person in large_truth["people"].values():
        year = int(person["identity"]["birthDate"][:4])
        given = person["identity"]["givenName"]
        allowed = {name.translate(D.RUSSIFY) for p in pools for name in D.cohort_pool(p, year)} | {
            name for p in pools for name in D.cohort_pool(p, year)
        }
        assert given in allowed, (given, year)
    born = {
        p["identity"]["givenName"]: int(p["identity"]["birthDate"][:4])
        for p in large_truth["people"].values()
    }
    assert born.get("Алихан", 2100) >= 2005 and born.get("Валентина", 0) < 1960


# ---- families, guardians, contacts ---------------------------------------------------------

GRANTING = {"MTH", "FTH", "PRN", "GUARD"}


def related_persons(population: Path) -> dict[str, list[dict]]:
    """RelatedPerson resources of the register by the child's IIN."""
    connection = db(population, "register")
    iins = dict(
        connection.execute(
            "SELECT id, code FROM token WHERE type = 'Patient' AND param = 'identifier'"
        )
    )
    out: dict[str, list[dict]] = {}
    for patient_id, text in connection.execute(
        "SELECT patient_id, json FROM resource WHERE type = 'RelatedPerson'"
    ):
        out.setdefault(iins[patient_id], []).append(json.loads(text))
    return out


def grants(resource: dict, child_age: int) -> bool:
    """ACCESS.md, Guardians: active, a parental or guardian code, period covering today, minor."""
    period = resource["period"]
    covers = period["start"] <= TODAY.isoformat() and (
        "end" not in period or TODAY.isoformat() <= period["end"]
    )
    code = resource["relationship"][0]["coding"][0]["code"]
    return resource["active"] and code in GRANTING and covers and child_age < 18


def test_guardians_and_dependants_follow_the_access_rule(population, truth):
    """grantsAccess and dependants derived from the register's RelatedPersons, independently."""
    people = truth["people"]
    records = related_persons(population)
    dependants: dict[str, set[str]] = {}
    for iin, person in people.items():
        age = person["identity"]["age"]
        expected = sorted(
            (r["identifier"][0]["value"], r["relationship"][0]["coding"][0]["code"], grants(r, age))
            for r in records.get(iin, [])
        )
        found = sorted(
            (g["iin"], g["relationship"], g["grantsAccess"]) for g in person["guardians"]
        )
        assert found == expected, iin
        for adult, _, granted in expected:
            assert adult in people  # every guardian is a person of the population
            if granted:
                dependants.setdefault(adult, set()).add(iin)
    for iin, person in people.items():
        assert set(person["dependants"]) == dependants.get(iin, set()), iin
    minors = [p for p in people.values() if p["identity"]["age"] < 18]
    with_guardian = sum(1 for p in minors if any(g["grantsAccess"] for g in p["guardians"]))
    assert with_guardian >= 0.9 * len(minors)


def test_parents_are_plausible(truth):
    """A mother is a woman 18-42 years older; a father a man; both in the child's region."""
    people = truth["people"]
    for person in people.values():
        birth = date.fromisoformat(person["identity"]["birthDate"])
        for guardian in person["guardians"]:
            adult = people[guardian["iin"]]["identity"]
            gap = (birth - date.fromisoformat(adult["birthDate"])).days / 365.25
            if guardian["relationship"] == "MTH":
                assert adult["sex"] == "FEMALE" and 17 <= gap <= 43
            if guardian["relationship"] == "FTH":
                assert adult["sex"] == "MALE" and gap >= 14
            assert adult["region"] == person["identity"]["region"]


def test_family_edge_cases(truth):
    """Ended guardianship, a child turned 18, twins with a guardian of one only, legal guardian."""
    people = truth["people"]
    cases = truth["edgeCases"]
    for iin in cases["guardianEnded"]:
        ended = [g for g in people[iin]["guardians"] if g["periodEnd"]]
        assert ended and all(g["periodEnd"] < TODAY.isoformat() for g in ended)
        assert not any(g["grantsAccess"] for g in ended)
    for iin in cases["childTurned18"]:
        person = people[iin]
        assert person["identity"]["age"] >= 18
        assert any(g["active"] and not g["periodEnd"] for g in person["guardians"])
        assert not any(g["grantsAccess"] for g in person["guardians"])
    for iin in cases["twins"]:
        person = people[iin]
        twin = people[person["twin"]]
        assert twin["twin"] == iin
        assert person["identity"]["birthDate"] == twin["identity"]["birthDate"]
        mothers = {g["iin"] for g in person["guardians"] if g["relationship"] == "MTH"}
        assert mothers and mothers == {
            g["iin"] for g in twin["guardians"] if g["relationship"] == "MTH"
        }
        only_mine = {g["iin"] for g in person["guardians"] if g["grantsAccess"]} - {
            g["iin"] for g in twin["guardians"]
        }
        assert only_mine
        for guardian in only_mine:
            assert iin in people[guardian]["dependants"]
            assert person["twin"] not in people[guardian]["dependants"]
    for iin in cases["legalGuardian"]:
        codes = {g["relationship"] for g in people[iin]["guardians"]}
        assert "GUARD" in codes and not codes & {"MTH", "FTH", "PRN"}
    for name in ("guardianEnded", "childTurned18", "twins", "legalGuardian"):
        assert len(cases[name]) >= 3, name


def test_children_call_their_parents_and_most_adults_have_contacts(truth):
    """A minor's contacts are the guardians who may act for them; adults have 0-2 contacts."""
    people = truth["people"]
    counts = {0: 0, 1: 0, 2: 0}
    for person in people.values():
        if person["identity"]["age"] < 18:
            names = sorted(c["name"] for c in person["contacts"])
            guardians = sorted(
                people[g["iin"]]["identity"]["fullName"]
                for g in person["guardians"]
                if g["grantsAccess"]
            )
            assert names == guardians
        else:
            counts[len(person["contacts"])] += 1
        for contact in person["contacts"]:
            assert contact["relationship"] and contact["name"]
            assert all(p.startswith("+7") and len(p) == 12 for p in contact["phones"])
    adults = sum(counts.values())
    assert counts[0] > 0 and counts[1] + counts[2] >= 0.7 * adults


# ---- one clock -----------------------------------------------------------------------------


def test_truth_instants_carry_the_real_almaty_offset(truth):
    """+06:00 before 2024-03-01 (local), +05:00 since: Kazakhstan's single zone (tzdata)."""
    offsets = set()
    for person in truth["people"].values():
        instants = [e["start"] for e in person["encounters"]]
        instants += [r["orderedAt"] for r in person["labResults"]]
        instants += [d["dispensedAt"] for d in person["dispensations"]]
        for instant in instants:
            local, offset = instant[:19], instant[19:]
            assert offset == ("+06:00" if local < "2024-03-01T00:00:00" else "+05:00"), instant
            offsets.add(offset)
    assert offsets == {"+05:00", "+06:00"}


def test_lis_wall_clock_times_are_the_truths_local_times(population, truth):
    """The LIS keeps local times without an offset: the truth's instants at their Almaty offset."""
    rows = dict(db(population, "lis").execute("SELECT order_no, ordered_at FROM lab_order"))
    for person in truth["people"].values():
        for order in person["labOrders"]:
            assert rows[order["orderNumber"]] == order["orderedAt"][:16]
