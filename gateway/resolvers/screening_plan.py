"""``screeningPlan``: check-ups of the national screening programme due in coming months."""

from __future__ import annotations

from gateway.auth.policy import Section
from gateway.clinical import screening
from gateway.clock import today
from gateway.contract import types as t
from gateway.errors import BadUserInput
from gateway.resolvers import shaping
from gateway.resolvers.reads import PatientRead

# Ten years covers two rounds of the longest interval (4 years) with room to spare.
MAX_MONTHS = 120


def screening_plan(read: PatientRead, months: int) -> list[t.PlannedScreening] | None:
    """The programme applied to the person's age, sex and last screenings in every EHR."""
    read.check(Section.SCREENINGS)
    if not 0 <= months <= MAX_MONTHS:
        raise BadUserInput(f"months must be between 0 and {MAX_MONTHS}")
    patient, ehr = read.patient(), read.ehr()
    done = screening.last_done(
        (item.code.code, item.date) for item in shaping.screenings(ehr.items("procedures"))
    )
    programme = screening.load_screening_programme()
    planned = screening.plan(
        programme.rules, patient.birth_date, patient.sex, done, today(), months
    )
    read.mark(Section.SCREENINGS)
    return [
        t.PlannedScreening(
            code=t.Coding(system=p.rule.system, code=p.rule.code, display=p.rule.display),
            name=p.rule.name,
            due_month=p.due_month,
            overdue=p.overdue,
            reason=p.reason,
        )
        for p in planned
    ]
