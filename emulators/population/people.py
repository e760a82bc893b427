"""One person: the register's Patient (contacts, guardians), the EHR patients, the family truth."""

from __future__ import annotations

from datetime import timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.census import ADULT, Guardianship, Identity
from emulators.population.model import Json, Person, coding
from emulators.population.names import make_name
from emulators.storage import REGIONS


class People(PopulationBase):
    """Writes a person's identity and walks their records."""

    def _person(self, index: int, forced: str | None) -> None:
        rng = self.rng
        who = self.census[index]
        male, age, birth, iin = who.male, who.age, who.birth, who.iin
        region = who.region
        polyclinic = rng.choice(self.directory.orgs_of(region, "polyclinic"))
        gp = rng.choice(self.directory.staff_of(polyclinic, _doctor_role(age)))
        truth: Json = {
            "identity": {
                "iin": iin,
                "familyName": who.family,
                "givenName": who.given,
                "patronymic": who.patronymic,
                "fullName": who.full_name,
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
        self._register_patient(person, who)
        self._family_truth(person, who)
        truth["_secondPass"] = who.second_pass
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
            person.old_gp = rng.choice(
                self.directory.staff_of(person.old_polyclinic, _doctor_role(age))
            )
            person.regions = [person.old_region, region]
        in_lis = not (forced == "noLabHistory" or (forced is None and rng.random() < 0.04))
        self._clinical(person, forced, in_lis)
        self._close_person(iin, truth)

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

    def _register_patient(self, person: Person, who: Identity) -> None:
        pid = f"pat-{person.index + 1}"
        names = (who.family, who.given, who.patronymic, who.full_name)
        person.truth["_names"] = names
        resource = self._patient_resource(pid, person, names, person.region)
        if who.phone is not None:
            resource["telecom"] = [_phone(who.phone)]
        resource["managingOrganization"] = {
            "reference": f"Organization/{person.polyclinic.fhir_id}",
            "display": person.polyclinic.name,
        }
        resource["generalPractitioner"] = [
            {"reference": f"Practitioner/{person.gp.fhir_id}", "display": person.gp.name}
        ]
        contacts = self._contacts(who)
        if contacts:
            resource["contact"] = [_contact_resource(*c) for c in contacts]
        person.truth["contacts"] = [
            {
                "name": name,
                "relationship": text or D.CONTACT_ROLE_DISPLAY[code],
                "phones": [phone] if phone else [],
            }
            for name, text, code, phone in contacts
        ]
        tokens = [
            ("identifier", D.IIN_SYSTEM, person.iin),
            ("gender", "", resource["gender"]),
            ("address-state", "", person.region),
            ("organization", "", f"Organization/{person.polyclinic.fhir_id}"),
            ("general-practitioner", "", f"Practitioner/{person.gp.fhir_id}"),
        ]
        self.register.add("Patient", pid, pid, person.birth.isoformat(), resource, tokens)
        for k, record in enumerate(who.guardians, start=1):
            self._related_person(f"rp-{person.index + 1}-{k}", pid, record)

    def _contacts(self, who: Identity) -> list[tuple[str, str | None, str, str | None]]:
        """(name, relationship text, v2-0131 code, phone): a child's guardians, else 0-2 people."""
        rng = self.rng
        if who.age < ADULT:
            return [
                (
                    self.census[g.adult].full_name,
                    D.GUARDIAN_WORDS[g.code],
                    "C" if g.code == "GUARD" else "N",
                    self.census[g.adult].phone,
                )
                for g in who.guardians
                if g.grants_access(who.age, self.today)
            ]
        count = rng.choices((0, 1, 2), (15, 55, 30))[0]
        contacts: list[tuple[str, str | None, str, str | None]] = []
        if who.spouse is not None and count:
            spouse = self.census[who.spouse]
            word = "супруг" if spouse.male else "супруга"
            contacts.append((spouse.full_name, word, "N", spouse.phone))
        while len(contacts) < count:
            text, code = rng.choice(D.ADULT_CONTACTS)
            male = text in ("сын", "брат", "отец") or (text is None and rng.random() < 0.5)
            born = who.birth.year + rng.randint(-30, 30)
            family, given, patronymic = make_name(rng, male, False, min(born, self.today.year - 18))
            name = " ".join(x for x in (family, given, patronymic) if x)
            phone = f"+7{rng.choice(D.MOBILE_PREFIXES)}{rng.randint(0, 9999999):07d}"
            contacts.append((name, text, code, phone))
        return contacts

    def _related_person(self, rid: str, child_pid: str, record: Guardianship) -> None:
        adult = self.census[record.adult]
        period = {"start": record.start.isoformat()}
        if record.end is not None:
            period["end"] = record.end.isoformat()
        resource: Json = {
            "resourceType": "RelatedPerson",
            "id": rid,
            "identifier": [{"system": D.IIN_SYSTEM, "value": adult.iin}],
            "active": record.active,
            "patient": {"reference": f"Patient/{child_pid}"},
            "relationship": [
                {
                    "coding": [coding(D.ROLE_CODE, record.code, D.ROLE_CODE_DISPLAY[record.code])],
                    "text": D.GUARDIAN_WORDS[record.code],
                }
            ],
            "name": [{"text": adult.full_name}],
            "gender": "male" if adult.male else "female",
            "birthDate": adult.birth.isoformat(),
            "period": period,
        }
        if adult.phone is not None:
            resource["telecom"] = [_phone(adult.phone)]
        tokens = [
            ("identifier", D.IIN_SYSTEM, adult.iin),
            ("active", "", "true" if record.active else "false"),
            ("relationship", D.ROLE_CODE, record.code),
        ]
        self.register.add("RelatedPerson", rid, child_pid, None, resource, tokens)

    def _family_truth(self, person: Person, who: Identity) -> None:
        """Guardians of a child, dependants of an adult, the twin, and the family edge cases."""
        today = self.today
        census = self.census
        guardians = [
            {
                "iin": census[g.adult].iin,
                "relationship": g.code,
                "active": g.active,
                "periodStart": g.start.isoformat(),
                "periodEnd": g.end.isoformat() if g.end else None,
                "grantsAccess": g.grants_access(who.age, today),
            }
            for g in who.guardians
        ]
        dependants = []
        for ward in who.wards:
            child = census[ward]
            if any(
                g.adult == who.index and g.grants_access(child.age, today) for g in child.guardians
            ):
                dependants.append(child.iin)
        truth = person.truth
        truth["guardians"] = guardians
        truth["dependants"] = sorted(set(dependants))
        truth["twin"] = census[who.twin].iin if who.twin is not None else None
        cases = self.cases
        if any(g["periodEnd"] is not None for g in guardians):
            cases["guardianEnded"].append(person.iin)
        if who.age >= ADULT and any(
            g.active and g.start <= today and (g.end is None or today <= g.end)
            for g in who.guardians
        ):
            cases["childTurned18"].append(person.iin)
        codes = {g.code for g in who.guardians}
        if "GUARD" in codes and not codes & {"MTH", "FTH", "PRN"}:
            cases["legalGuardian"].append(person.iin)
        if who.twin is not None:
            mine = {g["iin"] for g in guardians if g["grantsAccess"]}
            theirs = {census[g.adult].iin for g in census[who.twin].guardians}
            if mine - theirs:
                cases["twins"].append(person.iin)

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
                "screeningExclusions": [],
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


def _doctor_role(age: int) -> str:
    """Children are attached to a paediatrician, adults to a general practitioner."""
    return "paediatrician" if age < ADULT else "gp"


def _phone(number: str) -> Json:
    return {"system": "phone", "value": number, "use": "mobile"}


def _contact_resource(name: str, text: str | None, code: str, phone: str | None) -> Json:
    """A Patient.contact: v2-0131 relationship (with the register's word), name and phone."""
    relationship: Json = {"coding": [coding(D.CONTACT_ROLE, code, D.CONTACT_ROLE_DISPLAY[code])]}
    if text is not None:
        relationship["text"] = text
    contact: Json = {"relationship": [relationship], "name": {"text": name}}
    if phone is not None:
        contact["telecom"] = [_phone(phone)]
    return contact
