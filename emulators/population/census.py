"""Everyone's identity and family, drawn before any record, so a child's record can name a parent.

Each shard process builds the same census for the whole population (it is cheap), then writes
the records of its own people: a child's ``RelatedPerson`` names the mother's IIN even when
the mother is written by the other shard. Every draw here comes from streams keyed by the
seed and the person's index, never from the order in which shards run.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta

from emulators import ids
from emulators import population_data as D
from emulators.population.model import age_on, years_before
from emulators.population.names import family_for, make_name, patronymic_from
from emulators.storage import REGIONS

GUARDED_BELOW = 20  # the register still holds the parents of people up to 19 (childTurned18)
ADULT = 18
TWIN_RATE = 0.015
LEGAL_GUARDIAN_RATE = 0.02
ENDED_RATE = 0.04
MAX_CHILDREN = 5
RANDOM_TRIES = 8
FORCED_FAMILIES = 4  # at least this many twins, legal guardians and ended guardianships
REGION_WEIGHTS = [D.REGION_WEIGHTS[r] for r in REGIONS]
GRANTING = frozenset({"MTH", "FTH", "PRN", "GUARD"})


@dataclass(slots=True)
class Guardianship:
    """A RelatedPerson of the register: an adult's parental or guardian role for a child."""

    adult: int
    code: str  # v3-RoleCode MTH, FTH, PRN, GUARD
    active: bool
    start: date
    end: date | None = None

    def grants_access(self, child_age: int, today: date) -> bool:
        """ACCESS.md: active, a parental or guardian code, period covering today, child under 18."""
        covers = self.start <= today and (self.end is None or today <= self.end)
        return self.active and self.code in GRANTING and covers and child_age < ADULT


@dataclass(slots=True)
class Identity:
    """Who a person is: sex, age, name, IIN, region, phone, family."""

    index: int
    male: bool
    age: int
    birth: date
    region: str
    forced: str | None
    phone: str | None = None
    family: str = ""
    given: str = ""
    patronymic: str | None = None
    iin: str = ""
    second_pass: bool = False
    serial: int = 0  # where the search for a free IIN serial starts
    spouse: int | None = None
    twin: int | None = None
    guardians: list[Guardianship] = field(default_factory=list)
    wards: list[int] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        """Family, given name and patronymic, as the register writes them."""
        return " ".join(x for x in (self.family, self.given, self.patronymic) if x)


def build_census(
    seed: int, size: int, today: date, forced: dict[int, str], shards: int
) -> list[Identity]:
    """Every person's identity and family, the same in every shard process."""
    age_cum = _accumulate([w for _, _, w in D.AGE_BANDS])
    people = [_draw_person(seed, index, today, forced.get(index), age_cum) for index in range(size)]
    _families(random.Random(seed * 31 + 5), people, today)
    _names_and_iins(people, shards)
    return people


def _draw_person(
    seed: int, index: int, today: date, forced: str | None, age_cum: list[float]
) -> Identity:
    rng = random.Random((seed << 40) + index)
    male, age = _sex_and_age(rng, forced, age_cum)
    birth = years_before(today, age) - timedelta(days=rng.randint(1, 365))  # born before today
    region = rng.choices(REGIONS, weights=REGION_WEIGHTS)[0]
    person = Identity(index, male, age_on(birth, today), birth, region, forced)
    if person.age >= 14 or rng.random() < 0.5:
        person.phone = f"+7{rng.choice(D.MOBILE_PREFIXES)}{rng.randint(0, 9999999):07d}"
    person.family, person.given, person.patronymic = make_name(
        rng, male, forced == "kazakhLetters", birth.year
    )
    person.serial = rng.randint(0, 9998)
    return person


