"""Prevention and diagnostics: immunizations, screenings and diagnostic studies."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import (
    OVERDUE_YEARS,
    Org,
    Person,
    coding,
    concept,
    iso,
    years_before,
)


class Prevention(PopulationBase):
    """Writes a person's immunizations, screenings and studies."""

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
        self._screening_exclusions(person)
        eligible = [
            s
            for s in D.SCREENINGS
            if s.min_age <= person.age <= s.max_age
            and (s.sex is None or (s.sex == "male") == person.male)
        ]
        if not eligible:
            return
        offered = [s for s in eligible if s.code not in person.excluded_screenings]
        overdue_pick = rng.choice(offered) if force_overdue and offered else None
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
            excluded = person.excluded_screenings.get(screening.code)
            if excluded is not None and day >= excluded[0]:
                continue  # no screening once the disease is known or the organ removed
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

    def _screening_exclusions(self, person: Person) -> None:
        """The truth's screeningExclusions: what the person's plan must never offer."""
        person.truth["screeningExclusions"] = [
            {
                "code": coding(D.SNOMED, s.code, s.display),
                "reason": person.excluded_screenings[s.code][1],
            }
            for s in D.SCREENINGS
            if s.code in person.excluded_screenings
            and (s.sex is None or (s.sex == "male") == person.male)
        ]

    def _study(self, person: Person, moment: datetime, key: str, org: Org) -> None:
        rng = self.rng
        loinc, display, category, conclusions = D.STUDIES[key]
        conclusion = rng.choice(conclusions)
        body = {
            "status": "final",
            "category": [
                concept(D.DIAGNOSTIC_SERVICE, category, D.DIAGNOSTIC_SERVICE_DISPLAY[category])
            ],
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
            planned("us-heart-valve" if person.implant == "valve" else "us-heart")
        if person.edd is not None:
            day = max(person.edd - timedelta(days=266 - 70), self.today - timedelta(days=60))
            day = min(day, self.yesterday)
            self._study(person, self.at(day), "us-pregnancy", person.polyclinic_at(day))
