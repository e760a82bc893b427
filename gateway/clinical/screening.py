"""The national screening programme applied to one person: which check-ups fall due, and when.

The programme is data (``gateway/data/screening_programme.json``, Order KR DSM-174/2020 as
amended). A check-up is due ``intervalYears`` after the last one, never before the person
reaches ``minAge`` and never once they are past ``maxAge``; one never done is due now. A
person the programme leaves out (under dynamic observation for a disease it names, or whose
screened organ was removed) is not invited to that check-up at all.
Everything here is a pure function of its arguments. Reasons are ``Phrase``s: the reader's
language is chosen when the answer is shaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.language import Phrase, Term

SEXES = frozenset({"MALE", "FEMALE"})
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Who the programme leaves out of a check-up: people under observation for a disease
    (ICD-10 categories or codes) or whose organ was removed (SNOMED CT procedures)."""

    problems: tuple[str, ...]
    procedures: frozenset[str]
    why: str  # an English template with {code}, {display} and {date} of the matching record
    source: str

    def covers_problem(self, icd10: str) -> bool:
        """Whether an ICD-10 code falls under one of the excluding categories or codes."""
        return any(icd10 == p or icd10.startswith(p + ".") for p in self.problems)


@dataclass(frozen=True, slots=True)
class ScreeningRule:
    """One check-up of the programme: who, from and to which age, how often, who not."""

    system: str
    code: str
    display: str
    name: str
    sex: str | None
    min_age: int
    max_age: int
    interval_years: int
    source: str
    exclusions: tuple[Exclusion, ...] = ()

    def applies_to(self, sex: str | None) -> bool:
        """Whether a person of this sex is in the target group (unknown sex: only unisex rules)."""
        return self.sex is None or self.sex == sex

    def describe(self) -> Phrase:
        """E.g. "every 2 years for women aged 40-70"."""
        ages = {"years": self.interval_years, "min": self.min_age, "max": self.max_age}
        yearly = self.interval_years == 1
        if self.sex == "FEMALE":
            if yearly:
                return Phrase.of("every year for women aged {min}-{max}", **ages)
            return Phrase.of("every {years} years for women aged {min}-{max}", **ages)
        if self.sex == "MALE":
            if yearly:
                return Phrase.of("every year for men aged {min}-{max}", **ages)
            return Phrase.of("every {years} years for men aged {min}-{max}", **ages)
        if yearly:
            return Phrase.of("every year for men and women aged {min}-{max}", **ages)
        return Phrase.of("every {years} years for men and women aged {min}-{max}", **ages)


@dataclass(frozen=True, slots=True)
class ScreeningProgramme:
    """The programme's rules and their legal source."""

    source: str
    rules: tuple[ScreeningRule, ...]
    # Clinical statuses of a condition that mean "under dynamic observation" for it.
    observed_statuses: frozenset[str] = frozenset({"active", "recurrence", "relapse"})


@dataclass(frozen=True, slots=True)
class Condition:
    """A problem-list condition: its ICD-10 code, clinical status and onset."""

    icd10: str
    status: str | None
    onset: date | None


@dataclass(frozen=True, slots=True)
class PastProcedure:
    """A procedure done: its SNOMED CT code, name and day."""

    code: str
    display: str | None
    performed: date | None
    system: str = SNOMED


@dataclass(frozen=True, slots=True)
class PlannedCheck:
    """A check-up due on a day (overdue when that day has passed), and why, in phrases."""

    rule: ScreeningRule
    due: date
    overdue: bool
    reasons: tuple[Phrase, ...]

    @property
    def reason(self) -> str:
        """The reasons in English, one after another."""
        return "; ".join(reason.english() for reason in self.reasons)

    @property
    def due_month(self) -> str:
        """The month it is due, as YYYY-MM."""
        return f"{self.due.year:04d}-{self.due.month:02d}"


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 1 March, as birthdays do."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def add_months(first_of_month: date, months: int) -> date:
    """The first day of the month ``months`` after ``first_of_month``'s month."""
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_done(screenings: Iterable[tuple[str, date]]) -> dict[str, date]:
    """The latest date of each screening code among (code, date) pairs."""
    latest: dict[str, date] = {}
    for code, day in screenings:
        if code not in latest or day > latest[code]:
            latest[code] = day
    return latest


def exclusions(
    programme: ScreeningProgramme,
    conditions: Iterable[Condition],
    procedures: Iterable[PastProcedure],
) -> dict[str, Phrase]:
    """Why each check-up the person is left out of does not apply (screening code -> reason)."""
    observed = [c for c in conditions if c.status in programme.observed_statuses]
    procedures = list(procedures)
    reasons: dict[str, Phrase] = {}
    for rule in programme.rules:
        for exclusion in rule.exclusions:
            reason = _first_reason(exclusion, observed, procedures)
            if reason is not None:
                reasons[rule.code] = reason
                break
    return reasons


