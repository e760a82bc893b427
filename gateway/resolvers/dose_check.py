"""``doseCheck``: each current medication's daily dose against the latest weight."""

from __future__ import annotations

from gateway.auth.policy import Section
from gateway.auth.principal import Role
from gateway.clinical import dosing
from gateway.clinical.current_medicines import CurrentMedicine
from gateway.clock import local_date, today
from gateway.contract import types as t
from gateway.contract.enums import DoseVerdict
from gateway.errors import Forbidden
from gateway.resolvers import observations as obs
from gateway.resolvers.names import Names
from gateway.resolvers.reads import PatientRead


def dose_check(read: PatientRead) -> list[t.DoseCheck] | None:
    """NURSE and DOCTOR only: current medicines (as ``currentMedications`` lists them) judged
    against the reference."""
    if read.context.principal.role not in (Role.NURSE, Role.DOCTOR):
        raise Forbidden("doseCheck is for nurses and doctors")
    read.check(Section.MEDICATIONS)
    # The read loads Observation beside MedicationStatement when doseCheck is selected.
    medications, patient = read.current_medicines(), read.patient()
    weight = _latest_weight(read.ehr().latest)
    reference = dosing.load_dose_reference()
    on = today()
    names = read.names
    checks = [
        _shape(dosing.assess(_dose(m), weight, patient.birth_date, on, reference), m, names)
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


def _dose(medication: CurrentMedicine) -> dosing.MedicationDose:
    dose, strength = medication.dose, medication.strength
    return dosing.MedicationDose(
        atc=medication.code.code,
        name=medication.name,
        dose_value=dose.value if dose is not None else None,
        dose_unit=dose.unit if dose is not None else None,
        times_per_day=medication.times_per_day,
        strength_value=strength.value if strength is not None else None,
        strength_unit=strength.unit if strength is not None else None,
    )


def _shape(
    assessment: dosing.DoseAssessment, medication: CurrentMedicine, names: Names
) -> t.DoseCheck:
    say = names.words.say
    return t.DoseCheck(
        medication=names.coding(medication.code),
        name=names.medicine(medication.code.code, assessment.name),
        daily_dose_mg=assessment.daily_dose_mg,
        weight_kg=assessment.weight_kg,
        mg_per_kg_per_day=assessment.mg_per_kg_per_day,
        reference_min_mg_per_kg_per_day=assessment.reference_min_mg_per_kg_per_day,
        reference_max_mg_per_kg_per_day=assessment.reference_max_mg_per_kg_per_day,
        reference_max_daily_mg=assessment.reference_max_daily_mg,
        verdict=DoseVerdict(assessment.verdict.value),
        note="; ".join(say(note) for note in assessment.notes) or None,
    )
