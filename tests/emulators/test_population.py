"""The synthetic population: determinism, valid identifiers, edge cases, FHIR validity, consistency.

Expected values come from the contracts (SOURCES.md, docs/ground-truth.md) and from the
generator's ground truth, checked against what the databases actually hold.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from emulators.population import generate, main
from emulators.storage import DATABASES, REGIONS
from tests.emulators.generated import TODAY, db, generated, read_truth

SIZE = 300
SEED = 7
KAZAKH_LETTERS = set("ӘәҒғҚқҢңӨөҰұҮүҺһІі")


def iin_check_ok(number: str) -> bool:
    """The contract's check-digit rule, written here independently of emulators.ids."""
    if len(number) != 12 or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    total = sum(d * w for d, w in zip(digits[:11], range(1, 12), strict=True)) % 11
    if total == 10:
        weights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
        total = sum(d * w for d, w in zip(digits[:11], weights, strict=True)) % 11
        if total == 10:
            return False
    return total == digits[11]


def needs_second_pass(number: str) -> bool:
    """Whether the first weighted sum of an IIN is 10."""
    return sum(int(c) * w for c, w in zip(number[:11], range(1, 12), strict=True)) % 11 == 10


def age_on(birth: date, day: date) -> int:
    """Completed years."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A population generated for a fixed day, so ages and due dates are known."""
    return generated(tmp_path_factory, "population-fixed-day", SIZE, SEED)


@pytest.fixture(scope="module")
def truth(population: Path) -> dict:
    """The parsed ground truth."""
    return read_truth(population)


def resources(population: Path, system: str, rtype: str) -> list[dict]:
    """Every resource of a type in a FHIR database."""
    rows = db(population, system).execute("SELECT json FROM resource WHERE type = ?", (rtype,))
    return [json.loads(row[0]) for row in rows]


def ehr_patient_ids(population: Path, region: str, iin: str) -> list[str]:
    """Local Patient ids an EHR holds for an IIN."""
    rows = db(population, f"ehr-{region}").execute(
        "SELECT id FROM token WHERE type = 'Patient' AND param = 'identifier' AND code = ?",
        (iin,),
    )
    return [row[0] for row in rows]


# ---- identifiers -----------------------------------------------------------------------------


def test_the_independent_check_agrees_with_the_contract_examples():
    assert iin_check_ok("900101300007")
    assert iin_check_ok("900101300811")
    assert needs_second_pass("900101300811")
    assert iin_check_ok("061211600012")
    assert not iin_check_ok("900101300008")


def test_every_person_has_a_unique_valid_iin_matching_birth_date_and_sex(truth):
    people = truth["people"]
    assert len(people) == SIZE
    for iin, person in people.items():
        identity = person["identity"]
        assert identity["iin"] == iin
        assert iin_check_ok(iin), iin
        birth = date.fromisoformat(identity["birthDate"])
        assert iin[:6] == birth.strftime("%y%m%d")
        century = {18: (1, 2), 19: (3, 4), 20: (5, 6)}[birth.year // 100]
        expected = century[0] if identity["sex"] == "MALE" else century[1]
        assert int(iin[6]) == expected
        assert identity["age"] == age_on(birth, TODAY)


def test_every_organisation_has_a_unique_valid_bin(truth, population):
    bins = [org["bin"] for org in truth["organizations"]]
    assert len(bins) == len(set(bins))
    assert all(iin_check_ok(b) for b in bins)
    kinds = Counter((org["region"], org["type"]) for org in truth["organizations"])
    for region in REGIONS:
        for kind in ("polyclinic", "hospital", "ambulance-station", "laboratory", "pharmacy"):
            assert kinds[(region, kind)] >= 1
    for resource in resources(population, "register", "Organization"):
        assert iin_check_ok(resource["identifier"][0]["value"])


def test_second_pass_iins_exist_and_really_need_it(truth):
    second = truth["edgeCases"]["secondPassIin"]
    assert len(second) >= 3
    assert all(needs_second_pass(iin) and iin_check_ok(iin) for iin in second)
    first_pass_only = [iin for iin in truth["people"] if iin not in set(second)]
    assert not any(needs_second_pass(iin) for iin in first_pass_only)


# ---- determinism and layout ---------------------------------------------------------------------


def test_same_seed_size_and_day_give_identical_bytes(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, size=60, seed=11, today=TODAY)
    generate(second, size=60, seed=11, today=TODAY)
    generate(other, size=60, seed=12, today=TODAY)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "ground_truth.json" in names
    assert {f"{system}.sqlite" for system in DATABASES} <= set(names)
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "ground_truth.json").read_bytes() != (other / "ground_truth.json").read_bytes()


