"""Conditions (chronic and episodic), implants and allergies in the EHRs."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.medications import licensed
from emulators.population.model import (
    Json,
    Person,
    Staff,
    coding,
    concept,
    icd10,
    iso,
    years_before,
)

PROBLEM_STATUS = {
    "active": "ACTIVE",
    "recurrence": "ACTIVE",
    "relapse": "ACTIVE",
    "inactive": "INACTIVE",
    "remission": "INACTIVE",
    "resolved": "RESOLVED",
}
ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})
CRITICALITY = {"low": "LOW", "high": "HIGH", "unable-to-assess": "UNKNOWN"}
IMPLANT_FOR = {"pacemaker": "I44.2", "valve": "I35.0", "pump": "E10.9"}
IMPLANTS = {
    "pacemaker": ("14106009", "Cardiac pacemaker", "Электрокардиостимулятор"),
    "valve": ("25510005", "Heart valve prosthesis", "Протез аортального клапана"),
    "pump": ("69805005", "Insulin pump", "Инсулиновая помпа"),
}


class Clinical(PopulationBase):
    """Writes a person's problems, implants and allergies."""

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
        person.implant = implant
        self._chronic_records(person, implant)
        self._organ_removals(person)
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
            if code == "I35.0" and implant == "valve":
                status = "resolved"  # the stenosed valve was replaced by the prosthesis
            elif code == "J45.9":
                status = rng.choices(("active", "remission", "relapse"), (70, 20, 10))[0]
            elif code == "K29.5":
                status = rng.choices(("active", "remission", "recurrence"), (50, 35, 15))[0]
            onset = self.at(onset_day)
            if status in ACTIVE_STATUSES:
                self._exclude_screenings(person, code, onset_day)
            self._condition(
                person,
                onset_day,
                onset,
                icd10(code),
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
                    r
                    for r in group
                    if r.atc not in person.excluded
                    and r.atc not in seen_atc
                    and licensed(r.atc, person.birth, since_day)
                ]
                if not options:
                    # A child too young for the group's drugs gets the paediatric alternative.
                    options = [
                        D.PAEDIATRIC_ALTERNATIVES[r.atc]
                        for r in group
                        if r.atc in D.PAEDIATRIC_ALTERNATIVES
                        and licensed(D.PAEDIATRIC_ALTERNATIVES[r.atc].atc, person.birth, since_day)
                    ]
                if not options:
                    continue
                regimen = rng.choice(options)
                seen_atc.add(regimen.atc)
                self._maintenance(person, since_day, regimen)
            person.onsets[code] = onset_day
        if implant is not None:
            self._implant(person, implant)

    def _implant(self, person: Person, implant: str) -> None:
        """The device, implanted after the disease it treats; a valve leaves Z95.2 on the list."""
        snomed, display, text = IMPLANTS[implant]
        treated = person.onsets.get(IMPLANT_FOR[implant])
        earliest = self.today - timedelta(days=365 * 8)
        if treated is not None:
            earliest = max(earliest, treated + timedelta(days=30))
        day = self.day_between(earliest, self.today - timedelta(days=30))
        body = {"status": "active", "type": concept(D.SNOMED, snomed, display, text)}
        tokens = [("type", D.SNOMED, snomed), ("status", "", "active")]
        self.emit(person, day, "Device", body, tokens, None, "patient")
        person.truth["implants"].append(coding(D.SNOMED, snomed, display))
        if implant == "valve":
            moment = self.at(day)
            self._condition(
                person, day, moment, icd10("Z95.2"), "Протез аортального клапана", "active",
                "problem-list-item", person.gp_at(day),
            )  # fmt: skip

    def _exclude_screenings(self, person: Person, icd: str, since: date) -> None:
        """Record the screenings an active condition excludes from its onset on."""
        for screening, (categories, _) in D.SCREENING_EXCLUSIONS.items():
            if icd.startswith(categories):
                reason = f"under dynamic observation for {icd} since {since.isoformat()}"
                self._exclude(person, screening, since, reason)

    @staticmethod
    def _exclude(person: Person, screening: str, since: date, reason: str) -> None:
        known = person.excluded_screenings.get(screening)
        if known is None or since < known[0]:
            person.excluded_screenings[screening] = (since, reason)

    def _organ_removals(self, person: Person) -> None:
        """Past hysterectomies and mastectomies: the procedure and the problem list they leave."""
        rng = self.rng
        if person.male:
            return
        for removal in D.ORGAN_REMOVALS:
            if person.age < removal.min_age or rng.random() >= removal.chance:
                continue
            earliest = max(years_before(person.birth, -35), self.today - timedelta(days=365 * 20))
            day = self.day_between(earliest, self.today - timedelta(days=60))
            moment = self.at(day)
            surgeon = person.gp_at(day)
            self._condition(
                person, day, moment, icd10(removal.reason), "", removal.reason_status,
                "problem-list-item", surgeon,
            )  # fmt: skip
            after = moment + timedelta(days=3)
            self._condition(
                person, after.date(), after, icd10(removal.absence), "", "active",
                "problem-list-item", surgeon,
            )  # fmt: skip
            body = {
                "status": "completed",
                "category": {"text": "surgical"},
                "code": concept(D.SNOMED, removal.snomed, removal.display),
                "performedDateTime": iso(moment + timedelta(hours=2)),
                "performer": [{"actor": self.staff_ref(surgeon)}],
                "outcome": {"text": "Без осложнений"},
            }
            tokens = [
                ("category", "", "surgical"),
                ("code", D.SNOMED, removal.snomed),
                ("status", "", "completed"),
            ]
            self.emit(person, day, "Procedure", body, tokens, iso(moment + timedelta(hours=2)))
            for screening, (_, procedures) in D.SCREENING_EXCLUSIONS.items():
                if removal.snomed in procedures:
                    reason = f"{removal.display.lower()} on {day.isoformat()}"
                    self._exclude(person, screening, day, reason)
