"""Normalised clinical facts read from the source systems, each with its provenance.

Plain frozen dataclasses: adapters produce them, the cache stores them (``encode_record`` /
``decode_record``), resolvers shape them into schema types. Sequences are tuples so a record
is immutable all the way down. Times are aware datetimes (Kazakhstan's zone of
``gateway.clock`` unless the source gave an offset).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

# Encounter kinds of the GraphQL contract.
OUTPATIENT = "OUTPATIENT"
INPATIENT = "INPATIENT"
EMERGENCY = "EMERGENCY"
AMBULANCE = "AMBULANCE"

# Lab flags of the GraphQL contract.
NORMAL = "NORMAL"
LOW = "LOW"
HIGH = "HIGH"
ABNORMAL = "ABNORMAL"


def _record(cls: type) -> type:
    """Make ``cls`` a frozen, slotted dataclass registered with the codec."""
    made = dataclass(frozen=True, slots=True)(cls)
    _RECORD_TYPES[made.__name__] = made
    return made


_RECORD_TYPES: dict[str, type] = {}


@_record
class Coding:
    """A code from a code system (ICD-10, LOINC, SNOMED CT, ATC, ...)."""

    system: str
    code: str
    display: str | None = None


@_record
class Quantity:
    """A measured amount with its unit (UCUM where the source says so)."""

    value: float
    unit: str | None = None


@_record
class OrgRef:
    """An organisation as a source refers to it: BIN and/or FHIR id, name when known."""

    bin: str | None
    name: str | None = None
    region: str | None = None
    fhir_id: str | None = None


@_record
class PractitionerRef:
    """A practitioner as a source refers to it: register id and/or FHIR id, name when known."""

    id: str | None
    name: str | None = None
    fhir_id: str | None = None


@_record
class Provenance:
    """Which source a fact was read from, who recorded it, where and when."""

    source: str
    region: str | None = None
    organization: OrgRef | None = None
    practitioner: PractitionerRef | None = None
    recorded_at: datetime | None = None


@_record
class PatientRecord:
    """A person as the register (or an EHR's local copy) holds them."""

    iin: str
    family: str | None
    given: str | None
    patronymic: str | None
    full_name: str
    birth_date: date | None
    sex: str | None  # MALE, FEMALE or None
    region: str | None
    local_id: str | None
    managing_org_id: str | None  # FHIR id of the attached polyclinic (register)
    managing_org: OrgRef | None
    gp_id: str | None  # FHIR id of the general practitioner (register)
    gp: PractitionerRef | None
    provenance: Provenance


@_record
class Allergy:
    """An allergy or intolerance (FHIR AllergyIntolerance)."""

    substance: Coding | None
    category: str | None
    criticality: str | None  # raw: low, high, unable-to-assess
    clinical_status: str | None
    reactions: tuple[str, ...]
    severity: str | None
    provenance: Provenance


@_record
class ObservationComponent:
    """One component of an observation (e.g. systolic pressure of a panel)."""

    code: Coding | None
    value: float | int | str | bool | Coding | datetime | None
    unit: str | None


@_record
class Observation:
    """A vital sign, measurement, blood group, lifestyle or behaviour observation."""

    code: Coding | None
    category: str | None
    value: float | int | str | bool | Coding | datetime | None
    unit: str | None
    components: tuple[ObservationComponent, ...]
    effective: datetime | None
    status: str | None
    provenance: Provenance


@_record
class Problem:
    """A diagnosis (FHIR Condition): problem-list item or encounter diagnosis."""

    code: Coding | None
    clinical_status: str | None  # raw: active, recurrence, relapse, inactive, remission, resolved
    category: str | None
    onset: datetime | None
    recorded: datetime | None
    encounter_ref: str | None
    provenance: Provenance


@_record
class MedicationStatement:
    """A medicine the patient takes according to the clinical record."""

    status: str | None
    medication: Coding | None
    name: str | None
    dose: Quantity | None
    frequency: int | None
    period: float | None
    period_unit: str | None
    times_per_day: int | None  # only when the timing is a whole number of times a day
    route: str | None
    dosage_text: str | None
    since: datetime | None
    provenance: Provenance


@_record
class Immunization:
    """A vaccination."""

    vaccine: Coding | None
    status: str | None
    occurred: datetime | None
    dose_number: int | None
    lot_number: str | None
    provenance: Provenance


@_record
class Procedure:
    """A procedure; screenings have category ``screening``."""

    code: Coding | None
    category: str | None
    status: str | None
    performed: datetime | None
    outcome: str | None
    provenance: Provenance


@_record
class DiagnosticReport:
    """A main diagnostic study (imaging, ECG, endoscopy) and its conclusion."""

    code: Coding | None
    category: str | None
    status: str | None
    effective: datetime | None
    conclusion: str | None
    provenance: Provenance


@_record
class Encounter:
    """Where and when a person was treated."""

    kind: str | None  # OUTPATIENT, INPATIENT, EMERGENCY, AMBULANCE; None when unknown
    start: datetime | None
    end: datetime | None
    organization: OrgRef | None
    practitioner: PractitionerRef | None
    diagnosis: Coding | None
    reason: str | None
    status: str | None
    provenance: Provenance


@_record
class Device:
    """An implant (pacemaker, valve, insulin pump)."""

    type: Coding | None
    status: str | None
    provenance: Provenance


@_record
class LabOrder:
    """A laboratory order, whatever its status."""

    order_number: str
    status: str | None
    ordered_at: datetime | None
    lab: OrgRef | None
    doctor: PractitionerRef | None


@_record
class LabResult:
    """One validated laboratory result of a DONE order."""

    test: Coding
    value: str
    numeric_value: float | None  # only when value is a plain number such as "5.4"
    unit: str | None
    reference_range: str | None
    flag: str | None  # NORMAL, LOW, HIGH, ABNORMAL or None
    resulted_at: datetime | None
    order_number: str | None
    ordered_at: datetime | None
    provenance: Provenance


@_record
class Prescription:
    """A prescription of a free or insured medicine (drug provision system)."""

    id: str
    status: str | None
    issued_at: datetime | None
    valid_until: date | None
    drug: Coding | None
    inn: str | None
    trade_name: str | None
    form: str | None
    strength: Quantity | None
    dose: Quantity | None
    times_per_day: int | None
    route: str | None
    duration_days: int | None
    dosage_text: str | None
    program: str | None
    provenance: Provenance


@_record
class Dispensation:
    """A medicine handed out by a pharmacy, with its cost."""

    id: str
    dispensed_at: datetime | None
    prescription_id: str | None
    drug: Coding | None
    inn: str | None
    trade_name: str | None
    form: str | None
    strength: Quantity | None
    quantity: float | None
    unit_price: Decimal | None
    amount: Decimal | None
    program: str | None
    pharmacy: OrgRef | None
    provenance: Provenance


@_record
class Vitals:
    """Vital signs an ambulance crew measured."""

    bp: str | None
    hr: int | None
    spo2: int | None
    glucose: float | None


@_record
class AmbulanceCall:
    """A call to the ambulance dispatch (103)."""

    id: str | None
    received: datetime
    arrived: datetime | None
    station_code: str | None
    station: OrgRef | None
    paramedic: PractitionerRef | None
    complaint: str | None
    diagnosis: Coding | None
    vitals: Vitals | None
    outcome: str | None
    hospital: OrgRef | None
    provenance: Provenance


@_record
class StatRow:
    """One row of an aggregate a source system computed."""

    key: str
    label: str | None
    count: int | None
    patients: int | None
    amount: Decimal | None = None


@_record
class EhrRecord:
    """Everything one regional EHR holds for one patient (only the resource types asked)."""

    source: str
    region: str | None
    patient: PatientRecord
    types: tuple[str, ...]
    allergies: tuple[Allergy, ...] = ()
    observations: tuple[Observation, ...] = ()
    problems: tuple[Problem, ...] = ()
    medications: tuple[MedicationStatement, ...] = ()
    immunizations: tuple[Immunization, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    diagnostic_reports: tuple[DiagnosticReport, ...] = ()
    encounters: tuple[Encounter, ...] = ()
    devices: tuple[Device, ...] = ()


@_record
class LabHistory:
    """A person's laboratory orders and the results of the DONE ones."""

    source: str
    iin: str
    orders: tuple[LabOrder, ...] = ()
    results: tuple[LabResult, ...] = ()


@_record
class Screened:
    """A source's answer about one person, after the records about someone else were dropped.

    ``dropped`` counts them; more than none makes the source's status ``wrong_patient``. It is
    part of the cached value, so a cached copy reports what the answer it came from held.
    """

    value: Any
    dropped: int = 0


@_record
class DrugHistory:
    """A person's prescriptions and dispensations from the drug provision system."""

    source: str
    iin: str
    prescriptions: tuple[Prescription, ...] = ()
    dispensations: tuple[Dispensation, ...] = ()


# --- codec: records <-> JSON bytes, for the cache -------------------------------------------
# Tagged dicts keep the exact Python types: "$t" record type, "$dt" datetime, "$d" date,
# "$dec" Decimal. Lists decode to tuples, matching the records' sequence fields.


def _encode(obj: Any) -> Any:
    if obj is None or isinstance(obj, str | bool | int | float):
        return obj
    if isinstance(obj, datetime):  # before date: datetime is a date subclass
        return {"$dt": obj.isoformat()}
    if isinstance(obj, date):
        return {"$d": obj.isoformat()}
    if isinstance(obj, Decimal):
        return {"$dec": str(obj)}
    if isinstance(obj, list | tuple):
        return [_encode(item) for item in obj]
    if dataclasses.is_dataclass(obj) and type(obj).__name__ in _RECORD_TYPES:
        encoded = {"$t": type(obj).__name__}
        for field in dataclasses.fields(obj):
            encoded[field.name] = _encode(getattr(obj, field.name))
        return encoded
    if isinstance(obj, dict):
        return {"$map": [[_encode(k), _encode(v)] for k, v in obj.items()]}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_decode(item) for item in obj)
    if not isinstance(obj, dict):
        return obj
    if "$t" in obj:
        cls = _RECORD_TYPES.get(obj["$t"])
        if cls is None:
            raise ValueError(f"unknown record type {obj['$t']!r}")
        return cls(**{k: _decode(v) for k, v in obj.items() if k != "$t"})
    if "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    if "$d" in obj:
        return date.fromisoformat(obj["$d"])
    if "$dec" in obj:
        return Decimal(obj["$dec"])
    if "$map" in obj:
        return {_decode(k): _decode(v) for k, v in obj["$map"]}
    raise ValueError("untagged object in encoded record")


def encode_record(obj: Any) -> bytes:
    """Serialise a record (or a list/dict of records) to JSON bytes, exactly reversible."""
    return orjson.dumps(_encode(obj))


def decode_record(data: bytes) -> Any:
    """Rebuild what ``encode_record`` serialised; lists come back as tuples."""
    return _decode(orjson.loads(data))