def _first_reason(
    exclusion: Exclusion, observed: list[Condition], procedures: list[PastProcedure]
) -> Phrase | None:
    for condition in observed:
        if exclusion.covers_problem(condition.icd10):
            why = Phrase.of(exclusion.why, code=condition.icd10, display="", date="")
            if condition.onset is None:
                return why
            return Phrase.of("{why} since {date}", why=why, date=condition.onset.isoformat())
    for procedure in procedures:
        if procedure.code in exclusion.procedures:
            day: object = Phrase.of("a day not recorded")
            if procedure.performed is not None:
                day = procedure.performed.isoformat()
            display = Term(procedure.system, procedure.code, procedure.display)
            return Phrase.of(exclusion.why, code=procedure.code, display=display, date=day)
    return None


def plan(
    rules: Iterable[ScreeningRule],
    birth_date: date | None,
    sex: str | None,
    done: Mapping[str, date],
    today: date,
    months: int,
    excluded: Mapping[str, Phrase] | None = None,
) -> list[PlannedCheck]:
    """Check-ups due before the end of the ``months``-th month from now: overdue first, by month.

    ``excluded`` (from ``exclusions``) names the check-ups the person is left out of: none of
    them is planned.
    """
    if birth_date is None or months < 0:
        return []
    horizon = add_months(today.replace(day=1), months)
    planned: list[PlannedCheck] = []
    for rule in rules:
        if rule.applies_to(sex) and rule.code not in (excluded or {}):
            planned.extend(_occurrences(rule, birth_date, done.get(rule.code), today, horizon))
    planned.sort(key=lambda p: (not p.overdue, p.due, p.rule.name))
    return planned


def _occurrences(
    rule: ScreeningRule, birth_date: date, last: date | None, today: date, horizon: date
) -> list[PlannedCheck]:
    """Every due date of one rule before the horizon while the person is in the target age."""
    eligible_from = add_years(birth_date, rule.min_age)
    eligible_until = add_years(birth_date, rule.max_age + 1)  # exclusive: the day they leave
    if today >= eligible_until:
        return []
    if last is not None and last > today:
        last = None  # a date in the future is a recording error, not a screening
    from_age = Phrase.of("from age {age}", age=rule.min_age)
    if last is None and today >= eligible_from:
        due, basis = today, Phrase.of("never done")
    elif last is None:
        due, basis = eligible_from, from_age
    else:
        due = add_years(last, rule.interval_years)
        basis = Phrase.of("last done {date}", date=last.isoformat())
        if due < eligible_from:
            due, basis = eligible_from, from_age
    found = []
    overdue = due < today
    while due < horizon and due < eligible_until:
        when = Phrase.of("overdue since {date}", date=due.isoformat()) if overdue else None
        reasons = tuple(part for part in (basis, when, rule.describe()) if part is not None)
        found.append(PlannedCheck(rule, due, overdue, reasons))
        # The next one counts from when this one can actually be done: today, if overdue.
        due = add_years(max(due, today), rule.interval_years)
        overdue, basis = False, Phrase.of("after the previous check-up")
    return found


def parse_screening_programme(data: dict[str, Any]) -> ScreeningProgramme:
    """Build the programme from its JSON form; ValueError on anything inconsistent."""
    rules = []
    for raw in data["rules"]:
        code = raw["code"]
        rule = ScreeningRule(
            system=str(code["system"]),
            code=str(code["code"]),
            display=str(code.get("display") or raw["name"]),
            name=str(raw["name"]),
            sex=raw.get("sex"),
            min_age=int(raw["minAge"]),
            max_age=int(raw["maxAge"]),
            interval_years=int(raw["intervalYears"]),
            source=str(raw["source"]),
            exclusions=tuple(_exclusion(code["code"], e) for e in raw.get("exclusions", ())),
        )
        if rule.sex is not None and rule.sex not in SEXES:
            raise ValueError(f"{rule.code}: sex must be MALE, FEMALE or null")
        if not 0 <= rule.min_age <= rule.max_age or rule.interval_years < 1:
            raise ValueError(f"{rule.code}: bad ages or interval")
        if not rule.source.strip():
            raise ValueError(f"{rule.code}: every rule needs its legal source")
        rules.append(rule)
    observed = data.get("observedStatuses")
    if observed is None:
        return ScreeningProgramme(source=str(data["source"]), rules=tuple(rules))
    if not str(observed.get("source", "")).strip():
        raise ValueError("observedStatuses needs its source")
    return ScreeningProgramme(
        source=str(data["source"]),
        rules=tuple(rules),
        observed_statuses=frozenset(str(s) for s in observed["statuses"]),
    )


def _exclusion(code: str, raw: dict[str, Any]) -> Exclusion:
    exclusion = Exclusion(
        problems=tuple(str(p) for p in raw.get("problems", ())),
        procedures=frozenset(str(p) for p in raw.get("procedures", ())),
        why=str(raw["why"]),
        source=str(raw.get("source", "")),
    )
    if not exclusion.problems and not exclusion.procedures:
        raise ValueError(f"{code}: an exclusion names no problem and no procedure")
    if not exclusion.source.strip():
        raise ValueError(f"{code}: every exclusion needs its source")
    return exclusion


def load_screening_programme(path: Path | None = None) -> ScreeningProgramme:
    """The programme from ``path``, or the packaged one (read once)."""
    if path is None:
        return _packaged_programme()
    return parse_screening_programme(json.loads(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _packaged_programme() -> ScreeningProgramme:
    text = resources.files("gateway").joinpath("data/screening_programme.json").read_text("utf-8")
    return parse_screening_programme(json.loads(text))
