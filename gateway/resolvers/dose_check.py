"""``doseCheck``: each current medication's daily dose against the latest weight."""

from __future__ import annotations

from gateway.auth.policy import Section
from gateway.auth.principal import Role
from gateway.clinical import dosing
from gateway.clock import local_date, today
from gateway.contract import types as t
from gateway.contract.enums import DoseVerdict
from gateway.errors import Forbidden
from gateway.resolvers import observations as obs
from gateway.resolvers import shaping
from gateway.resolvers.reads import PatientRead


def dose_check(read: PatientRead) -> list[t.DoseCheck] | None:
    """NURSE and DOCTOR only: current medications (EHR + DPS) judged against the reference."""
    if read.context.principal.role not in (Role.NURSE, Role.DOCTOR):
        raise Forbidden("doseCheck is for nurses and doctors")
    read.check(Section.MEDICATIONS)
    # The read loads Observation beside MedicationStatement when doseCheck is selected.
    ehr, prescriptions, patient = read.ehr(), read.prescriptions(), read.patient()
    medications = shaping.medications(ehr.items("medications"), prescriptions)
    weight = _latest_weight(ehr.latest)
    reference = dosing.load_dose_reference()
    on = today()
    checks = [
        _shape(dosing.assess(_dose(m), weight, patient.birth_date, on, reference), m)
        for m in medications
    ]
    read.mark(Section.MEDICATIONS)
    if weight is not None and checks:
        read.mark(Section.ANTHROPOMETRICS)  # the weight is shown beside each dose
    return checks


def _latest_weight(latest: obs.LatestObservations) -> dosing.Weight | None:
    found = latest.get(obs.WEIGHT)
    kg = obs.weight_kg(latest)
    if found is None or kg is None or found.effective is None:
        return None
    return dosing.Weight(kg=kg, measured_on=local_date(found.effective))


def _dose(medication: t.Medication) -> dosing.MedicationDose:
    dose = medication.dose
    return dosing.MedicationDose(
        atc=medication.code.code,
        name=medication.name,
        dose_value=dose.value if dose is not None else None,
        dose_unit=dose.unit if dose is not None else None,
        times_per_day=medication.times_per_day,
    )


def _shape(assessment: dosing.DoseAssessment, medication: t.Medication) -> t.DoseCheck:
    return t.DoseCheck(
        medication=medication.code,
        name=assessment.name,
        daily_dose_mg=assessment.daily_dose_mg,
        weight_kg=assessment.weight_kg,
        mg_per_kg_per_day=assessment.mg_per_kg_per_day,
        reference_min_mg_per_kg_per_day=assessment.reference_min_mg_per_kg_per_day,
        reference_max_mg_per_kg_per_day=assessment.reference_max_mg_per_kg_per_day,
        verdict=DoseVerdict(assessment.verdict.value),
        note=assessment.note,
    )
