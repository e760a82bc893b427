"""The walk over the people: one shard's register, EHR, LIS, DPS, ambulance and truth."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import orjson

from emulators import population_data as D
from emulators.population.ambulance import Ambulance
from emulators.population.clinical import Clinical
from emulators.population.encounters import Encounters
from emulators.population.laboratory import Laboratory
from emulators.population.medications import Medications
from emulators.population.model import OVERDUE_YEARS, Json, Person, coding, years_before
from emulators.population.observations import Observations
from emulators.population.people import People
from emulators.population.prevention import Prevention

BATCH_PEOPLE = 2000


class Population(
    People,
    Clinical,
    Encounters,
    Medications,
    Observations,
    Prevention,
    Laboratory,
    Ambulance,
):
    """Walks the people in order and writes every system's records and the ground truth."""

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

    def _finish_truth(self, person: Person) -> None:
        truth = person.truth
        truth["currentMedications"] = current_medications(truth, person.supplied)
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
        if truth["ehrRegions"] and truth["anthropometrics"] is None:
            cases["weightUnrecorded"].append(iin)
        if any(m["pharmacyOnly"] for m in truth["currentMedications"]):
            cases["pharmacyOnly"].append(iin)
        if self.people_written:
            self.people_out.write(b",")
        self.people_out.write(orjson.dumps(iin) + b":" + orjson.dumps(truth))
        self.people_written += 1


def current_medications(truth: Json, supplied: list[tuple[str, date, str]]) -> list[Json]:
    """The union of active EHR statements, active prescriptions and covering dispensations.

    One entry per ATC code, sorted by code. Dose, times a day, route and since come from the
    EHR statement (the latest active one), else the prescription (the latest active one),
    else the dispensation covering today (the latest) and the prescription it names.
    """
    entries: dict[str, Json] = {}
    sources: dict[str, list[str]] = {}

    def add(atc: str, source: str, entry: Json) -> None:
        entries.setdefault(atc, entry)
        if source not in sources.setdefault(atc, []):
            sources[atc].append(source)

    statements = [m for m in truth["ehrMedications"] if m["status"] == "active"]
    for med in sorted(statements, key=lambda m: m["since"], reverse=True):
        add(med["code"]["code"], "ehr", {k: med[k] for k in MEDICATION_KEYS})
    prescriptions = {rx["id"]: rx for rx in truth["prescriptions"]}
    active = [rx for rx in truth["prescriptions"] if rx["status"] == "active"]
    for rx in sorted(active, key=lambda r: r["issuedAt"], reverse=True):
        add(rx["atc"], "prescription", _from_prescription(rx, rx["issuedAt"][:10]))
    for atc, day, rx_id in sorted(supplied, key=lambda s: s[1], reverse=True):
        add(atc, "dispensation", _from_prescription(prescriptions[rx_id], day.isoformat()))
    return [
        {**entries[atc], "sources": sources[atc], "pharmacyOnly": sources[atc] == ["dispensation"]}
        for atc in sorted(entries)
    ]


MEDICATION_KEYS = ("code", "name", "dose", "timesPerDay", "route", "since")


def _from_prescription(rx: Json, since: str) -> Json:
    return {
        "code": coding(D.ATC, rx["atc"], rx["inn"]),
        "name": rx["inn"],
        "dose": rx["dose"],
        "timesPerDay": rx["timesPerDay"],
        "route": rx["route"],
        "since": since,
    }
