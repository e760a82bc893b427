"""The register's organisations and practitioners (the directory) and their ground truth."""

from __future__ import annotations

import random
from datetime import date

from emulators import ids
from emulators import population_data as D
from emulators.population.model import Json, Org, Staff
from emulators.population.names import make_name
from emulators.storage import REGIONS

QUALIFICATIONS = {
    "gp": "Врач общей практики",
    "paediatrician": "Врач-педиатр участковый",
    "nurse": "Медицинская сестра общей практики",
    "cardiologist": "Кардиолог",
    "endocrinologist": "Эндокринолог",
    "gynaecologist": "Акушер-гинеколог",
    "therapist": "Терапевт",
    "surgeon": "Хирург",
    "emergency": "Врач приёмного отделения",
    "paramedic": "Фельдшер скорой помощи",
    "lab": "Врач клинической лабораторной диагностики",
}


class Directory:
    """The register's organisations and practitioners, per region and role."""

    def __init__(self, rng: random.Random, size: int, today: date) -> None:
        self.orgs: list[Org] = []
        self.staff: list[Staff] = []
        self.of_type: dict[tuple[str, str], list[Org]] = {}
        self.roles: dict[tuple[str, str], list[Staff]] = {}
        bins: set[str] = set()
        per_poly_gps = max(2, min(40, size // 250))
        per_hospital = max(2, min(20, size // 3000))
        per_station = max(2, min(30, size // 3000))
        for region in REGIONS:
            for template in D.ORG_TEMPLATES:
                numbers = rng.sample(range(1, 40), template.count)
                orgs: list[Org] = []
                for k, number in enumerate(numbers):
                    name_pattern = template.names[k % len(template.names)]
                    name = f"{name_pattern.format(n=number)}, {D.CITY_RU[region]}"
                    attribute = 1 if template.type == "pharmacy" else 0
                    org = Org(
                        fhir_id=f"org-{len(self.orgs) + 1}",
                        bin=self._new_bin(rng, bins, today, attribute),
                        name=name,
                        type=template.type,
                        region=region,
                    )
                    if template.type == "ambulance-station":
                        org.code = f"{D.REGION_ABBR[region]}-{k + 1:02d}"
                    self.orgs.append(org)
                    orgs.append(org)
                self.of_type[(region, template.type)] = orgs
            for org in self.of_type[(region, "polyclinic")]:
                self._hire(rng, org, "gp", per_poly_gps, today)
                # About a third of the people are children, each attached to a paediatrician.
                self._hire(rng, org, "paediatrician", max(1, per_poly_gps // 2), today)
                for role in ("nurse", "cardiologist", "endocrinologist", "gynaecologist"):
                    self._hire(rng, org, role, 1, today)
            for org in self.of_type[(region, "hospital")]:
                for role in ("therapist", "surgeon", "emergency"):
                    self._hire(rng, org, role, per_hospital, today)
            for org in self.of_type[(region, "ambulance-station")]:
                self._hire(rng, org, "paramedic", per_station, today)
            for org in self.of_type[(region, "laboratory")]:
                self._hire(rng, org, "lab", 1, today)

    @staticmethod
    def _new_bin(rng: random.Random, used: set[str], today: date, attribute: int) -> str:
        while True:
            registered = date(rng.randint(1996, today.year - 2), rng.randint(1, 12), 1)
            first11 = f"{ids.bin_prefix(registered, 4, attribute)}{rng.randint(0, 99999):05d}"
            number, _ = ids.make_number(first11)
            if number is not None and number not in used:
                used.add(number)
                return number

    def _hire(self, rng: random.Random, org: Org, role: str, count: int, today: date) -> None:
        staff = self.roles.setdefault((org.bin, role), [])
        for _ in range(count):
            mostly_women = role in ("nurse", "gynaecologist", "paediatrician")
            male = rng.random() < (0.3 if mostly_women else 0.45)
            born = rng.randint(today.year - 62, today.year - 26)
            family, given, patronymic = make_name(rng, male, False, born)
            name = " ".join(x for x in (family, given, patronymic) if x)
            initials = " ".join(f"{x[0]}." for x in (given, patronymic) if x)
            n = len(self.staff) + 1
            member = Staff(
                fhir_id=f"pr-{n}",
                pid=f"P{100000 + n * 7:07d}",
                name=name,
                fio=f"{family} {initials}",
                qualification=QUALIFICATIONS[role],
                org=org,
            )
            self.staff.append(member)
            staff.append(member)

    def orgs_of(self, region: str, org_type: str) -> list[Org]:
        """The organisations of one type in a region."""
        return self.of_type[(region, org_type)]

    def staff_of(self, org: Org, role: str) -> list[Staff]:
        """The practitioners of one role at an organisation."""
        return self.roles.get((org.bin, role), [])


def directory_truth(directory: Directory) -> tuple[list[Json], list[Json]]:
    """The ground truth's organizations and practitioners."""
    organizations = [
        {"bin": o.bin, "name": o.name, "type": o.type, "region": o.region, "fhirId": o.fhir_id}
        for o in directory.orgs
    ]
    practitioners = [
        {
            "id": s.pid,
            "name": s.name,
            "qualification": s.qualification,
            "orgBin": s.org.bin,
            "fhirId": s.fhir_id,
        }
        for s in directory.staff
    ]
    return organizations, practitioners
