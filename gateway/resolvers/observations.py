"""Sections built from the latest Observation of each LOINC code (SOURCES.md's table)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from gateway import records as rec
from gateway.clock import today
from gateway.contract import types as t
from gateway.contract.enums import PregnancyStatus, SmokingStatus
from gateway.resolvers.shaping import provenance

WEIGHT, HEIGHT, BMI, WAIST = "29463-7", "8302-2", "39156-5", "8280-0"
BLOOD_PRESSURE, SYSTOLIC, DIASTOLIC, HEART_RATE = "85354-9", "8480-6", "8462-4", "8867-4"
ABO, RH = "883-9", "10331-7"
SMOKING, ALCOHOL, DRUGS = "72166-2", "75626-2", "11343-1"
EXERCISE, SLEEP = "68516-4", "93832-4"
PREGNANCY, DELIVERY_DATE = "82810-3", "11778-8"

_ABO = {"112144000": "A(II)", "112149005": "B(III)", "165743006": "AB(IV)", "58460004": "O(I)"}
_RH = {"165747007": "Rh+", "165746003": "Rh-"}
_SMOKING = {
    "266919005": SmokingStatus.NEVER,
    "8517006": SmokingStatus.FORMER,
    "77176002": SmokingStatus.CURRENT,
}
_DRUG_USE = {"228367002": True, "228366006": False}
_PREGNANCY = {"77386006": PregnancyStatus.PREGNANT, "60001007": PregnancyStatus.NOT_PREGNANT}
FULL_TERM_DAYS = 280


@dataclass(frozen=True)
class LatestObservations:
    """The most recent observation of each code, across every regional EHR."""

    by_code: dict[str, rec.Observation]

    @classmethod
    def of(cls, observations: Iterable[rec.Observation]) -> LatestObservations:
        """Keep, per LOINC code, the observation with the latest effective time."""
        latest: dict[str, rec.Observation] = {}
        for obs in observations:
            if obs.code is None or obs.status in ("entered-in-error", "cancelled"):
                continue
            kept = latest.get(obs.code.code)
            if kept is None or _time(obs) > _time(kept):
                latest[obs.code.code] = obs
        return cls(latest)

    def get(self, code: str) -> rec.Observation | None:
        """The latest observation of ``code``."""
        return self.by_code.get(code)

    def number(self, code: str) -> float | None:
        """The latest numeric value of ``code``."""
        obs = self.by_code.get(code)
        return _number(obs.value) if obs else None

    def concept(self, code: str) -> str | None:
        """The code of the latest coded value of ``code``."""
        obs = self.by_code.get(code)
        return obs.value.code if obs and isinstance(obs.value, rec.Coding) else None

    def newest(self, *codes: str) -> rec.Observation | None:
        """The most recent observation among ``codes``."""
        found = [self.by_code[c] for c in codes if c in self.by_code]
        return max(found, key=_time) if found else None


def blood_group(latest: LatestObservations) -> str | None:
    """ABO and Rh as "A(II) Rh+"; null when neither is recorded."""
    parts = [_ABO.get(latest.concept(ABO) or ""), _RH.get(latest.concept(RH) or "")]
    text = " ".join(part for part in parts if part)
    return text or None


def weight_kg(latest: LatestObservations) -> float | None:
    """The latest body weight."""
    return latest.number(WEIGHT)


def anthropometrics(latest: LatestObservations) -> t.Anthropometrics | None:
    """Weight, height, BMI and waist; null when none was measured."""
    newest = latest.newest(WEIGHT, HEIGHT, BMI, WAIST)
    if newest is None:
        return None
    return t.Anthropometrics(
        weight_kg=latest.number(WEIGHT),
        height_cm=latest.number(HEIGHT),
        bmi=latest.number(BMI),
        waist_cm=latest.number(WAIST),
        measured_at=newest.effective,
        provenance=provenance(newest.provenance),
    )


def lifestyle(latest: LatestObservations) -> t.Lifestyle | None:
    """Exercise and sleep; null when neither was recorded."""
    newest = latest.newest(EXERCISE, SLEEP)
    if newest is None:
        return None
    exercise = latest.number(EXERCISE)
    return t.Lifestyle(
        exercise_minutes_per_week=round(exercise) if exercise is not None else None,
        sleep_hours_per_day=latest.number(SLEEP),
        provenance=provenance(newest.provenance),
    )


def risk_behaviours(latest: LatestObservations) -> t.RiskBehaviours | None:
    """Smoking, alcohol (AUDIT-C) and drug use; null when none was recorded."""
    newest = latest.newest(SMOKING, ALCOHOL, DRUGS)
    if newest is None:
        return None
    alcohol = latest.number(ALCOHOL)
    return t.RiskBehaviours(
        smoking=_SMOKING.get(latest.concept(SMOKING) or "", SmokingStatus.UNKNOWN),
        alcohol_audit_c=round(alcohol) if alcohol is not None else None,
        drug_use=_DRUG_USE.get(latest.concept(DRUGS) or ""),
        provenance=provenance(newest.provenance),
    )


def pregnancy(latest: LatestObservations, on: date | None = None) -> t.Pregnancy | None:
    """Pregnancy status, due date and gestational weeks; null when never recorded."""
    status_obs = latest.get(PREGNANCY)
    if status_obs is None:
        return None
    status = _PREGNANCY.get(latest.concept(PREGNANCY) or "", PregnancyStatus.UNKNOWN)
    due: date | None = None
    weeks: int | None = None
    if status is PregnancyStatus.PREGNANT:
        due_obs = latest.get(DELIVERY_DATE)
        if due_obs is not None and isinstance(due_obs.value, datetime | date):
            due = due_obs.value.date() if isinstance(due_obs.value, datetime) else due_obs.value
            # Gestational age counts from 280 days before the expected delivery date.
            weeks = (FULL_TERM_DAYS - (due - (on or today())).days) // 7
    return t.Pregnancy(
        status=status,
        expected_delivery_date=due,
        gestational_weeks=weeks,
        provenance=provenance(status_obs.provenance),
    )


def physiological_state(latest: LatestObservations) -> t.PhysiologicalState | None:
    """Pregnancy, blood pressure and heart rate; null when none was recorded."""
    newest = latest.newest(PREGNANCY, BLOOD_PRESSURE, HEART_RATE)
    if newest is None:
        return None
    heart_rate = latest.number(HEART_RATE)
    return t.PhysiologicalState(
        pregnancy=pregnancy(latest),
        blood_pressure=_blood_pressure(latest.get(BLOOD_PRESSURE)),
        heart_rate=round(heart_rate) if heart_rate is not None else None,
        provenance=provenance(newest.provenance),
    )


def _blood_pressure(obs: rec.Observation | None) -> str | None:
    if obs is None:
        return None
    values = {c.code.code: _number(c.value) for c in obs.components if c.code is not None}
    systolic, diastolic = values.get(SYSTOLIC), values.get(DIASTOLIC)
    if systolic is None or diastolic is None:
        return None
    return f"{round(systolic)}/{round(diastolic)}"


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _time(obs: rec.Observation) -> float:
    return obs.effective.timestamp() if obs.effective else float("-inf")
