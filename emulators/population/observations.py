"""Observations: vital signs, body measurements, blood group, smoking status, pregnancy."""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Json, Person, concept, iso

SMOKING = (
    ("266919005", "Never smoked tobacco", "NEVER"),
    ("8517006", "Ex-smoker", "FORMER"),
    ("77176002", "Smoker", "CURRENT"),
)
ABO = (
    ("O(I)", "58460004", "Blood group O"),
    ("A(II)", "112144000", "Blood group A"),
    ("B(III)", "112149005", "Blood group B"),
    ("AB(IV)", "165743006", "Blood group AB"),
)


# Median height (cm) and BMI by completed year of age 0..18 (WHO-like growth references).
HEIGHT = {
    True: (
        50,
        76,
        88,
        96,
        103,
        110,
        116,
        122,
        128,
        133,
        138,
        143,
        149,
        156,
        163,
        169,
        173,
        175,
        176,
    ),
    False: (
        49,
        74,
        86,
        95,
        102,
        109,
        115,
        121,
        127,
        133,
        138,
        144,
        151,
        157,
        160,
        162,
        163,
        163,
        163,
    ),
}
CHILD_BMI = (
    13.5,
    17.2,
    16.5,
    16.0,
    15.7,
    15.4,
    15.4,
    15.6,
    16.0,
    16.4,
    16.9,
    17.5,
    18.0,
    18.7,
    19.3,
    19.8,
    20.4,
    20.9,
    21.3,
)


