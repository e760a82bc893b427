"""FHIR R4 resources -> normalised records, tolerant of missing or extra elements.

Only the elements SOURCES.md lists are read; anything absent becomes None (or an empty
tuple), anything of the wrong shape is ignored rather than trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from gateway.clock import SOURCE_LOCAL
from gateway.records import (
    EMERGENCY,
    INPATIENT,
    OUTPATIENT,
    Allergy,
    Coding,
    Device,
    DiagnosticReport,
    Encounter,
    Immunization,
    MedicationStatement,
    Observation,
    ObservationComponent,
    OrgRef,
    PatientRecord,
    PractitionerRef,
    Problem,
    Procedure,
    Provenance,
    Quantity,
)

IIN_SYSTEM = "urn:kz:iin"
LOINC_SYSTEM = "http://loinc.org"
BIN_SYSTEM = "urn:kz:bin"
PRACTITIONER_SYSTEM = "urn:kz:practitioner"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"

# Encounter.class codes (v3 ActCode) -> the contract's encounter kinds.
ENCOUNTER_KINDS = {
    "AMB": OUTPATIENT,
    "HH": OUTPATIENT,
    "VR": OUTPATIENT,
    "IMP": INPATIENT,
    "ACUTE": INPATIENT,
    "NONAC": INPATIENT,
    "SS": INPATIENT,
    "OBSENC": INPATIENT,
    "PRENC": OUTPATIENT,
    "EMER": EMERGENCY,
}

# Timing.repeat.periodUnit -> periods per day.
_PER_DAY = {"d": 1.0, "h": 24.0, "min": 1440.0, "s": 86400.0}

Resource = dict[str, Any]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_datetime(value: Any) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime; date-only and partial forms start the
    day (month, year); naive times are Asia/Almaty. Unparseable -> None."""
    text = _str(value)
    if text is None:
        return None
    if len(text) == 4 and text.isdigit():  # YYYY
        text += "-01-01"
    elif len(text) == 7 and text[4] == "-":  # YYYY-MM
        text += "-01"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=SOURCE_LOCAL)


def parse_date(value: Any) -> date | None:
    """A FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) as a date; None when absent or malformed."""
    parsed = parse_datetime(value)
    return parsed.date() if parsed is not None else None


def coding(concept: Any, prefer: str | None = None) -> Coding | None:
    """The coding of a CodeableConcept, from system ``prefer`` when there is one.

    ``display`` falls back to the concept's text. A concept with only text gives None.
    """
    concept = _dict(concept)
    codings = [
        c for c in _list(concept.get("coding")) if isinstance(c, dict) and _str(c.get("code"))
    ]
    if not codings:
        return None
    chosen = (
        next((c for c in codings if c.get("system") == prefer), codings[0])
        if prefer
        else codings[0]
    )
    return Coding(
        system=_str(chosen.get("system")) or "",
        code=chosen["code"],
        display=_str(chosen.get("display")) or _str(concept.get("text")),
    )


def concept_code(concept: Any) -> str | None:
    """The first code of a CodeableConcept, else its text (for categories and statuses)."""
    concept = _dict(concept)
    for c in _list(concept.get("coding")):
        if isinstance(c, dict) and _str(c.get("code")):
            return c["code"]
    return _str(concept.get("text"))


def first_concept_code(concepts: Any) -> str | None:
    """``concept_code`` of the first of a list of CodeableConcepts (or of a single one)."""
    if isinstance(concepts, dict):
        return concept_code(concepts)
    for concept in _list(concepts):
        code = concept_code(concept)
        if code:
            return code
    return None


def _ref_parts(ref: dict[str, Any]) -> tuple[str | None, str | None]:
    """(type, id) of a literal reference, relative or absolute."""
    literal = _str(ref.get("reference"))
    if literal is None:
        return _str(ref.get("type")), None
    parts = literal.split("?")[0].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return _str(ref.get("type")), None


def org_ref(ref: Any) -> OrgRef | None:
    """An organisation reference: logical (``urn:kz:bin``) and/or ``Organization/{id}``."""
    ref = _dict(ref)
    identifier = _dict(ref.get("identifier"))
    kind, fhir_id = _ref_parts(ref)
    bin_ = _str(identifier.get("value")) if identifier.get("system") == BIN_SYSTEM else None
    if kind not in (None, "Organization") or (bin_ is None and fhir_id is None):
        return None
    return OrgRef(bin=bin_, name=_str(ref.get("display")), fhir_id=fhir_id)