def test_databases_have_exactly_the_storage_layout(population):
    for system, ddl in DATABASES.items():
        reference = sqlite3.connect(":memory:")
        reference.executescript(ddl)
        query = "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        assert (
            db(population, system).execute(query).fetchall() == reference.execute(query).fetchall()
        ), system


def test_ground_truth_records_its_inputs(truth):
    assert (truth["seed"], truth["size"], truth["today"]) == (SEED, SIZE, TODAY.isoformat())
    practitioner_orgs = {p["orgBin"] for p in truth["practitioners"]}
    assert practitioner_orgs <= {o["bin"] for o in truth["organizations"]}


# ---- edge cases --------------------------------------------------------------------------------


def test_every_edge_case_has_at_least_three_people(truth):
    for name, iins in truth["edgeCases"].items():
        assert len(iins) >= 3, name
        assert set(iins) <= set(truth["people"]), name


def test_children_and_very_old_are_their_ages(truth):
    people = truth["people"]
    for iin in truth["edgeCases"]["child"]:
        assert age_on(date.fromisoformat(people[iin]["identity"]["birthDate"]), TODAY) < 5
    for iin in truth["edgeCases"]["veryOld"]:
        assert age_on(date.fromisoformat(people[iin]["identity"]["birthDate"]), TODAY) >= 90


def test_pregnant_people_are_women_of_childbearing_age_with_a_due_date(truth, population):
    for iin in truth["edgeCases"]["pregnant"]:
        person = truth["people"][iin]
        assert person["identity"]["sex"] == "FEMALE"
        assert 18 <= person["identity"]["age"] <= 45
        pregnancy = person["physiologicalState"]["pregnancy"]
        due = date.fromisoformat(pregnancy["expectedDeliveryDate"])
        assert due > TODAY
        assert pregnancy["gestationalWeeks"] == 40 - (due - TODAY).days / 7
        region = person["identity"]["region"]
        (local,) = ehr_patient_ids(population, region, iin)
        edd = [
            r["valueDateTime"]
            for r in resources(population, f"ehr-{region}", "Observation")
            if r["code"]["coding"][0]["code"] == "11778-8"
            and r["subject"]["reference"] == f"Patient/{local}"
        ]
        assert edd == [pregnancy["expectedDeliveryDate"]]


def test_register_only_people_are_nowhere_else(truth, population):
    for iin in truth["edgeCases"]["registerOnly"]:
        assert truth["people"][iin]["ehrRegions"] == []
        for region in REGIONS:
            assert ehr_patient_ids(population, region, iin) == []
        assert (
            not db(population, "lis")
            .execute("SELECT 1 FROM patient WHERE iin=?", (iin,))
            .fetchall()
        )
        for system, table in (
            ("dps", "prescription"),
            ("dps", "dispensation"),
            ("ambulance", "call"),
        ):
            rows = db(population, system).execute(f"SELECT 1 FROM {table} WHERE iin=?", (iin,))
            assert not rows.fetchall()


def test_people_unknown_to_the_lab_are_absent_from_it(truth, population):
    lis = db(population, "lis")
    for iin in truth["edgeCases"]["noLabHistory"]:
        assert truth["people"][iin]["ehrRegions"]
        assert not lis.execute("SELECT 1 FROM patient WHERE iin=?", (iin,)).fetchall()
        assert not lis.execute("SELECT 1 FROM lab_order WHERE iin=?", (iin,)).fetchall()


