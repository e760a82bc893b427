"""The generator's state and the helpers every record writer shares (ids, days, references)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

from emulators import population_data as D
from emulators.population.census import build_census
from emulators.population.directory import Directory
from emulators.population.model import HISTORY_DAYS, Json, Org, Person, Staff, Token
from emulators.population.sinks import FhirSink, RowSink
from emulators.storage import REGIONS

FORCED_PER_CASE = 4
EDGE_CASES = (
    "twoRegions",
    "registerOnly",
    "noLabHistory",
    "pregnant",
    "child",
    "veryOld",
    "secondPassIin",
    "kazakhLetters",
    "ambulance",
    "implant",
    "overdueScreening",
    "weightUnrecorded",
    "pharmacyOnly",
    "guardianEnded",
    "childTurned18",
    "twins",
    "legalGuardian",
)


class PopulationBase:
    """The generator's state: random stream, directory, sinks, counters."""

    def __init__(
        self, shard_dir: Path, size: int, seed: int, today: date, shard: int = 0, shards: int = 1
    ) -> None:
        self.rng = random.Random(seed)
        self.shard = shard
        self.shards = shards
        self.size = size
        self.seed = seed
        self.today = today
        self.yesterday = today - timedelta(days=1)
        self.history_start = today - timedelta(days=HISTORY_DAYS)
        self.directory = Directory(self.rng, size, today)
        self.forced = self._forced_cases()
        self.census = build_census(seed, size, today, self.forced, shards)
        self.register = FhirSink(shard_dir, "register", "", shard, shards)
        self.ehr = {r: FhirSink(shard_dir, f"ehr-{r}", f"{r[:3]}-", shard, shards) for r in REGIONS}
        self.lis = RowSink(shard_dir, "lis", {"patient": 1, "lab_order": 8, "lab_result": 10})
        self.dps = RowSink(shard_dir, "dps", {"prescription": 22, "dispensation": 18})
        self.ambulance = RowSink(shard_dir, "ambulance", {"call": 21})
        self.counters: dict[str, int] = {}
        self.cases: dict[str, list[str]] = {name: [] for name in EDGE_CASES}
        self.people_out = (shard_dir / "people.json").open("wb")
        self.people_written = 0

    def count(self, key: str) -> int:
        """The next number of a named sequence (order numbers, prescription ids...)."""
        value = self.counters.get(key, 0) + 1
        self.counters[key] = value
        return (value - 1) * self.shards + self.shard + 1  # shards interleave, never collide

    def day_between(self, first: date, last: date) -> date:
        """A random day in [first, last] (last when the range is empty: never after last)."""
        span = (last - first).days
        return last if span <= 0 else first + timedelta(days=self.rng.randint(0, span))

    def at(self, day: date, first_hour: int = 8, last_hour: int = 18) -> datetime:
        """A random minute of a day between two hours."""
        rng = self.rng
        return datetime(
            day.year, day.month, day.day, rng.randint(first_hour, last_hour - 1), rng.randint(0, 59)
        )

    def org_ref(self, org: Org) -> Json:
        """A logical reference to an organisation by BIN; display sometimes absent."""
        ref: Json = {"identifier": {"system": D.BIN_SYSTEM, "value": org.bin}}
        if self.rng.random() < 0.85:
            ref["display"] = org.name
        return ref

    def staff_ref(self, staff: Staff) -> Json:
        """A logical reference to a practitioner by register id; display sometimes absent."""
        ref: Json = {"identifier": {"system": D.PRACTITIONER_SYSTEM, "value": staff.pid}}
        if self.rng.random() < 0.85:
            ref["display"] = staff.name
        return ref

    def emit(
        self,
        person: Person,
        day: date,
        rtype: str,
        body: Json,
        tokens: list[Token],
        when: str | None,
        patient_key: str = "subject",
    ) -> tuple[str, str]:
        """Write a clinical resource to the EHR of the region holding that day; (id, region)."""
        region = person.region_at(day)
        sink = self.ehr[region]
        rid = sink.new_id()
        local = person.local_ids[region]
        resource = {
            "resourceType": rtype,
            "id": rid,
            patient_key: {"reference": f"Patient/{local}"},
        }
        resource.update(body)
        sink.add(rtype, rid, local, when, resource, tokens)
        return rid, region

    def _forced_cases(self) -> dict[int, str]:
        """A few people of each edge case, chosen up front so small populations have them all."""
        forced_cases = (
            "veryOld",
            "child",
            "pregnant",
            "registerOnly",
            "twoRegions",
            "noLabHistory",
            "ambulance",
            "implant",
            "overdueScreening",
            "secondPassIin",
            "kazakhLetters",
        )
        order = self.rng.sample(
            range(self.size), min(self.size, FORCED_PER_CASE * len(forced_cases))
        )
        return {idx: forced_cases[k // FORCED_PER_CASE] for k, idx in enumerate(order)}