def practitioner_ref(ref: Any) -> PractitionerRef | None:
    """A practitioner reference: logical (``urn:kz:practitioner``) and/or ``Practitioner/{id}``."""
    ref = _dict(ref)
    identifier = _dict(ref.get("identifier"))
    kind, fhir_id = _ref_parts(ref)
    pid = _str(identifier.get("value")) if identifier.get("system") == PRACTITIONER_SYSTEM else None
    if kind not in (None, "Practitioner") or (pid is None and fhir_id is None):
        return None
    return PractitionerRef(id=pid, name=_str(ref.get("display")), fhir_id=fhir_id)


def _is_org(ref: Any) -> bool:
    ref = _dict(ref)
    kind, _ = _ref_parts(ref)
    return kind == "Organization" or _dict(ref.get("identifier")).get("system") == BIN_SYSTEM


def provenance(
    source: str,
    region: str | None,
    refs: list[Any],
    recorded_at: datetime | None,
) -> Provenance:
    """Provenance from the first organisation and first practitioner among ``refs``."""
    organization = None
    practitioner = None
    for ref in refs:
        if organization is None and _is_org(ref):
            organization = org_ref(ref)
        elif practitioner is None and not _is_org(ref):
            practitioner = practitioner_ref(ref)
    return Provenance(source, region, organization, practitioner, recorded_at)


def _identifier(resource: Resource, system: str) -> str | None:
    for ident in _list(resource.get("identifier")):
        if isinstance(ident, dict) and ident.get("system") == system and _str(ident.get("value")):
            return ident["value"]
    return None


def map_patient(resource: Resource, source: str, region: str | None) -> PatientRecord | None:
    """A Patient; None when it has no IIN identifier (the IIN is what links systems)."""
    iin = _identifier(resource, IIN_SYSTEM)
    if iin is None:
        return None
    name = _dict(next(iter(_list(resource.get("name"))), None))
    given = [g for g in _list(name.get("given")) if _str(g)]
    family = _str(name.get("family"))
    full_name = _str(name.get("text")) or " ".join(part for part in (family, *given) if part)
    address = _dict(next(iter(_list(resource.get("address"))), None))
    gender = resource.get("gender")
    managing = _dict(resource.get("managingOrganization"))
    gp = _dict(next(iter(_list(resource.get("generalPractitioner"))), None))
    managing_org = org_ref(managing)
    gp_ref = practitioner_ref(gp)
    meta = _dict(resource.get("meta"))
    return PatientRecord(
        iin=iin,
        family=family,
        given=given[0] if given else None,
        patronymic=given[1] if len(given) > 1 else None,
        full_name=full_name or iin,
        birth_date=parse_date(resource.get("birthDate")),
        sex={"male": "MALE", "female": "FEMALE"}.get(gender) if isinstance(gender, str) else None,
        region=_str(address.get("state")),
        local_id=_str(resource.get("id")),
        managing_org_id=managing_org.fhir_id if managing_org else None,
        managing_org=managing_org,
        gp_id=gp_ref.fhir_id if gp_ref else None,
        gp=gp_ref,
        provenance=Provenance(
            source, region, managing_org, gp_ref, parse_datetime(meta.get("lastUpdated"))
        ),
    )


def map_allergy(resource: Resource, source: str, region: str | None) -> Allergy:
    """An AllergyIntolerance."""
    reactions: list[str] = []
    severity = None
    for reaction in _list(resource.get("reaction")):
        reaction = _dict(reaction)
        severity = severity or _str(reaction.get("severity"))
        for manifestation in _list(reaction.get("manifestation")):
            manifestation = _dict(manifestation)
            text = _str(manifestation.get("text"))
            found = coding(manifestation)
            text = text or (found.display if found else None)
            if text:
                reactions.append(text)
    return Allergy(
        substance=coding(resource.get("code")),
        # R4 AllergyIntolerance.category is a list of plain codes (medication, food, ...).
        category=next((c for c in _list(resource.get("category")) if _str(c)), None),
        criticality=_str(resource.get("criticality")),
        clinical_status=concept_code(resource.get("clinicalStatus")),
        reactions=tuple(reactions),
        severity=severity,
        provenance=provenance(
            source,
            region,
            [resource.get("recorder"), resource.get("asserter")],
            parse_datetime(resource.get("recordedDate")),
        ),
    )


def _value(
    element: Resource,
) -> tuple[float | int | str | bool | Coding | datetime | None, str | None]:
    """The value[x] of an Observation or component, and its unit."""
    if "valueQuantity" in element:
        quantity = _dict(element.get("valueQuantity"))
        unit = _str(quantity.get("unit")) or _str(quantity.get("code"))
        return _number(quantity.get("value")), unit
    if "valueCodeableConcept" in element:
        return coding(element.get("valueCodeableConcept")), None
    if "valueInteger" in element:
        return _int(element.get("valueInteger")), None
    if "valueDateTime" in element:
        return parse_datetime(element.get("valueDateTime")), None
    if "valueString" in element:
        return _str(element.get("valueString")), None
    if "valueBoolean" in element:
        value = element.get("valueBoolean")
        return (value if isinstance(value, bool) else None), None
    return None, None