def test_movers_have_different_local_ids_in_two_ehrs(truth, population):
    for iin in truth["edgeCases"]["twoRegions"]:
        regions = truth["people"][iin]["ehrRegions"]
        assert len(regions) == 2 and regions[1] == truth["people"][iin]["identity"]["region"]
        (first,) = ehr_patient_ids(population, regions[0], iin)
        (second,) = ehr_patient_ids(population, regions[1], iin)
        assert first != second
        held = {item["region"] for item in truth["people"][iin]["encounters"]}
        assert set(regions) <= held


def test_names_with_kazakh_letters_are_listed(truth):
    listed = set(truth["edgeCases"]["kazakhLetters"])
    for iin, person in truth["people"].items():
        has = bool(KAZAKH_LETTERS & set(person["identity"]["fullName"]))
        assert has == (iin in listed)
    some = [truth["people"][i]["identity"] for i in listed]
    assert any(p["patronymic"] and p["patronymic"].endswith(("ұлы", "қызы")) for p in some)
    everyone = [p["identity"] for p in truth["people"].values()]
    assert any(p["patronymic"] and p["patronymic"].endswith(("ович", "овна")) for p in everyone)
    assert any(p["patronymic"] is None for p in everyone)


def test_ambulance_calls_match_the_dispatch_database(truth, population):
    calls = db(population, "ambulance")
    for iin in truth["edgeCases"]["ambulance"]:
        expected = truth["people"][iin]["ambulanceCalls"]
        rows = calls.execute(
            "SELECT id, outcome, hospital_bin FROM call WHERE iin=? ORDER BY received", (iin,)
        ).fetchall()
        assert [r[0] for r in rows] == [c["id"] for c in expected]
        for _, outcome, hospital in rows:
            assert (hospital is not None) == (outcome == "HOSPITALIZED") or hospital is None
    outcomes = {row[0] for row in calls.execute("SELECT outcome FROM call")}
    assert {"TREATED_ON_SITE", "HOSPITALIZED"} <= outcomes
    with_hospital = calls.execute("SELECT outcome FROM call WHERE hospital_bin IS NOT NULL")
    assert {row[0] for row in with_hospital} <= {"HOSPITALIZED"}


def test_implants_are_active_devices_in_the_ehr(truth, population):
    for iin in truth["edgeCases"]["implant"]:
        person = truth["people"][iin]
        codes = {c["code"] for c in person["implants"]}
        assert codes <= {"14106009", "25510005", "69805005"}
        found = set()
        for region in person["ehrRegions"]:
            locals_ = {f"Patient/{i}" for i in ehr_patient_ids(population, region, iin)}
            for device in resources(population, f"ehr-{region}", "Device"):
                if device["patient"]["reference"] in locals_:
                    assert device["status"] == "active"
                    found.add(device["type"]["coding"][0]["code"])
        assert found == codes


def test_overdue_screenings_are_older_than_five_years(truth):
    limit = (TODAY - timedelta(days=5 * 365)).isoformat()
    for iin in truth["edgeCases"]["overdueScreening"]:
        latest: dict[str, str] = {}
        for screening in truth["people"][iin]["screenings"]:
            code = screening["code"]["code"]
            latest[code] = max(latest.get(code, ""), screening["date"])
        assert any(day < limit for day in latest.values())


# ---- FHIR validity ---------------------------------------------------------------------------

EXPECTED_TYPES = {
    "Patient", "Condition", "AllergyIntolerance", "Observation", "MedicationStatement",
    "Immunization", "Procedure", "DiagnosticReport", "Encounter", "Device",
}  # fmt: skip


def test_every_resource_type_validates_against_fhir_r4b(population):
    seen: Counter[str] = Counter()
    for system in ("register", *(f"ehr-{r}" for r in REGIONS)):
        rows = (
            db(population, system)
            .execute("SELECT type, json FROM resource ORDER BY type, id")
            .fetchall()
        )
        for rtype, text in rows:
            if seen[rtype] >= 60:  # a sample of each type keeps the test fast
                continue
            seen[rtype] += 1
            module = importlib.import_module(f"fhir.resources.R4B.{rtype.lower()}")
            getattr(module, rtype).model_validate(json.loads(text))
    assert {*EXPECTED_TYPES, "Organization", "Practitioner"} <= set(seen)