def _sex_and_age(rng: random.Random, forced: str | None, age_cum: list[float]) -> tuple[bool, int]:
    if forced == "veryOld":
        return rng.random() < 0.3, rng.randint(90, 101)
    if forced == "child":
        return rng.random() < 0.5, rng.randint(0, 4)
    if forced == "pregnant":
        return False, rng.randint(20, 40)
    if forced == "overdueScreening":
        return rng.random() < 0.5, rng.randint(48, 69)
    if forced == "implant":
        return rng.random() < 0.5, rng.randint(58, 85)
    low, high, _ = D.AGE_BANDS[bisect(age_cum, rng.random() * age_cum[-1])]
    age = rng.randint(low, high)
    # Women outlive men: the old are mostly women (60-74: 42 % men; 75+: 30 %).
    male = rng.random() < (0.5 if age < 60 else 0.42 if age < 75 else 0.3)
    return male, age


def _families(rng: random.Random, people: list[Identity], today: date) -> None:
    """Mothers, fathers, twins and legal guardians of everyone under GUARDED_BELOW."""
    women: dict[tuple[str, int], list[int]] = {}
    men: dict[tuple[str, int], list[int]] = {}
    for person in people:
        (men if person.male else women).setdefault((person.region, person.age), []).append(
            person.index
        )
    children = [p for p in people if p.age < GUARDED_BELOW]
    _pair_twins(rng, people, children)
    minors = [p for p in children if p.age < ADULT and p.twin is None]
    legal = {p.index for p in _pick(rng, minors, LEGAL_GUARDIAN_RATE)}
    married: set[int] = set()
    yesterday = today - timedelta(days=1)
    for child in children:
        twin = people[child.twin] if child.twin is not None else None
        if twin is not None and twin.index < child.index:
            # The second twin: the same parents; the first twin's own guardian is not theirs.
            child.guardians = [g for g in twin.guardians if g.code != "GUARD"]
            for record in child.guardians:
                people[record.adult].wards.append(child.index)
            continue
        if child.index in legal:
            guardian = _find(rng, people, women, child, (35, 60), set())
            if guardian is not None:
                start = min(child.birth + timedelta(days=rng.randint(30, 3000)), yesterday)
                _add(people, child, Guardianship(guardian, "GUARD", True, start))
            continue
        mother = _find(rng, people, women, child, (18, 42), set())
        if mother is None:
            continue
        code = "PRN" if rng.random() < 0.05 else "MTH"
        _add(people, child, Guardianship(mother, code, True, child.birth))
        father = people[mother].spouse
        if father is None and rng.random() < 0.85:
            father = _find(rng, people, men, people[mother], (-2, 10), married, offset=True)
            if father is not None:
                people[mother].spouse, people[father].spouse = father, mother
                married.add(father)
        if father is not None:
            _add(people, child, Guardianship(father, "FTH", True, child.birth))
        if twin is not None:
            grandmother = _find(rng, people, women, child, (40, 65), {mother})
            if grandmother is not None:
                start = min(child.birth + timedelta(days=rng.randint(30, 1500)), yesterday)
                _add(people, child, Guardianship(grandmother, "GUARD", True, start))
    fathered = [c for c in children if any(g.code == "FTH" for g in c.guardians)]
    for child in _pick(rng, fathered, ENDED_RATE):
        record = next(g for g in child.guardians if g.code == "FTH")
        latest = today - timedelta(days=30)
        if latest - record.start < timedelta(days=60):
            continue
        record.end = record.start + timedelta(days=rng.randint(30, (latest - record.start).days))
        record.active = rng.random() < 0.5  # registers do not always close the record


def _pair_twins(rng: random.Random, people: list[Identity], children: list[Identity]) -> None:
    """Pairs of minors of one region and age become twins: the second takes the first's birth."""
    waiting: dict[tuple[str, int, int], Identity] = {}
    pairs: list[tuple[Identity, Identity]] = []
    candidates: list[tuple[Identity, Identity]] = []
    for child in children:
        if child.age >= ADULT - 1:  # both twins stay minors until the end of this year
            continue
        key = (child.region, child.age, child.birth.year)  # one cohort, so one name pool
        first = waiting.pop(key, None)
        if first is None:
            waiting[key] = child
            continue
        (pairs if rng.random() < TWIN_RATE * 2 else candidates).append((first, child))
    pairs.extend(candidates[: max(0, FORCED_FAMILIES - len(pairs))])
    for first, second in pairs:
        first.twin, second.twin = second.index, first.index
        second.birth = first.birth