def _effective(resource: Resource, prefix: str) -> datetime | None:
    """``{prefix}DateTime`` / ``{prefix}Instant`` / ``{prefix}Period.start``."""
    for key in (f"{prefix}DateTime", f"{prefix}Instant"):
        if key in resource:
            return parse_datetime(resource.get(key))
    return parse_datetime(_dict(resource.get(f"{prefix}Period")).get("start"))


def map_observation(resource: Resource, source: str, region: str | None) -> Observation:
    """An Observation (vital signs, anthropometrics, blood group, lifestyle, pregnancy)."""
    value, unit = _value(resource)
    components = []
    for component in _list(resource.get("component")):
        component = _dict(component)
        c_value, c_unit = _value(component)
        components.append(ObservationComponent(coding(component.get("code")), c_value, c_unit))
    effective = _effective(resource, "effective")
    return Observation(
        code=coding(resource.get("code"), prefer="http://loinc.org"),
        category=first_concept_code(resource.get("category")),
        value=value,
        unit=unit,
        components=tuple(components),
        effective=effective,
        status=_str(resource.get("status")),
        provenance=provenance(
            source,
            region,
            _list(resource.get("performer")),
            parse_datetime(resource.get("issued")) or effective,
        ),
    )


def map_condition(resource: Resource, source: str, region: str | None) -> Problem:
    """A Condition (problem-list item or encounter diagnosis)."""
    recorded = parse_datetime(resource.get("recordedDate"))
    encounter = _dict(resource.get("encounter"))
    return Problem(
        code=coding(resource.get("code"), prefer=ICD10_SYSTEM),
        clinical_status=concept_code(resource.get("clinicalStatus")),
        category=first_concept_code(resource.get("category")),
        onset=_effective(resource, "onset"),
        recorded=recorded,
        encounter_ref=_str(encounter.get("reference")),
        provenance=provenance(
            source, region, [resource.get("recorder"), resource.get("asserter")], recorded
        ),
    )


def _times_per_day(frequency: int | None, period: float | None, unit: str | None) -> int | None:
    """Whole number of administrations a day, when the timing says so."""
    if frequency is None:
        return None
    per_day = _PER_DAY.get(unit or "d")
    if per_day is None:
        return None
    times = frequency * per_day / (period or 1.0)
    return int(times) if times >= 1 and times == int(times) else None


def map_medication_statement(
    resource: Resource, source: str, region: str | None
) -> MedicationStatement:
    """A MedicationStatement with its first dosage."""
    concept = _dict(resource.get("medicationCodeableConcept"))
    medication = coding(concept, prefer="http://www.whocc.no/atc")
    dosage = _dict(next(iter(_list(resource.get("dosage"))), None))
    dose_and_rate = _dict(next(iter(_list(dosage.get("doseAndRate"))), None))
    dose_quantity = _dict(dose_and_rate.get("doseQuantity"))
    dose_value = _number(dose_quantity.get("value"))
    dose = (
        Quantity(dose_value, _str(dose_quantity.get("unit")) or _str(dose_quantity.get("code")))
        if dose_value is not None
        else None
    )
    repeat = _dict(_dict(dosage.get("timing")).get("repeat"))
    frequency = _int(repeat.get("frequency"))
    period = _number(repeat.get("period"))
    period_unit = _str(repeat.get("periodUnit"))
    since = parse_datetime(_dict(resource.get("effectivePeriod")).get("start")) or parse_datetime(
        resource.get("effectiveDateTime")
    )
    return MedicationStatement(
        status=_str(resource.get("status")),
        medication=medication,
        name=_str(concept.get("text")) or (medication.display if medication else None),
        dose=dose,
        frequency=frequency,
        period=period,
        period_unit=period_unit,
        times_per_day=_times_per_day(frequency, period, period_unit),
        route=_str(_dict(dosage.get("route")).get("text")) or concept_code(dosage.get("route")),
        dosage_text=_str(dosage.get("text")),
        since=since,
        provenance=provenance(
            source,
            region,
            [resource.get("informationSource")],
            parse_datetime(resource.get("dateAsserted")) or since,
        ),
    )


def _actors(resource: Resource) -> list[Any]:
    return [_dict(p).get("actor") for p in _list(resource.get("performer"))]


