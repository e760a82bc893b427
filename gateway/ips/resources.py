"""The passport's facts as FHIR R4 resources of the IPS profiles.

Pure functions from the contract's types (what the GraphQL passport shows) and, for
observations, the normalised source record the section's value came from (its coding, unit
and time). Required elements the source does not give carry the data-absent-reason extension,
as the guide asks, rather than a guess.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from gateway import records as rec
from gateway.contract import types as t
from gateway.contract.enums import Criticality, LabFlag, ProblemStatus, Sex
from gateway.ips.entries import Entries, Reference, Resource, absent, absent_name
from gateway.language import Words
from gateway.resolvers.names import Names

IIN_SYSTEM = "urn:kz:iin"
UCUM = "http://unitsofmeasure.org"
IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

_GENDER = {Sex.MALE: "male", Sex.FEMALE: "female"}
_CRITICALITY = {
    Criticality.LOW: "low",
    Criticality.HIGH: "high",
    Criticality.UNKNOWN: "unable-to-assess",
}
_ALLERGY_CATEGORIES = frozenset({"food", "medication", "environment", "biologic"})
_CONDITION_STATUS = {
    ProblemStatus.ACTIVE: "active",
    ProblemStatus.INACTIVE: "inactive",
    ProblemStatus.RESOLVED: "resolved",
}
_INTERPRETATION = {
    LabFlag.NORMAL: ("N", "Normal"),
    LabFlag.LOW: ("L", "Low"),
    LabFlag.HIGH: ("H", "High"),
    LabFlag.ABNORMAL: ("A", "Abnormal"),
}


def concept(coding: t.Coding | rec.Coding, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding (its display, as the passport shows it, also as text)."""
    one: dict[str, Any] = {"system": coding.system, "code": coding.code}
    if coding.display:
        one["display"] = coding.display
    result: dict[str, Any] = {"coding": [one]}
    if text or coding.display:
        result["text"] = text or coding.display
    return result