def _pick(rng: random.Random, pool: list[Identity], rate: float) -> list[Identity]:
    """A sample of ``rate`` of the pool, never fewer than FORCED_FAMILIES when it has them."""
    count = min(len(pool), max(FORCED_FAMILIES, round(rate * len(pool))))
    return rng.sample(pool, count)


def _find(
    rng: random.Random,
    people: list[Identity],
    pool: dict[tuple[str, int], list[int]],
    child: Identity,
    gap: tuple[int, int],
    excluded: set[int],
    offset: bool = False,
) -> int | None:
    """Someone of the region whose age is the child's plus a gap in range (nearest gap first).

    A mother has at most MAX_CHILDREN children, never two of the same age (twins aside).
    """
    low, high = gap
    wanted = rng.randint(low, high) if offset else round(min(high, max(low, rng.gauss(27, 5))))

    def fits(i: int) -> bool:
        return i not in excluded and i != child.index and _may_take(people[i], child, people)

    for step in range(high - low + 1):
        for gap_years in (wanted - step, wanted + step):
            if not low <= gap_years <= high:
                continue
            bucket = pool.get((child.region, child.age + gap_years))
            if not bucket:
                continue
            for _ in range(RANDOM_TRIES):  # a few random picks first: buckets are large
                candidate = bucket[rng.randrange(len(bucket))]
                if fits(candidate):
                    return candidate
            found = [i for i in bucket if fits(i)]
            if found:
                return rng.choice(found)
    return None


def _may_take(adult: Identity, child: Identity, people: list[Identity]) -> bool:
    wards = adult.wards
    return len(wards) < MAX_CHILDREN and all(people[w].age != child.age for w in wards)


def _add(people: list[Identity], child: Identity, record: Guardianship) -> None:
    child.guardians.append(record)
    people[record.adult].wards.append(child.index)


def _names_and_iins(people: list[Identity], shards: int) -> None:
    """A wife and the children take the family's name; then a unique IIN each."""
    # Oldest first, so a parent's family name is final before the children take it.
    for person in sorted(people, key=lambda p: (-p.age, p.index)):
        parents = {g.code: people[g.adult] for g in person.guardians if g.code in ("FTH", "MTH")}
        if "FTH" in parents:
            father = parents["FTH"]
            person.family = family_for(father.family, person.male)
            if person.patronymic:
                person.patronymic = patronymic_from(father.given, person.male, person.patronymic)
        elif "MTH" in parents:
            person.family = family_for(parents["MTH"].family, person.male)
        elif person.spouse is not None and not person.male:
            person.family = family_for(people[person.spouse].family, False)
    used: list[set[str]] = [set() for _ in range(shards)]
    for person in people:
        person.iin, person.second_pass = _new_iin(person, used[person.index % shards], shards)


def _new_iin(person: Identity, used: set[str], shards: int) -> tuple[str, bool]:
    """The first free valid serial from the drawn start (twins' births are final by now)."""
    prefix = ids.iin_prefix(person.birth, person.male)
    shard = person.index % shards
    slots = (9998 - shard) // shards + 1
    want_second_pass = person.forced == "secondPassIin"
    for step in range(slots):
        # Serials of different shards differ in residue, so shards never issue the same IIN.
        serial = ((person.serial + step) % slots) * shards + shard + 1
        number, second_pass = ids.make_number(f"{prefix}{serial:04d}")
        if number is None or number in used:
            continue  # a serial with no valid check digit is never issued
        if want_second_pass and not second_pass:
            continue
        used.add(number)
        return number, second_pass
    raise ValueError(f"no free IIN serial for {prefix}")  # 5,000 a day and sex per shard


def _accumulate(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out
