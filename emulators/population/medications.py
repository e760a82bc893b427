"""Medications: EHR MedicationStatements, DPS prescriptions and dispensations."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Person, Staff, Visit, coding, concept, iso

TIMES_TEXT = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
UCUM_CODE = {"IU": "[IU]"}
# Strength units by form: per ml for liquids and pens, per metered dose for inhalers.
STRENGTH_UNIT = {"suspension": "{unit}/ml", "pen": "{unit}/ml", "inhaler": "{unit}/dose"}
WARFARIN = "B01AA03"
SUPPLY_MARGIN = 2  # days: no supply ends this close to today, so rounding cannot flip a verdict


def fmt_number(value: float) -> str:
    """A dose or strength as people write it: 500, 1.5."""
    return f"{value:g}"


class Medications(PopulationBase):
    """Writes a person's medicines in the EHR and the DPS."""

    def _episode_medication(self, person: Person, visit: Visit, ongoing: bool) -> None:
        rng = self.rng
        code = visit.reason["code"] if visit.reason else ""
        weight = self._body(person, visit.start.date())[0]
        child = person.age < 14
        if visit.cls == "IMP":
            if code == "N10":
                regimen = ("J01GB03", max(80.0, min(400.0, round(5 * weight / 40) * 40)), 1, 7)
            elif code == "J18.9" and ({"J45.9", "J44.9"} & set(person.chronic)):
                regimen = ("H02AB06", 30.0, 1, 5)
            elif code == "J18.9":
                regimen = _child_regimen("J01CR02", weight) if child else ("J01CR02", 875.0, 2, 7)
            elif child:
                return
            else:
                regimen = ("B01AB05", 40.0, 1, 7)
        elif code in ("J06.9", "A09.9", "M54.5") or rng.random() < 0.3:
            drug = "M01AE01" if (code == "M54.5" or rng.random() < 0.4) else "N02BE01"
            if drug in person.excluded:
                drug = "N02BE01"
            regimen = (
                _child_regimen(drug, weight)
                if child
                else ((drug, 400.0, 3, 5) if drug == "M01AE01" else (drug, 500.0, 3, 3))
            )
        else:
            options = [
                a for a in ("J01CA04", "J01CR02", "J01FA10", "J01DC02") if a not in person.excluded
            ]
            drug = rng.choice(options)
            regimen = (
                _child_regimen(drug, weight)
                if child
                else {
                    "J01CA04": ("J01CA04", 500.0, 3, 7),
                    "J01CR02": ("J01CR02", 875.0, 2, 7),
                    "J01FA10": ("J01FA10", 500.0, 1, 3),
                    "J01DC02": ("J01DC02", 500.0, 2, 7),
                }[drug]
            )
        atc, dose, times, days = regimen
        start = visit.start + timedelta(minutes=30)
        if not licensed(atc, person.birth, start.date()):
            return  # too young for it: treated without a medicine of the generator's list
        end = start + timedelta(days=days)
        active = ongoing and end.date() >= self.today
        self._medication_statement(
            person,
            start,
            atc,
            dose,
            times,
            "active" if active else "completed",
            visit.staff or person.gp_at(start.date()),
            end,
        )
        if visit.cls == "AMB" and rng.random() < 0.3:
            self._prescription(person, start.date(), atc, dose, times, days, "dispensed", "OSMS")

    def _maintenance(self, person: Person, since_day: date, regimen: D.Regimen) -> None:
        """A long-term medicine: in the EHR, in DPS prescriptions, or in both."""
        rng = self.rng
        if regimen.atc == WARFARIN:
            person.warfarin_since = since_day
        mode = rng.choices(("both", "ehr", "dps"), (60, 25, 15))[0]
        program = "GOBMP" if rng.random() < 0.7 else "OSMS"
        if mode in ("both", "ehr"):
            status = "on-hold" if rng.random() < 0.03 else "active"
            self._medication_statement(
                person,
                self.at(since_day),
                regimen.atc,
                regimen.dose,
                regimen.times_per_day,
                status,
                person.gp_at(since_day),
                None,
            )
            if status != "active":
                mode = "ehr"
        if mode in ("both", "dps"):
            first = max(since_day, self.today - timedelta(days=180))
            latest = self.today - timedelta(days=rng.randint(1, 28))
            issues = []
            day = latest
            while day >= first:
                issues.append(day)
                day -= timedelta(days=30 + rng.randint(-2, 3))
            for k, issue in enumerate(reversed(issues)):
                is_latest = k == len(issues) - 1
                if is_latest:
                    status = "active" if rng.random() < 0.7 else "dispensed"
                else:
                    status = rng.choices(("dispensed", "expired", "cancelled"), (85, 10, 5))[0]
                self._prescription(
                    person,
                    issue,
                    regimen.atc,
                    regimen.dose,
                    regimen.times_per_day,
                    30,
                    status,
                    program,
                )

    def _medication_statement(
        self,
        person: Person,
        start: datetime,
        atc: str,
        dose: float,
        times: int,
        status: str,
        source: Staff,
        end: datetime | None,
    ) -> None:
        drug = D.DRUGS[atc]
        unit = drug.unit
        period = {"start": iso(start)}
        if end is not None and status != "active":
            period["end"] = iso(end)
        body = {
            "status": status,
            "medicationCodeableConcept": concept(D.ATC, atc, drug.inn),
            "effectivePeriod": period,
            "informationSource": self.staff_ref(source),
            "dosage": [
                {
                    "text": f"по {fmt_number(dose)} {_unit_ru(unit)} {times} р/день",
                    "timing": {"repeat": {"frequency": times, "period": 1, "periodUnit": "d"}},
                    "route": {"text": drug.route},
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": dose,
                                "unit": unit,
                                "system": D.UCUM,
                                "code": UCUM_CODE.get(unit, unit),
                            }
                        }
                    ],
                }
            ],
        }
        tokens = [("status", "", status), ("code", D.ATC, atc)]
        _, region = self.emit(
            person, start.date(), "MedicationStatement", body, tokens, period["start"]
        )
        person.truth["ehrMedications"].append(
            {
                "code": coding(D.ATC, atc, drug.inn),
                "name": drug.inn,
                "dose": {"value": dose, "unit": unit},
                "timesPerDay": times,
                "route": drug.route,
                "since": start.date().isoformat(),
                "status": status,
                "region": region,
            }
        )

    def _prescription(
        self,
        person: Person,
        issue: date,
        atc: str,
        dose: float,
        times: int,
        days: int,
        status: str,
        program: str,
    ) -> None:
        rng = self.rng
        drug = D.DRUGS[atc]
        gp = person.gp_at(issue)
        issued = self.at(issue)
        rx_id = f"RX-{self.count('rx'):07d}"
        valid_until = (issue + timedelta(days=30)).isoformat()
        strength_unit = STRENGTH_UNIT.get(drug.form, "{unit}").format(unit=drug.unit)
        dispensed: datetime | None = None
        if status == "dispensed":
            day = min(issue + timedelta(days=rng.randint(0, 3)), self.yesterday)
            dispensed = self.at(day, 9, 21)
            if dispensed < issued:
                dispensed = issued + timedelta(minutes=rng.randint(20, 120))
            # Lengthen the course until its supply ends clearly before or after today.
            elapsed = (self.today - dispensed.date()).days
            while abs(_supply(drug, strength_unit, dose, times, days) - elapsed) <= SUPPLY_MARGIN:
                days += 1
        text = f"{fmt_number(dose)} {drug.unit} {TIMES_TEXT.get(times, f'{times} times daily')}"
        self.dps.add(
            "prescription",
            (
                rx_id,
                person.iin,
                iso(issued),
                valid_until,
                status,
                atc,
                drug.inn,
                drug.trade,
                drug.form,
                drug.strength,
                strength_unit,
                dose,
                drug.unit,
                times,
                drug.route,
                days,
                text,
                gp.pid,
                gp.name,
                gp.org.bin,
                gp.org.name,
                program,
            ),
        )
        person.truth["prescriptions"].append(
            {
                "id": rx_id,
                "status": status,
                "atc": atc,
                "inn": drug.inn,
                "dose": {"value": dose, "unit": drug.unit},
                "timesPerDay": times,
                "route": drug.route,
                "durationDays": days,
                "issuedAt": iso(issued),
                "validUntil": valid_until,
                "program": program,
            }
        )
        if dispensed is None:
            return
        day = dispensed.date()
        quantity = _quantity(drug, dose, times, days)
        price = Decimal(str(drug.price_kzt)).quantize(Decimal("0.01"))
        amount = price * quantity
        region = person.region_at(day)
        pharmacy = rng.choice(self.directory.orgs_of(region, "pharmacy"))
        dsp_id = f"DSP-{self.count('dsp'):07d}"
        self.dps.add(
            "dispensation",
            (
                dsp_id,
                person.iin,
                iso(dispensed),
                day.isoformat(),
                rx_id,
                atc,
                drug.inn,
                drug.trade,
                drug.form,
                drug.strength,
                strength_unit,
                quantity,
                str(price),
                str(amount),
                program,
                pharmacy.bin,
                pharmacy.name,
                region,
            ),
        )
        person.truth["dispensations"].append(
            {
                "id": dsp_id,
                "drug": coding(D.ATC, atc, drug.inn),
                "name": drug.inn,
                "quantity": quantity,
                "amountKzt": str(amount),
                "program": program,
                "dispensedAt": iso(dispensed),
                "pharmacy": {"bin": pharmacy.bin, "name": pharmacy.name, "region": region},
                "prescriptionId": rx_id,
            }
        )
        if (self.today - day).days < _supply(drug, strength_unit, dose, times, days):
            person.supplied.append((atc, day, rx_id))