def code_of(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of a fixed code (HL7 terminology)."""
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def timed(resource: Resource, element: str, value: date | datetime | None) -> Resource:
    """Set ``element`` (e.g. effectiveDateTime) or mark it absent when unknown."""
    if value is None:
        resource[f"_{element}"] = absent()
    else:
        resource[element] = value.isoformat()
    return resource


def patient(iin: str, identity: t.Identity | None) -> Resource:
    """Patient: the register's identity; only the IIN when the register could not be read."""
    resource: Resource = {
        "resourceType": "Patient",
        "meta": {"profile": [IPS + "Patient-uv-ips"]},
        "identifier": [{"system": IIN_SYSTEM, "value": iin}],
    }
    if identity is None:
        resource["name"] = [absent_name()]
        resource["_birthDate"] = absent("unknown")
    else:
        name: dict[str, Any] = {"use": "official", "text": identity.full_name}
        if identity.family_name:
            name["family"] = identity.family_name
        given = [part for part in (identity.given_name, identity.patronymic) if part]
        if given:
            name["given"] = given
        resource["name"] = [name]
        resource["gender"] = _GENDER.get(identity.sex, "unknown") if identity.sex else "unknown"
        timed(resource, "birthDate", identity.birth_date)
        if identity.region:
            resource["address"] = [{"state": identity.region, "country": "KZ"}]
    return resource


def allergy(item: t.Allergy, subject: Reference, entries: Entries) -> Resource:
    """AllergyIntolerance (IPS): active, as the passport lists it."""
    resource: Resource = {
        "resourceType": "AllergyIntolerance",
        "meta": {"profile": [IPS + "AllergyIntolerance-uv-ips"]},
        "clinicalStatus": code_of(TERMINOLOGY + "allergyintolerance-clinical", "active"),
        "criticality": _CRITICALITY[item.criticality],
        "code": concept(item.substance),
        "patient": subject,
    }
    if item.category in _ALLERGY_CATEGORIES:
        resource["category"] = [item.category]
    if item.reactions:
        resource["reaction"] = [{"manifestation": [{"text": r} for r in item.reactions]}]
    _recorded(resource, item.provenance, entries)
    return resource


def condition(item: t.Problem, subject: Reference, entries: Entries) -> Resource:
    """Condition (IPS): a problem-list item."""
    resource: Resource = {
        "resourceType": "Condition",
        "meta": {"profile": [IPS + "Condition-uv-ips"]},
        "clinicalStatus": code_of(
            TERMINOLOGY + "condition-clinical", _CONDITION_STATUS[item.status]
        ),
        "category": [code_of(TERMINOLOGY + "condition-category", "problem-list-item")],
        "code": concept(item.code),
        "subject": subject,
    }
    if item.onset is not None:
        resource["onsetDateTime"] = item.onset.isoformat()
    _recorded(resource, item.provenance, entries)
    return resource


def medication_statement(
    item: t.Medication, dosage_text: str, subject: Reference, entries: Entries
) -> Resource:
    """MedicationStatement (IPS): a medicine currently taken."""
    resource: Resource = {
        "resourceType": "MedicationStatement",
        "meta": {"profile": [IPS + "MedicationStatement-uv-ips"]},
        "status": "active",
        "medicationCodeableConcept": concept(item.code, item.name),
        "subject": subject,
    }
    if item.since is not None:
        resource["effectivePeriod"] = {"start": item.since.isoformat()}
    else:
        resource["_effectiveDateTime"] = absent()
    dosage: dict[str, Any] = {"text": dosage_text} if dosage_text else {}
    if item.times_per_day:
        dosage["timing"] = {
            "repeat": {"frequency": item.times_per_day, "period": 1, "periodUnit": "d"}
        }
    if item.route:
        dosage["route"] = {"text": item.route}
    if item.dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": _quantity(item.dose.value, item.dose.unit)}]
    if dosage:
        resource["dosage"] = [dosage]
    actors = entries.actors(item.provenance)
    if actors:
        resource["informationSource"] = actors[0]
    return resource


def immunization(item: t.Immunization, subject: Reference, entries: Entries) -> Resource:
    """Immunization (IPS): a vaccination given."""
    resource: Resource = {
        "resourceType": "Immunization",
        "meta": {"profile": [IPS + "Immunization-uv-ips"]},
        "status": "completed",
        "vaccineCode": concept(item.vaccine),
        "patient": subject,
        "occurrenceDateTime": item.date.isoformat(),
    }
    if item.dose_number:
        resource["protocolApplied"] = [{"doseNumberPositiveInt": item.dose_number}]
    _performed_by(resource, item.provenance, entries)
    return resource


def lab_observation(
    item: t.LabResult, subject: Reference, entries: Entries, words: Words
) -> Resource:
    """Observation (IPS laboratory result): the value as the laboratory reported it."""
    resource: Resource = {
        "resourceType": "Observation",
        "meta": {"profile": [IPS + "Observation-results-laboratory-pathology-uv-ips"]},
        "status": "final",
        "category": [code_of(TERMINOLOGY + "observation-category", "laboratory")],
        "code": concept(item.test),
        "subject": subject,
    }
    timed(resource, "effectiveDateTime", item.resulted_at)
    # The guide requires a performer: the laboratory (and who ordered), else marked unknown.
    resource["performer"] = entries.actors(item.provenance) or [absent()]
    if item.numeric_value is not None:
        resource["valueQuantity"] = _quantity(item.numeric_value, item.unit, ucum=False)
    else:
        resource["valueString"] = item.value
    if item.flag is not None:
        code, display = _INTERPRETATION[item.flag]
        system = TERMINOLOGY + "v3-ObservationInterpretation"
        display = words.known(system, code) or display
        resource["interpretation"] = [code_of(system, code, display)]
    if item.reference_range:
        resource["referenceRange"] = [{"text": item.reference_range}]
    return resource


def diagnostic_report(item: t.DiagnosticStudy, subject: Reference, entries: Entries) -> Resource:
    """DiagnosticReport (IPS): an imaging, ECG or endoscopy study and its conclusion."""
    resource: Resource = {
        "resourceType": "DiagnosticReport",
        "meta": {"profile": [IPS + "DiagnosticReport-uv-ips"]},
        "status": "final",
        "code": concept(item.code),
        "subject": subject,
    }
    if item.category:
        resource["category"] = [code_of(TERMINOLOGY + "v2-0074", item.category)]
    timed(resource, "effectiveDateTime", item.date)
    actors = entries.actors(item.provenance)
    if actors:
        resource["performer"] = actors
    if item.conclusion:
        resource["conclusion"] = item.conclusion
    return resource


def observation(
    record: rec.Observation,
    recorded_by: t.Provenance | None,
    category: str,
    subject: Reference,
    entries: Entries,
    names: Names,
    profile: str | None = None,
) -> Resource:
    """Observation of a vital sign, measurement or behaviour, as its source recorded it
    (codes displayed in the reader's language)."""
    resource: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [code_of(TERMINOLOGY + "observation-category", category)],
        "code": (
            concept(names.coding(record.code))
            if record.code
            else {"text": names.words.text("code.unknown")}
        ),
        "subject": subject,
    }
    if profile:
        resource["meta"] = {"profile": [profile]}
    timed(resource, "effectiveDateTime", record.effective)
    resource.update(_value(record.value, record.unit, names))
    if record.components:
        resource["component"] = [
            {"code": concept(names.coding(c.code)), **_value(c.value, c.unit, names)}
            for c in record.components
            if c.code is not None
        ]
    actors = entries.actors(recorded_by)
    if actors:
        resource["performer"] = actors
    return resource


