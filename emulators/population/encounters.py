"""Encounters: planned outpatient visits, hospital stays and the episode records of each."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Json, Person, Staff, Visit, concept, icd10, iso

CLASS_DISPLAY = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency"}
KIND_OF_CLASS = {"AMB": "OUTPATIENT", "IMP": "INPATIENT", "EMER": "EMERGENCY"}
SURGERY = {
    "K35.8": ("80146002", "Appendectomy"),
    "K80.2": ("38102005", "Cholecystectomy"),
    "S72.0": ("52734007", "Total replacement of hip"),
}


class Encounters(PopulationBase):
    """Plans and writes a person's encounters."""

    def _plan_visits(self, person: Person, calls: list[Visit]) -> list[Visit]:
        """Outpatient, emergency and inpatient encounters of the last three years."""
        rng = self.rng
        age = person.age
        start = max(self.history_start, person.birth)
        visits: list[Visit] = list(calls)
        acute_pool = D.CHILD_ACUTE if age < 14 else D.ADULT_ACUTE
        # Routine check-ups and chronic follow-ups at the attached polyclinic.
        routine = rng.randint(3, 8) if age < 5 else rng.randint(0, 3)
        routine += sum(rng.randint(1, 3) for c in person.chronic if c != "Z34.9")
        check_code = (
            ("Z00.1", "Routine child health examination", "Профилактический осмотр ребёнка")
            if age < 18
            else ("Z00.0", "General medical examination", "Профилактический осмотр")
        )
        chronic = [c for c in person.chronic if c != "Z34.9"]
        for _ in range(routine):
            day = self.day_between(start, self.yesterday)
            if chronic and rng.random() < 0.7:
                condition = D.CHRONIC[rng.choice(chronic)]
                reason = (condition.code, condition.display, condition.name_ru)
            else:
                reason = check_code
            visits.append(self._outpatient(person, day, reason, specialist_for=reason[0]))
        # Most people saw their own GP this year; movers always did, in their new region.
        if rng.random() < 0.85 or not visits or person.moved_at is not None:
            first = self.today - timedelta(days=330)
            if person.moved_at is not None:
                first = max(first, person.moved_at)
            day = self.day_between(first, self.yesterday)
            visits.append(self._outpatient(person, day, check_code, own_gp=True))
        if person.moved_at is not None:  # a mover has history in the old region too
            day = self.day_between(
                person.moved_at - timedelta(days=400), person.moved_at - timedelta(days=1)
            )
            visits.append(self._outpatient(person, max(day, start), check_code))
        if person.edd is not None:
            conception = person.edd - timedelta(days=266)
            first = max(conception + timedelta(days=42), start)
            for _ in range(rng.randint(3, 6)):
                day = self.day_between(first, self.yesterday)
                reason = ("Z34.9", D.CHRONIC["Z34.9"].display, D.CHRONIC["Z34.9"].name_ru)
                visits.append(self._outpatient(person, day, reason, specialist="gynaecologist"))
        # Acute illnesses treated as outpatients (children more often).
        episodes = rng.randint(1, 4) if age < 14 else rng.choice((0, 0, 1, 1, 2))
        if age < 14 and rng.random() < 0.25:
            episodes += 1
            recent = True
        else:
            recent = False
        for k in range(episodes):
            if recent and k == episodes - 1:
                day = self.today - timedelta(days=rng.randint(1, 4))
            else:
                day = self.day_between(start, self.yesterday)
            acute = rng.choice(acute_pool)
            visit = self._outpatient(person, max(day, start), acute)
            visit.acute = True
            visits.append(visit)
        # Emergency department and hospital stays at a hospital, another organisation.
        if rng.random() < 0.05:
            day = self.day_between(start, self.yesterday)
            acute = rng.choice(D.ADULT_ACUTE if age >= 14 else D.CHILD_ACUTE)
            visits.append(self._hospital_visit(person, day, "EMER", acute))
        inpatient_chance = 0.04 + 0.03 * len(chronic) + (0.05 if age >= 70 else 0.0)
        if rng.random() < inpatient_chance:
            fitting = [a for a in D.INPATIENT_ACUTE if _fits_inpatient(a.code, age)]
            acute = rng.choice(fitting)
            day = self.day_between(start, self.yesterday)
            visits.append(self._hospital_visit(person, day, "IMP", acute))
        visits.sort(key=lambda v: v.start)
        return visits

    def _outpatient(
        self,
        person: Person,
        day: date,
        reason: tuple[str, str, str],
        own_gp: bool = False,
        specialist_for: str | None = None,
        specialist: str | None = None,
    ) -> Visit:
        rng = self.rng
        org = person.polyclinic_at(day)
        staff: Staff | None = person.gp_at(day)
        role = specialist
        if specialist_for in ("I10", "I25.1", "I48.9", "I44.2", "I35.0") and rng.random() < 0.3:
            role = "cardiologist"
        elif specialist_for in ("E11.9", "E10.9", "E03.9") and rng.random() < 0.4:
            role = "endocrinologist"
        if role and not own_gp:
            staff = rng.choice(self.directory.staff_of(org, role))
        if not own_gp and rng.random() < 0.08:
            staff = None  # participant not recorded
        start = self.at(day)
        end = start + timedelta(minutes=rng.randint(12, 40))
        return Visit(start, end, "AMB", org, staff, icd10(reason[0]), reason[2])

    def _hospital_visit(self, person: Person, day: date, cls: str, acute: D.Acute) -> Visit:
        rng = self.rng
        region = person.region_at(day)
        org = rng.choice(self.directory.orgs_of(region, "hospital"))
        role = (
            "emergency" if cls == "EMER" else ("surgeon" if acute.code in SURGERY else "therapist")
        )
        staff = rng.choice(self.directory.staff_of(org, role))
        start = self.at(day, 0, 24)
        if cls == "EMER":
            end: datetime | None = start + timedelta(minutes=rng.randint(60, 360))
        else:
            end = start + timedelta(days=rng.randint(3, 12), hours=rng.randint(0, 6))
        if end is not None and end.date() >= self.today:
            end = None  # still in hospital
        visit = Visit(start, end, cls, org, staff, icd10(acute.code), acute.name_ru)
        return visit

    def _write_visits(self, person: Person, visits: list[Visit], in_lis: bool) -> None:
        rng = self.rng
        truth = person.truth
        for visit in visits:
            day = visit.start.date()
            period: Json = {"start": iso(visit.start)}
            if visit.end is not None:
                period["end"] = iso(visit.end)
            reason = visit.reason if rng.random() < 0.96 else None
            body: Json = {
                "status": "finished" if visit.end is not None else "in-progress",
                "class": {
                    "system": D.ACT_CODE,
                    "code": visit.cls,
                    "display": CLASS_DISPLAY[visit.cls],
                },
            }
            if visit.staff is not None:
                body["participant"] = [{"individual": self.staff_ref(visit.staff)}]
            body["period"] = period
            if reason is not None:
                body["reasonCode"] = [{"coding": [reason], "text": _ru(visit)}]
            body["serviceProvider"] = self.org_ref(visit.org)
            tokens = [("class", D.ACT_CODE, visit.cls), ("status", "", body["status"])]
            if reason is not None:
                tokens.append(("reason-code", D.ICD10, reason["code"]))
            eid, region = self.emit(person, day, "Encounter", body, tokens, period["start"])
            truth["encounters"].append(
                {
                    "kind": KIND_OF_CLASS[visit.cls],
                    "start": period["start"],
                    "end": period.get("end"),
                    "organization": {"bin": visit.org.bin},
                    "practitioner": {"id": visit.staff.pid} if visit.staff else None,
                    "diagnosis": reason,
                    "region": region,
                }
            )
            acute = visit.acute or visit.cls in ("IMP", "EMER")
            if acute and visit.reason is not None:
                self._episode(person, visit, eid, in_lis)

    def _episode(self, person: Person, visit: Visit, eid: str, in_lis: bool) -> None:
        """The diagnosis, treatment and tests of an acute episode."""
        rng = self.rng
        reason = visit.reason
        assert reason is not None
        day = visit.start.date()
        recorder = visit.staff or person.gp_at(day)
        ongoing = visit.end is None or (self.today - day).days <= 10
        status = "active" if ongoing else "resolved"
        self._condition(
            person,
            day,
            visit.start,
            reason,
            _ru(visit),
            status,
            "encounter-diagnosis",
            recorder,
            eid,
        )
        code = reason["code"]
        if visit.cls == "IMP" and code in SURGERY:
            self._condition(
                person,
                day,
                visit.start,
                reason,
                _ru(visit),
                "resolved",
                "problem-list-item",
                recorder,
                eid,
            )
            snomed, display = SURGERY[code]
            performed = visit.start + timedelta(hours=rng.randint(2, 20))
            body = {
                "status": "completed",
                "category": {"text": "surgical"},
                "code": concept(D.SNOMED, snomed, display),
                "performedDateTime": iso(performed),
                "performer": [{"actor": self.staff_ref(recorder)}],
                "outcome": {"text": "Без осложнений"},
            }
            tokens = [
                ("category", "", "surgical"),
                ("code", D.SNOMED, snomed),
                ("status", "", "completed"),
            ]
            self.emit(person, day, "Procedure", body, tokens, iso(performed))
        if visit.cls in ("IMP", "EMER"):
            study = {"J18.9": "xray-pneumonia", "K35.8": "us-abdomen", "K80.2": "us-abdomen"}.get(
                code, "ecg"
            )
            self._study(person, visit.start + timedelta(hours=1), study, visit.org)
            if in_lis:
                self._lab_order(
                    person,
                    visit.start + timedelta(minutes=40),
                    ("HGB", "WBC", "PLT", "CRP"),
                    acute=True,
                    lab=None,
                )
        self._episode_medication(person, visit, ongoing)


def _fits_inpatient(code: str, age: int) -> bool:
    minimum = {"S72.0": 65, "I63.9": 50, "K80.2": 30, "N10": 15, "K35.8": 5}.get(code, 0)
    return age >= minimum


def _ru(visit: Visit) -> str:
    if visit.reason_text:
        return visit.reason_text
    return visit.reason["display"] if visit.reason else ""