def map_immunization(resource: Resource, source: str, region: str | None) -> Immunization:
    """An Immunization."""
    occurred = parse_datetime(resource.get("occurrenceDateTime"))
    protocol = _dict(next(iter(_list(resource.get("protocolApplied"))), None))
    return Immunization(
        vaccine=coding(resource.get("vaccineCode"), prefer="urn:kz:vaccine"),
        status=_str(resource.get("status")),
        occurred=occurred,
        dose_number=_int(protocol.get("doseNumberPositiveInt")),
        lot_number=_str(resource.get("lotNumber")),
        provenance=provenance(
            source, region, _actors(resource), parse_datetime(resource.get("recorded")) or occurred
        ),
    )


def map_procedure(resource: Resource, source: str, region: str | None) -> Procedure:
    """A Procedure; screenings have ``category.text`` = screening."""
    category = _dict(resource.get("category"))
    performed = _effective(resource, "performed")
    return Procedure(
        code=coding(resource.get("code"), prefer="http://snomed.info/sct"),
        category=_str(category.get("text")) or concept_code(category),
        status=_str(resource.get("status")),
        performed=performed,
        outcome=_str(_dict(resource.get("outcome")).get("text"))
        or concept_code(resource.get("outcome")),
        provenance=provenance(source, region, _actors(resource), performed),
    )


def map_diagnostic_report(resource: Resource, source: str, region: str | None) -> DiagnosticReport:
    """A DiagnosticReport (imaging, ECG, endoscopy)."""
    effective = _effective(resource, "effective")
    return DiagnosticReport(
        code=coding(resource.get("code"), prefer="http://loinc.org"),
        category=first_concept_code(resource.get("category")),
        status=_str(resource.get("status")),
        effective=effective,
        conclusion=_str(resource.get("conclusion")),
        provenance=provenance(
            source,
            region,
            _list(resource.get("performer")),
            parse_datetime(resource.get("issued")) or effective,
        ),
    )


def map_encounter(resource: Resource, source: str, region: str | None) -> Encounter:
    """An Encounter; ``class`` gives the kind, ``reasonCode`` the diagnosis."""
    period = _dict(resource.get("period"))
    start = parse_datetime(period.get("start"))
    organization = org_ref(resource.get("serviceProvider"))
    practitioner = None
    for participant in _list(resource.get("participant")):
        practitioner = practitioner_ref(_dict(participant).get("individual"))
        if practitioner is not None:
            break
    reasons = _list(resource.get("reasonCode"))
    diagnosis = None
    for reason in reasons:
        diagnosis = coding(reason, prefer=ICD10_SYSTEM)
        if diagnosis is not None:
            break
    class_code = _str(_dict(resource.get("class")).get("code"))
    return Encounter(
        kind=ENCOUNTER_KINDS.get(class_code or ""),
        start=start,
        end=parse_datetime(period.get("end")),
        organization=organization,
        practitioner=practitioner,
        diagnosis=diagnosis,
        reason=_str(_dict(reasons[0]).get("text")) if reasons else None,
        status=_str(resource.get("status")),
        provenance=Provenance(source, region, organization, practitioner, start),
    )


def map_device(resource: Resource, source: str, region: str | None) -> Device:
    """A Device (implant)."""
    return Device(
        type=coding(resource.get("type"), prefer="http://snomed.info/sct"),
        status=_str(resource.get("status")),
        provenance=provenance(
            source,
            region,
            [resource.get("owner")],
            parse_datetime(_dict(resource.get("meta")).get("lastUpdated")),
        ),
    )


# The element by which each clinical type names its patient (R4); the others use ``subject``.
_PATIENT_ELEMENT = {"AllergyIntolerance": "patient", "Immunization": "patient", "Device": "patient"}


def patient_id(resource: Resource) -> str | None:
    """The local id of the Patient a clinical resource belongs to: its ``subject`` (or
    ``patient``) reference ``Patient/{id}`` (a version suffix allowed); None for any other form,
    which cannot be shown to be a patient of this server."""
    element = _PATIENT_ELEMENT.get(_str(resource.get("resourceType")) or "", "subject")
    literal = _str(_dict(resource.get(element)).get("reference"))
    if literal is None:
        return None
    parts = literal.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2 and parts[0] == "Patient" and parts[1]:
        return parts[1]
    return None


Mapper = Callable[[Resource, str, "str | None"], Any]

# EHR resource type -> (EhrRecord field, mapper). The keys are the types `record()` accepts.
EHR_TYPES: dict[str, tuple[str, Mapper]] = {
    "AllergyIntolerance": ("allergies", map_allergy),
    "Observation": ("observations", map_observation),
    "Condition": ("problems", map_condition),
    "MedicationStatement": ("medications", map_medication_statement),
    "Immunization": ("immunizations", map_immunization),
    "Procedure": ("procedures", map_procedure),
    "DiagnosticReport": ("diagnostic_reports", map_diagnostic_report),
    "Encounter": ("encounters", map_encounter),
    "Device": ("devices", map_device),
}