def procedure(item: t.Screening, subject: Reference, entries: Entries, words: Words) -> Resource:
    """Procedure (IPS): a screening done."""
    resource: Resource = {
        "resourceType": "Procedure",
        "meta": {"profile": [IPS + "Procedure-uv-ips"]},
        "status": "completed",
        "category": {"text": words.text("procedure.screening")},
        "code": concept(item.code),
        "subject": subject,
        "performedDateTime": item.date.isoformat(),
    }
    if item.outcome:
        resource["outcome"] = {"text": item.outcome}
    _performed_by(resource, item.provenance, entries)
    return resource


def device(kind: t.Coding, subject: Reference) -> Resource:
    """Device (IPS): an implant of the emergency data."""
    return {
        "resourceType": "Device",
        "meta": {"profile": [IPS + "Device-uv-ips"]},
        "status": "active",
        "type": concept(kind),
        "patient": subject,
    }


def device_use(device_ref: Reference, subject: Reference) -> Resource:
    """DeviceUseStatement (IPS): the implant is in use; since when is not recorded."""
    return {
        "resourceType": "DeviceUseStatement",
        "meta": {"profile": [IPS + "DeviceUseStatement-uv-ips"]},
        "status": "active",
        "subject": subject,
        "device": device_ref,
        "_timingDateTime": absent(),
    }


def care_plan(
    planned: list[t.PlannedScreening], title: str, overdue_text: str, subject: Reference
) -> Resource:
    """CarePlan: the national screening programme's check-ups due, overdue ones first."""
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": title,
        "subject": subject,
        "activity": [
            {
                "detail": {
                    "kind": "ServiceRequest",
                    "code": concept(item.code, item.name),
                    "status": "not-started",
                    **({"statusReason": {"text": overdue_text}} if item.overdue else {}),
                    "reasonCode": [{"text": item.reason}],
                    "scheduledPeriod": {"start": item.due_month},
                    "description": item.name,
                }
            }
            for item in planned
        ],
    }


def _performed_by(resource: Resource, provenance: t.Provenance | None, entries: Entries) -> None:
    """performer[].actor of an Immunization or Procedure: who recorded it, and where."""
    actors = entries.actors(provenance)
    if actors:
        resource["performer"] = [{"actor": actor} for actor in actors]


def _recorded(resource: Resource, provenance: t.Provenance | None, entries: Entries) -> None:
    """recorder and recordedDate of an AllergyIntolerance or Condition."""
    recorder = entries.recorder(provenance)
    if recorder is not None:
        resource["recorder"] = recorder
    if provenance is not None and provenance.recorded_at is not None:
        resource["recordedDate"] = provenance.recorded_at.isoformat()


def _quantity(value: float, unit: str | None, ucum: bool = True) -> dict[str, Any]:
    """A Quantity; units are UCUM codes where the contract says the source uses UCUM."""
    quantity: dict[str, Any] = {"value": value}
    if unit:
        quantity["unit"] = unit
        if ucum:
            quantity.update(system=UCUM, code=unit)
    return quantity


def _value(value: object, unit: str | None, names: Names) -> dict[str, Any]:
    """The value[x] of an observation or component."""
    if value is None:
        return {"dataAbsentReason": code_of(TERMINOLOGY + "data-absent-reason", "unknown")}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int) and not unit:
        return {"valueInteger": value}
    if isinstance(value, int | float):
        return {"valueQuantity": _quantity(float(value), unit)}
    if isinstance(value, rec.Coding):
        return {"valueCodeableConcept": concept(names.coding(value))}
    if isinstance(value, datetime):
        return {"valueDateTime": value.isoformat()}
    return {"valueString": str(value)}
