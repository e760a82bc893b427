"""Ambulance calls: the call records and the emergency visits they lead to."""

from __future__ import annotations

from datetime import datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Person, Visit, clamp, coding, icd10, iso


class Ambulance(PopulationBase):
    """Writes a person's ambulance calls."""

    def _ambulance_calls(self, person: Person, forced: bool) -> list[Visit]:
        """The person's 103 calls; a hospitalisation also becomes a hospital stay in the EHR."""
        rng = self.rng
        chance = 0.03 + 0.02 * len(person.chronic) + (0.05 if person.age >= 75 else 0.0)
        if not forced and rng.random() >= chance:
            return []
        stays: list[Visit] = []
        start = max(self.history_start, person.birth)
        reasons = [
            r
            for r in D.AMBULANCE_REASONS
            if r[3] <= person.age and (r[4] is None or r[4] in person.chronic)
        ]
        for _ in range(rng.randint(1, 3) if forced else rng.randint(1, 2)):
            day = self.day_between(start, self.yesterday)
            received = self.at(day, 0, 24)
            region = person.region_at(day)
            abbr = D.REGION_ABBR[region]
            call_id = f"103-{abbr}-{received.year}-{self.count(f'103-{abbr}-{received.year}'):06d}"
            station = rng.choice(self.directory.orgs_of(region, "ambulance-station"))
            paramedic = rng.choice(self.directory.staff_of(station, "paramedic"))
            complaint, icd, diagnosis, _, _ = rng.choice(reasons)
            roll = rng.random()
            if roll < 0.04:
                outcome: str | None = "FALSE_CALL"
            elif roll < 0.12:
                outcome = "REFUSED"
            elif icd in ("I21.0", "I63.9", "K35.8") or roll < 0.3:
                outcome = "HOSPITALIZED"
            else:
                outcome = "TREATED_ON_SITE"
            if outcome == "FALSE_CALL":
                icd_code: str | None = None
                diagnosis_text: str | None = None
            else:
                icd_code, diagnosis_text = icd, diagnosis
            arrived = (
                received + timedelta(minutes=rng.randint(7, 45)) if rng.random() < 0.95 else None
            )
            vitals_known = outcome != "FALSE_CALL" and rng.random() < 0.9
            systolic = round(rng.gauss(165 if icd in ("I10", "I63.9") else 128, 15))
            bp = f"{systolic}/{round(systolic * 0.62)}" if vitals_known else None
            hr = round(rng.gauss(92, 14)) if vitals_known else None
            spo2 = (
                min(100, round(rng.gauss(95, 2.5))) if vitals_known and rng.random() < 0.9 else None
            )
            glucose = (
                round(clamp(rng.gauss(14 if icd == "E11.9" else 6.0, 2), 2.5, 30), 1)
                if vitals_known and (icd == "E11.9" or rng.random() < 0.3)
                else None
            )
            hospital = (
                rng.choice(self.directory.orgs_of(region, "hospital"))
                if outcome == "HOSPITALIZED"
                else None
            )
            if rng.random() < 0.03:
                outcome, hospital = None, None  # outcome not recorded
            station_known = rng.random() >= 0.03
            paramedic_known = rng.random() >= 0.08
            self.ambulance.add(
                "call",
                (
                    call_id,
                    person.iin,
                    iso(received),
                    day.isoformat(),
                    iso(arrived) if arrived else None,
                    region,
                    station.code if station_known else None,
                    station.bin if station_known else None,
                    station.name if station_known else None,
                    paramedic.pid if paramedic_known else None,
                    paramedic.fio if paramedic_known else None,
                    complaint if rng.random() < 0.97 else None,
                    icd_code,
                    diagnosis_text,
                    bp,
                    hr,
                    spo2,
                    glucose,
                    outcome,
                    hospital.bin if hospital else None,
                    hospital.name if hospital else None,
                ),
            )
            person.truth["ambulanceCalls"].append(
                {
                    "id": call_id,
                    "received": iso(received),
                    "region": region,
                    "diagnosisIcd10": icd_code,
                    "outcome": outcome,
                    "stationCode": station.code if station_known else None,
                }
            )
            person.truth["encounters"].append(
                {
                    "kind": "AMBULANCE",
                    "start": iso(received),
                    "end": None,
                    "organization": {"bin": station.bin} if station_known else None,
                    "practitioner": {"id": paramedic.pid} if paramedic_known else None,
                    "diagnosis": coding(D.ICD10, icd_code, diagnosis_text) if icd_code else None,
                    "region": region,
                }
            )
            if hospital is not None and icd_code is not None:
                admitted = received + timedelta(minutes=rng.randint(40, 90))
                end: datetime | None = admitted + timedelta(days=rng.randint(2, 10))
                if end is not None and end.date() >= self.today:
                    end = None
                staff = rng.choice(
                    self.directory.staff_of(
                        hospital, "surgeon" if icd_code == "K35.8" else "therapist"
                    )
                )
                stays.append(
                    Visit(
                        admitted,
                        end,
                        "IMP",
                        hospital,
                        staff,
                        icd10(icd_code),
                        diagnosis_text,
                    )
                )
        return stays
