"""The laboratory (LIS): orders, results and their values against reference ranges."""

from __future__ import annotations

from datetime import datetime, timedelta

from emulators import population_data as D
from emulators.population.base import PopulationBase
from emulators.population.model import Org, Person, clamp, iso

FLAG_NAMES = {"N": "NORMAL", "L": "LOW", "H": "HIGH", "A": "ABNORMAL", None: None}


class Laboratory(PopulationBase):
    """Writes a person's lab orders and results."""

    def _routine_lab(self, person: Person) -> None:
        rng = self.rng
        start = max(self.history_start, person.birth + timedelta(days=30))
        chronic = set(person.chronic)
        for _ in range(rng.randint(1, 3)):
            tests = ["HGB", "WBC", "PLT", "ESR"]
            if person.age >= 18:
                tests.append("GLU")
            if person.age >= 40 or chronic & {"E78.0", "I25.1"}:
                tests.append("CHOL")
            if person.age >= 50 or chronic & {"I10", "E11.9", "N18.3"}:
                tests.append("CREA")
            if rng.random() < 0.3:
                tests.append("CRP")
            if person.age >= 18 and rng.random() < 0.2:
                tests.append("HBSAG")
            self._lab_order(person, self.at(self.day_between(start, self.yesterday), 8, 12), tests)
        if chronic & {"E11.9", "E10.9"}:
            day = self.today - timedelta(days=rng.randint(5, 100))
            while day >= start:
                self._lab_order(person, self.at(day, 8, 11), ("GLU", "HBA1C"))
                day -= timedelta(days=rng.randint(90, 180))
        if person.warfarin_since is not None:
            # INR every 3-5 weeks while on warfarin (stable patients; NICE CKS, anticoagulation).
            first = max(start, person.warfarin_since + timedelta(days=3))
            day = self.today - timedelta(days=rng.randint(2, 25))
            while day >= first:
                self._lab_order(person, self.at(day, 8, 11), ("INR",), monitoring=True)
                day -= timedelta(days=rng.randint(21, 35))
        if "E03.9" in chronic:
            self._lab_order(
                person, self.at(self.day_between(start, self.yesterday), 8, 11), ("TSH",)
            )
        if person.edd is not None:
            booking = max(person.edd - timedelta(days=266 - 56), start)
            self._lab_order(
                person,
                self.at(min(booking, self.yesterday), 8, 11),
                ("HGB", "WBC", "PLT", "GLU", "HBSAG"),
            )
        if rng.random() < 0.06:  # an order still waiting for the lab
            self._lab_order(
                person,
                self.at(self.today - timedelta(days=rng.randint(1, 2)), 8, 12),
                ("HGB", "WBC", "PLT"),
                pending=True,
            )

    def _lab_order(
        self,
        person: Person,
        ordered: datetime,
        tests: tuple[str, ...] | list[str],
        acute: bool = False,
        lab: Org | None = None,
        pending: bool = False,
        monitoring: bool = False,
    ) -> None:
        rng = self.rng
        if ordered.date() >= self.today:
            ordered = ordered - timedelta(days=1)
        region = person.region_at(ordered.date())
        lab = lab or self.directory.orgs_of(region, "laboratory")[0]
        order_no = f"LIS-{ordered.year}-{self.count('lis'):07d}"
        if pending:
            status = rng.choice(("NEW", "IN_WORK"))
        else:
            cancelled = rng.random() < 0.05 and not monitoring  # a monitoring test is redone
            status = "CANCELLED" if cancelled else "DONE"
        doctor = person.gp_at(ordered.date()) if rng.random() < 0.85 else None
        self.lis.add(
            "lab_order",
            (
                order_no,
                person.iin,
                ordered.isoformat(timespec="minutes"),
                status,
                lab.bin,
                lab.name,
                doctor.pid if doctor else None,
                doctor.fio if doctor else None,
            ),
        )
        person.truth["labOrders"].append(
            {"orderNumber": order_no, "status": status, "orderedAt": iso(ordered)}
        )
        if status != "DONE":
            return
        validated = ordered + timedelta(minutes=rng.randint(90, 480))
        for seq, test in enumerate(tests, start=1):
            loinc, name, unit, ref = D.LAB_TESTS[test]
            value, ref = self._lab_value(person, test, ref, acute)
            if test == "HBSAG" and rng.random() < 0.5:
                loinc = None  # some analysers report the local code only
            flag = _flag(value, ref) if rng.random() >= 0.03 else None
            self.lis.add(
                "lab_result",
                (
                    order_no,
                    seq,
                    test,
                    loinc,
                    name,
                    value,
                    unit,
                    ref,
                    flag,
                    validated.isoformat(timespec="minutes"),
                ),
            )
            person.truth["labResults"].append(
                {
                    "test": {"testCode": test, "loinc": loinc, "testName": name},
                    "value": value,
                    "numericValue": _numeric(value),
                    "unit": unit,
                    "referenceRange": ref,
                    "flag": FLAG_NAMES[flag],
                    "resultedAt": iso(validated),
                    "orderNumber": order_no,
                    "orderedAt": iso(ordered),
                    "labBin": lab.bin,
                }
            )

    def _lab_value(self, person: Person, test: str, ref: str, acute: bool) -> tuple[str, str]:
        g = self.rng.gauss
        chronic = person.chronic
        child = person.age < 14
        diabetic = "E11.9" in chronic or "E10.9" in chronic
        if test == "GLU":
            return f"{clamp(g(8.3, 2.0) if diabetic else g(5.1, 0.6), 3.0, 19.0):.1f}", ref
        if test == "HBA1C":
            return f"{clamp(g(7.7, 1.2) if diabetic else g(5.3, 0.4), 4.2, 13.0):.1f}", ref
        if test == "HGB":
            if child:
                ref, mean = "110-140", 124
            elif person.male:
                ref, mean = "130-170", 148
            else:
                ref, mean = "120-150", 118 if person.edd else 131
            return str(round(clamp(g(mean, 12), 70, 190))), ref
        if test == "WBC":
            return f"{clamp(g(12.5, 3.5) if acute else g(6.4, 1.7), 2.1, 28.0):.1f}", ref
        if test == "PLT":
            return str(round(clamp(g(255, 60), 80, 620))), ref
        if test == "ESR":
            return str(
                round(clamp(g(10 if person.male else 13, 6) + (18 if acute else 0), 2, 70))
            ), ref
        if test == "CHOL":
            high = "E78.0" in chronic or "I25.1" in chronic
            return f"{clamp(g(5.9, 1.0) if high else g(4.8, 0.8), 2.6, 9.5):.1f}", ref
        if test == "CREA":
            if child:
                ref, mean = "27-62", 45
            elif person.male:
                ref, mean = "62-106", 88
            else:
                ref, mean = "44-80", 68
            if "N18.3" in chronic:
                mean = 160
            return str(round(clamp(g(mean, 13), 20, 600))), ref
        if test == "CRP":
            if acute:
                return f"{clamp(g(38, 25), 6.0, 220):.1f}", ref
            level = self.rng.expovariate(1 / 1.6)
            return ("<0.1" if level < 0.1 else f"{min(level, 4.9):.1f}"), ref
        if test == "TSH":
            return (
                f"{clamp(g(3.4, 2.0) if 'E03.9' in chronic else g(2.0, 0.8), 0.1, 14.0):.2f}",
                ref,
            )
        if test == "INR":
            return f"{clamp(g(2.6, 0.45), 1.2, 4.8):.1f}", ref  # therapeutic range 2.0-3.0
        positive = self.rng.random() < 0.03
        return ("positive" if positive else "negative"), ref


def _numeric(value: str) -> float | None:
    """The number in a lab value when it is a plain number ('5.4'), else None ('<0.1', words)."""
    try:
        return float(value)
    except ValueError:
        return None


def _flag(value: str, ref: str) -> str:
    """N / L / H against a 'low-high' range; A for a word differing from the expected word."""
    if "-" not in ref:
        return "N" if value == ref else "A"
    number = _numeric(value)
    if number is None:
        return "N"  # a bound below the detection limit is normal here
    low, high = (float(x) for x in ref.split("-"))
    return "L" if number < low else "H" if number > high else "N"
