"""``screeningPlan``: check-ups of the national screening programme due in coming months."""

from __future__ import annotations

from collections.abc import Iterable

from gateway import records as rec
from gateway.auth.policy import Section
from gateway.clinical import screening
from gateway.clock import local_date, today
from gateway.contract import types as t
from gateway.errors import BadUserInput
from gateway.language import Phrase
from gateway.resolvers import shaping
from gateway.resolvers.reads import PatientRead

# Ten years covers two rounds of the longest interval (4 years) with room to spare.
MAX_MONTHS = 120


def screening_plan(read: PatientRead, months: int) -> list[t.PlannedScreening] | None:
    """The programme applied to the person's age, sex, last screenings in every EHR, and what
    leaves them out (conditions under observation, organs removed)."""
    read.check(Section.SCREENINGS)
    if not 0 <= months <= MAX_MONTHS:
        raise BadUserInput("months must be between 0 and {max}", max=MAX_MONTHS)
    patient, ehr = read.patient(), read.ehr()
    done = screening.last_done(
        (item.code.code, item.date)
        for item in shaping.screenings(ehr.items("procedures"), read.names)
    )
    programme = screening.load_screening_programme()
    excluded = screening.exclusions(
        programme, _conditions(ehr.items("problems")), _procedures(ehr.items("procedures"))
    )
    planned = screening.plan(
        programme.rules, patient.birth_date, patient.sex, done, today(), months, excluded
    )
    read.mark(Section.SCREENINGS)
    names = read.names
    say = names.words.say
    return [
        t.PlannedScreening(
            code=names.coding(rec.Coding(p.rule.system, p.rule.code, p.rule.display)),
            name=say(Phrase.of(p.rule.name)),
            due_month=p.due_month,
            overdue=p.overdue,
            reason="; ".join(say(reason) for reason in p.reasons),
        )
        for p in planned
    ]


def _conditions(problems: Iterable[rec.Problem]) -> list[screening.Condition]:
    """The problem list (not encounter diagnoses), as the programme's exclusions read it."""
    return [
        screening.Condition(
            icd10=p.code.code,
            status=p.clinical_status,
            onset=local_date(p.onset) if p.onset else None,
        )
        for p in problems
        if p.code is not None and p.category in (None, shaping.PROBLEM_LIST)
    ]


def _procedures(procedures: Iterable[rec.Procedure]) -> list[screening.PastProcedure]:
    """Procedures done (any category: a hysterectomy is surgical, not a screening)."""
    return [
        screening.PastProcedure(
            code=p.code.code,
            display=p.code.display,
            performed=local_date(p.performed) if p.performed else None,
            system=p.code.system,
        )
        for p in procedures
        if p.code is not None and p.status not in shaping.NOT_DONE
    ]