class Observations(PopulationBase):
    """Writes a person's observations."""

    def _body(self, person: Person, day: date) -> tuple[float, float, float]:
        """(weight kg, height cm, BMI) on a day, from the person's growth percentiles."""
        years = max(0.0, (day - person.birth).days / 365.25)
        heights = HEIGHT[person.male]
        if years < 18:
            low = int(years)
            frac = years - low
            height = heights[low] + (heights[low + 1] - heights[low]) * frac
            bmi = CHILD_BMI[low] + (CHILD_BMI[low + 1] - CHILD_BMI[low]) * frac
            bmi *= 1 + 0.09 * person.z_bmi
            height *= 1 + 0.04 * person.z_height
        else:
            height = (heights[18] + 6.5 * person.z_height) - max(0.0, years - 60) * 0.12
            bmi = 21.5 + min(years - 18, 47) * 0.14 + 3.6 * person.z_bmi
            if "E11.9" in person.chronic:
                bmi += 3.0
        bmi = max(12.5, min(48.0, bmi))
        height = round(height, 1)
        weight = round(bmi * (height / 100) ** 2, 1)
        return weight, height, round(weight / (height / 100) ** 2, 1)

    def _observation(
        self,
        person: Person,
        moment: datetime,
        category: str,
        code: str,
        display: str,
        value: Json,
        performer: list[Json],
    ) -> str:
        body: Json = {
            "status": "final",
            "category": [
                concept(D.OBSERVATION_CATEGORY, category, D.OBSERVATION_CATEGORY_DISPLAY[category])
            ],
            "code": concept(D.LOINC, code, display),
            "effectiveDateTime": iso(moment),
            "performer": performer,
        }
        body.update(value)
        tokens = [
            ("code", D.LOINC, code),
            ("category", D.OBSERVATION_CATEGORY, category),
            ("status", "", "final"),
        ]
        return self.emit(person, moment.date(), "Observation", body, tokens, iso(moment))[1]

    def _weight_unrecorded(self, person: Person) -> bool:
        """A child on a weight-based course whose weight never reached the EHR (1 in 2).

        It happens (a dose worked out at a home visit, a measurement written on paper), and it
        is the case a dose check must answer NO_WEIGHT for. Chosen from the IIN, not the
        random stream, so that no one's data change (only later resource ids shift).
        """
        if person.age >= 12:
            return False
        courses = {course[0] for course in D.CHILD_COURSES}
        truth = person.truth
        active = {m["code"]["code"] for m in truth["ehrMedications"] if m["status"] == "active"}
        active |= {rx["atc"] for rx in truth["prescriptions"] if rx["status"] == "active"}
        return bool(active & courses) and zlib.crc32(person.iin.encode()) % 2 == 0

    def _observations(self, person: Person, checkups: list[datetime]) -> None:
        rng = self.rng
        truth = person.truth
        if not checkups:
            checkups = [self.at(self.day_between(self.history_start, self.yesterday))]
        sets = [checkups[-1]]
        if len(checkups) > 1 and rng.random() < 0.5:
            sets.insert(0, checkups[0])
        hypertensive = "I10" in person.chronic
        # Everything below is drawn as usual, so the rest of the person's records stay the same.
        weighed = not self._weight_unrecorded(person)
        for moment in sets:
            moment += timedelta(minutes=3)
            day = moment.date()
            performer = [self.staff_ref(person.gp_at(day)), self.org_ref(person.polyclinic_at(day))]
            weight, height, bmi = self._body(person, day)
            years = person.age - (self.today - day).days // 365
            q = _quantity
            if weighed:
                self._observation(
                    person,
                    moment,
                    "vital-signs",
                    "29463-7",
                    "Body weight",
                    q(weight, "kg"),
                    performer,
                )
                self._observation(
                    person,
                    moment,
                    "vital-signs",
                    "8302-2",
                    "Body height",
                    q(height, "cm"),
                    performer,
                )
                self._observation(
                    person,
                    moment,
                    "vital-signs",
                    "39156-5",
                    "Body mass index (BMI)",
                    q(bmi, "kg/m2"),
                    performer,
                )
            waist = None
            if years >= 18:
                base = (2.9 * bmi + 13) if person.male else (2.7 * bmi + 12)
                waist = float(round(base + rng.gauss(0, 3)))
                self._observation(
                    person,
                    moment,
                    "exam",
                    "8280-0",
                    "Waist circumference",
                    q(waist, "cm"),
                    performer,
                )
            bp = None
            if years >= 7:
                if years < 18:
                    systolic = round(rng.gauss(106, 8))
                elif hypertensive:
                    systolic = round(rng.gauss(142, 12))
                else:
                    systolic = round(rng.gauss(112 + 0.4 * (years - 18), 9))
                diastolic = round(systolic * 0.63 + rng.gauss(0, 5))
                bp = f"{systolic}/{diastolic}"
                body = {
                    "component": [
                        {
                            "code": concept(D.LOINC, "8480-6", "Systolic blood pressure"),
                            "valueQuantity": _quantity(systolic, "mm[Hg]")["valueQuantity"],
                        },
                        {
                            "code": concept(D.LOINC, "8462-4", "Diastolic blood pressure"),
                            "valueQuantity": _quantity(diastolic, "mm[Hg]")["valueQuantity"],
                        },
                    ]
                }
                self._observation(
                    person,
                    moment,
                    "vital-signs",
                    "85354-9",
                    "Blood pressure panel with all children optional",
                    body,
                    performer,
                )
            base_hr = (
                130
                if years < 1
                else 112
                if years < 3
                else 98
                if years < 7
                else 86
                if years < 13
                else 74
            )
            heart_rate = round(rng.gauss(base_hr, 7))
            self._observation(
                person,
                moment,
                "vital-signs",
                "8867-4",
                "Heart rate",
                q(heart_rate, "/min"),
                performer,
            )
            if weighed:
                truth["anthropometrics"] = {
                    "weightKg": weight,
                    "heightCm": height,
                    "bmi": bmi,
                    "waistCm": waist,
                    "measuredAt": iso(moment),
                }
            truth["physiologicalState"]["bloodPressure"] = bp
            truth["physiologicalState"]["heartRate"] = heart_rate
        latest = sets[-1] + timedelta(minutes=9)
        performer = [self.staff_ref(person.gp_at(latest.date()))]
        if rng.random() < 0.85:  # blood group, typed once, long ago
            earliest = max(person.birth + timedelta(days=1), self.today - timedelta(days=3650))
            typed = self.at(self.day_between(earliest, self.yesterday))
            lab_org = [self.org_ref(person.polyclinic_at(typed.date()))]
            group = rng.choices(ABO, (32, 30, 30, 8))[0]
            positive = rng.random() < 0.93
            self._observation(
                person,
                typed,
                "laboratory",
                "883-9",
                "ABO group [Type] in Blood",
                {"valueCodeableConcept": concept(D.SNOMED, group[1], group[2])},
                lab_org,
            )
            rh_code, rh_display = (
                ("165747007", "RhD positive") if positive else ("165746003", "RhD negative")
            )
            self._observation(
                person,
                typed,
                "laboratory",
                "10331-7",
                "Rh [Type] in Blood",
                {"valueCodeableConcept": concept(D.SNOMED, rh_code, rh_display)},
                lab_org,
            )
            truth["bloodGroup"] = f"{group[0]} Rh{'+' if positive else '-'}"
        if person.age >= 6 and rng.random() < 0.75:
            exercise = rng.choice((0, 30, 60, 90, 120, 150, 180, 240, 300, 420))
            sleep = round(min(11.0, max(4.5, rng.gauss(7.6 if person.age >= 18 else 9.0, 0.9))), 1)
            self._observation(
                person,
                latest,
                "social-history",
                "82290-8",
                "Frequency of moderate to vigorous aerobic physical activity",
                q(exercise, "min/wk"),
                performer,
            )
            self._observation(
                person,
                latest,
                "social-history",
                "93832-4",
                "Sleep duration",
                q(sleep, "h/d"),
                performer,
            )
            truth["lifestyle"] = {"exerciseMinutesPerWeek": exercise, "sleepHoursPerDay": sleep}
        if person.age >= 15 and rng.random() < 0.75:
            weights = (50, 15, 35) if person.male else (90, 4, 6)
            if person.edd is not None:
                weights = (95, 5, 0)
            smoking = rng.choices(SMOKING, weights)[0]
            audit = (
                0
                if person.edd is not None
                else min(12, max(0, round(rng.gauss(3.5 if person.male else 1.5, 2))))
            )
            drugs = rng.random() < 0.01
            self._observation(
                person,
                latest,
                "social-history",
                "72166-2",
                "Tobacco smoking status",
                {"valueCodeableConcept": concept(D.SNOMED, smoking[0], smoking[1])},
                performer,
            )
            self._observation(
                person,
                latest,
                "social-history",
                "75626-2",
                "Total score [AUDIT-C]",
                {"valueInteger": audit},
                performer,
            )
            drug_code = (
                ("228367002", "Uses drugs") if drugs else ("228366006", "Does not misuse drugs")
            )
            self._observation(
                person,
                latest,
                "social-history",
                "11343-1",
                "Other non-medical drug use",
                {"valueCodeableConcept": concept(D.SNOMED, *drug_code)},
                performer,
            )
            truth["riskBehaviours"] = {
                "smoking": smoking[2],
                "alcoholAuditC": audit,
                "drugUse": drugs,
            }
        if person.edd is not None:
            conception = person.edd - timedelta(days=266)
            first_visit = max(conception + timedelta(days=35), self.today - timedelta(days=28))
            moment = self.at(self.day_between(first_visit, self.yesterday))
            obs_by = [
                self.staff_ref(
                    rng.choice(self.directory.staff_of(person.polyclinic, "gynaecologist"))
                )
            ]
            self._observation(
                person,
                moment,
                "exam",
                "82810-3",
                "Pregnancy status",
                {"valueCodeableConcept": concept(D.SNOMED, "77386006", "Pregnant")},
                obs_by,
            )
            self._observation(
                person,
                moment,
                "exam",
                "11778-8",
                "Delivery date Estimated",
                {"valueDateTime": person.edd.isoformat()},
                obs_by,
            )
            weeks = (280 - (person.edd - self.today).days) // 7
            truth["physiologicalState"]["pregnancy"] = {
                "status": "PREGNANT",
                "expectedDeliveryDate": person.edd.isoformat(),
                "gestationalWeeks": weeks,
            }
        elif not person.male and 18 <= person.age <= 45 and rng.random() < 0.3:
            self._observation(
                person,
                latest,
                "exam",
                "82810-3",
                "Pregnancy status",
                {"valueCodeableConcept": concept(D.SNOMED, "60001007", "Not pregnant")},
                performer,
            )
            truth["physiologicalState"]["pregnancy"] = {
                "status": "NOT_PREGNANT",
                "expectedDeliveryDate": None,
                "gestationalWeeks": None,
            }


def _quantity(value: float, unit: str) -> Json:
    return {"valueQuantity": {"value": value, "unit": unit, "system": D.UCUM, "code": unit}}