def test_ehr_resources_reference_local_patients_and_logical_organisations(population):
    for region in REGIONS:
        connection = db(population, f"ehr-{region}")
        patients = {
            row[0] for row in connection.execute("SELECT id FROM resource WHERE type='Patient'")
        }
        rows = connection.execute(
            "SELECT type, patient_id, json FROM resource WHERE type != 'Patient'"
        ).fetchall()
        assert rows
        for rtype, patient_id, text in rows:
            resource = json.loads(text)
            key = (
                "patient"
                if rtype in ("Immunization", "AllergyIntolerance", "Device")
                else "subject"
            )
            assert resource[key]["reference"] == f"Patient/{patient_id}"
            assert patient_id in patients
            if rtype == "Encounter":
                provider = resource["serviceProvider"]
                assert provider["identifier"]["system"] == "urn:kz:bin"
                assert "reference" not in provider


def test_condition_codes_support_prefix_search(population):
    connection = db(population, "ehr-almaty")
    codes = [
        row[0]
        for row in connection.execute(
            "SELECT code FROM token WHERE type='Condition' AND param='code'"
            " AND system='http://hl7.org/fhir/sid/icd-10' AND code LIKE 'E11%'"
        )
    ]
    assert codes and all(code.startswith("E11") for code in codes)


# ---- clinical consistency --------------------------------------------------------------------


def test_each_diabetic_has_an_hba1c_order_or_metformin(truth):
    diabetics = [
        p
        for p in truth["people"].values()
        if any(c["code"]["code"].startswith("E11") for c in p["problems"])
    ]
    assert diabetics
    for person in diabetics:
        hba1c = any(r["test"]["testCode"] == "HBA1C" for r in person["labResults"])
        metformin = any(m["code"]["code"] == "A10BA02" for m in person["ehrMedications"]) or any(
            rx["atc"] == "A10BA02" for rx in person["prescriptions"]
        )
        assert hba1c or metformin


def test_no_one_gets_a_drug_they_are_allergic_to(truth):
    penicillins = {"J01CA04", "J01CR02"}
    for person in truth["people"].values():
        allergens = {a["substance"]["code"] for a in person["allergies"]}
        if allergens & {"764146007", "J01CA04"}:
            given = {m["code"]["code"] for m in person["ehrMedications"]}
            assert not given & penicillins


def test_some_medicines_are_only_in_dps_some_only_in_the_ehr_some_in_both(truth):
    kinds = Counter()
    for person in truth["people"].values():
        ehr = {m["code"]["code"] for m in person["ehrMedications"] if m["status"] == "active"}
        dps = {rx["atc"] for rx in person["prescriptions"] if rx["status"] == "active"}
        kinds["both"] += len(ehr & dps)
        kinds["ehr"] += len(ehr - dps)
        kinds["dps"] += len(dps - ehr)
    assert kinds["both"] and kinds["ehr"] and kinds["dps"]


def test_dps_rows_match_the_ground_truth_and_prices_add_up(truth, population):
    dps = db(population, "dps")
    statuses = {row[0] for row in dps.execute("SELECT status FROM prescription")}
    assert statuses == {"active", "dispensed", "expired", "cancelled"}
    programs = {row[0] for row in dps.execute("SELECT program FROM dispensation")}
    assert programs == {"GOBMP", "OSMS"}
    for quantity, price, amount in dps.execute(
        "SELECT quantity, unit_price_kzt, amount_kzt FROM dispensation"
    ):
        assert float(amount) == pytest.approx(quantity * float(price), abs=0.005)
        assert amount.count(".") == 1 and len(amount.split(".")[1]) == 2
    expected = {rx["id"] for p in truth["people"].values() for rx in p["prescriptions"]}
    assert {row[0] for row in dps.execute("SELECT id FROM prescription")} == expected
    dispensed = {d["id"] for p in truth["people"].values() for d in p["dispensations"]}
    assert {row[0] for row in dps.execute("SELECT id FROM dispensation")} == dispensed