def licensed(atc: str, birth: date, day: date) -> bool:
    """Whether a medicine is licensed at the person's age on that day (MIN_AGE_MONTHS)."""
    months = (day.year - birth.year) * 12 + day.month - birth.month - (day.day < birth.day)
    return months >= D.MIN_AGE_MONTHS[atc][0]


def _quantity(drug: D.Drug, dose: float, times: int, days: int) -> int:
    """Items dispensed for a course: tablets, capsules, syringes, or whole packs."""
    return math.ceil(dose * times * days / (drug.strength * drug.units_per_pack) - 1e-9)


def _supply(drug: D.Drug, strength_unit: str, dose: float, times: int, days: int) -> float:
    """Days a dispensation lasts, by the rule of docs/ground-truth.md.

    quantity / (dose / strength x times a day) when dose and strength share a unit, else the
    prescription's duration.
    """
    if strength_unit != drug.unit:
        return float(days)
    per_day = dose / drug.strength * times
    return _quantity(drug, dose, times, days) / per_day


def _child_regimen(atc: str, weight: float) -> tuple[str, float, int, int]:
    """A weight-based children's course, rounded as a paediatrician would."""
    for course_atc, mg_per_kg, times, days in D.CHILD_COURSES:
        if course_atc == atc:
            dose = mg_per_kg * weight
            dose = float(round(dose / 5) * 5) if dose >= 20 else float(round(dose))
            return atc, max(dose, 1.0), times, days
    raise KeyError(atc)


def _unit_ru(unit: str) -> str:
    return {"mg": "мг", "ug": "мкг", "IU": "ЕД"}.get(unit, unit)
