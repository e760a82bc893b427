"""One person: sex, age, name, IIN, region, the register's Patient and the EHR patients."""

from __future__ import annotations

from bisect import bisect
from datetime import date, timedelta

from emulators import ids
from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Json, Person, age_on, years_before
from emulators.population.names import make_name
from emulators.storage import REGIONS


class People(PopulationBase):
    """Writes a person's identity and walks their records."""

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