def test_lab_data_covers_every_flag_status_and_odd_value(truth, population):
    lis = db(population, "lis")
    flags = {row[0] for row in lis.execute("SELECT DISTINCT flag FROM lab_result")}
    assert flags == {"N", "L", "H", "A", None}
    statuses = {row[0] for row in lis.execute("SELECT DISTINCT status FROM lab_order")}
    assert statuses == {"NEW", "IN_WORK", "DONE", "CANCELLED"}
    undone = lis.execute(
        "SELECT count(*) FROM lab_result r JOIN lab_order o USING (order_no)"
        " WHERE o.status != 'DONE'"
    ).fetchone()[0]
    assert undone == 0
    assert lis.execute("SELECT count(*) FROM lab_result WHERE loinc IS NULL").fetchone()[0]
    assert lis.execute("SELECT count(*) FROM lab_result WHERE value = '<0.1'").fetchone()[0]
    assert {
        row[0]
        for row in lis.execute("SELECT DISTINCT value FROM lab_result WHERE test_code='HBSAG'")
    } <= {
        "negative",
        "positive",
    }
    results = sum(len(p["labResults"]) for p in truth["people"].values())
    assert lis.execute("SELECT count(*) FROM lab_result").fetchone()[0] == results


def test_care_relationships_exist_through_recent_encounters(truth):
    year_ago = (TODAY - timedelta(days=365)).isoformat()
    hospitals = {o["bin"] for o in truth["organizations"] if o["type"] == "hospital"}
    own_recent = hospital_recent = 0
    for person in truth["people"].values():
        own = person["careTeam"]["attachedOrganization"]["bin"]
        for encounter in person["encounters"]:
            if encounter["start"] < year_ago or not encounter["organization"]:
                continue
            own_recent += encounter["organization"]["bin"] == own
            hospital_recent += encounter["organization"]["bin"] in hospitals
    assert own_recent >= 10 and hospital_recent >= 3


def test_problems_in_the_truth_are_the_problem_list_conditions(truth, population):
    for iin, person in list(truth["people"].items())[:80]:
        count = 0
        for region in person["ehrRegions"]:
            connection = db(population, f"ehr-{region}")
            (local,) = ehr_patient_ids(population, region, iin)
            count += connection.execute(
                "SELECT count(*) FROM resource r JOIN token t ON t.type = r.type AND t.id = r.id"
                " WHERE r.type='Condition' AND r.patient_id=? AND t.param='category'"
                " AND t.code='problem-list-item'",
                (local,),
            ).fetchone()[0]
        assert count == len(person["problems"])


def test_vaccines_follow_the_national_calendar_codes(truth):
    codes = {i["vaccine"]["code"] for p in truth["people"].values() for i in p["immunizations"]}
    assert {"BCG", "HepB", "DTP", "IPV", "Hib", "PCV", "MMR", "Td", "Flu"} <= codes
    assert codes <= {"BCG", "HepB", "DTP", "IPV", "Hib", "PCV", "MMR", "HPV", "Td", "Flu"}
    for person in truth["people"].values():
        birth = date.fromisoformat(person["identity"]["birthDate"])
        for shot in person["immunizations"]:
            assert birth <= date.fromisoformat(shot["date"]) < TODAY


# ---- command line ----------------------------------------------------------------------------


def test_cli_generates_into_a_directory(tmp_path):
    assert (
        main(
            [
                "--population",
                "20",
                "--seed",
                "3",
                "--data-dir",
                str(tmp_path),
                "--today",
                "2026-01-31",
            ]
        )
        == 0
    )
    written = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))
    assert (written["size"], written["seed"], written["today"]) == (20, 3, "2026-01-31")
    assert len(written["people"]) == 20


@pytest.mark.parametrize(
    "argv",
    [["--population", "0"], ["--population", "ten"], ["--today", "25.11.2026"]],
)
def test_cli_rejects_bad_arguments(tmp_path, argv):
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--data-dir", str(tmp_path)])
    assert exited.value.code == 2


def test_nothing_happens_after_today_except_due_dates(truth):
    future_allowed = {"validUntil", "expectedDeliveryDate"}

    def is_date(text: str) -> bool:
        return len(text) >= 10 and text[:4].isdigit() and text[4] == "-" and text[7] == "-"

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and key not in future_allowed and is_date(node):
            assert node[:10] < TODAY.isoformat(), (key, node)

    walk(truth["people"])
