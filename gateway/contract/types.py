"""Plain object types of the contract: built by resolvers, no resolvers of their own.

List items and leaf objects carry no resolvers or permissions, so strawberry resolves
their fields by attribute access only (the cheap path).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from gateway.contract.enums import (
    Criticality,
    DoseVerdict,
    EncounterKind,
    LabFlag,
    PregnancyStatus,
    ProblemStatus,
    Role,
    Section,
    Sex,
    SmokingStatus,
)
from gateway.contract.scalars import IIN


@strawberry.type
class Coding:
    """A code from a named code system."""

    system: str
    code: str
    display: str | None = None


@strawberry.type
class Quantity:
    """A measured amount with its UCUM unit."""

    value: float
    unit: str


@strawberry.type
class Organization:
    """A medical organisation from the register."""

    bin: str
    name: str | None = None
    region: str | None = None


@strawberry.type
class Practitioner:
    """A medical worker from the register."""

    id: str
    name: str | None = None


@strawberry.type(
    description=("Who recorded a fact, where, when, and which source system it was read from.")
)
class Provenance:
    """Where a fact came from."""

    source: str
    region: str | None = None
    organization: Organization | None = None
    practitioner: Practitioner | None = None
    recorded_at: dt.datetime | None = None


@strawberry.type(description="How each source system answered for this passport.")
class SourceStatus:
    """How one source system answered."""

    source: str
    ok: bool
    stale: bool = strawberry.field(
        description="True when the data shown is a cached copy served because the source failed."
    )
    fetched_at: dt.datetime | None = None
    error: str | None = None


@strawberry.type
class Identity:
    """Who the patient is, from the population register."""

    iin: IIN
    family_name: str | None
    given_name: str | None
    patronymic: str | None
    full_name: str
    birth_date: dt.date | None
    sex: Sex | None
    age: int | None
    region: str | None
    provenance: Provenance | None = None


@strawberry.type
class CareTeam:
    """The polyclinic and general practitioner the patient is attached to."""

    attached_organization: Organization | None
    general_practitioner: Practitioner | None
    provenance: Provenance | None = None


@strawberry.type
class Allergy:
    """An intolerance or allergy."""

    substance: Coding
    category: str | None
    criticality: Criticality
    reactions: list[str]
    provenance: Provenance | None = None


@strawberry.type
class Lifestyle:
    """Physical activity and sleep."""

    exercise_minutes_per_week: int | None
    sleep_hours_per_day: float | None
    provenance: Provenance | None = None


@strawberry.type
class DiagnosticStudy:
    """A main diagnostic study: imaging, ECG, endoscopy."""

    code: Coding
    category: str | None
    date: dt.datetime | None
    conclusion: str | None
    provenance: Provenance | None = None


@strawberry.type
class LabResult:
    """One laboratory result."""

    test: Coding
    value: str = strawberry.field(
        description="As reported: a number, a bound such as <0.1, or a word."
    )
    numeric_value: float | None
    unit: str | None
    reference_range: str | None
    flag: LabFlag | None
    resulted_at: dt.datetime | None
    order_number: str | None
    provenance: Provenance | None = None


@strawberry.type
class Pregnancy:
    """Pregnancy status and expected delivery."""

    status: PregnancyStatus
    expected_delivery_date: dt.date | None
    gestational_weeks: int | None
    provenance: Provenance | None = None


@strawberry.type
class PhysiologicalState:
    """Pregnancy and the latest vital signs."""

    pregnancy: Pregnancy | None
    blood_pressure: str | None
    heart_rate: int | None
    provenance: Provenance | None = None


@strawberry.type
class RiskBehaviours:
    """Health-threatening behaviours."""

    smoking: SmokingStatus
    alcohol_audit_c: int | None
    drug_use: bool | None
    provenance: Provenance | None = None


@strawberry.type
class Immunization:
    """A vaccination of the national calendar."""

    vaccine: Coding
    date: dt.date
    dose_number: int | None
    provenance: Provenance | None = None


@strawberry.type
class Screening:
    """A screening of the national programme that was done."""

    code: Coding
    date: dt.date
    outcome: str | None
    provenance: Provenance | None = None


@strawberry.type
class PlannedScreening:
    """A screening due in a coming month."""

    code: Coding
    name: str
    due_month: str = strawberry.field(description="YYYY-MM")
    overdue: bool
    reason: str


@strawberry.type
class Problem:
    """A diagnosis on the problem list."""

    code: Coding
    status: ProblemStatus
    onset: dt.date | None
    provenance: Provenance | None = None


@strawberry.type
class Medication:
    """A medicine currently taken."""

    code: Coding
    name: str
    dose: Quantity | None
    times_per_day: int | None
    route: str | None
    since: dt.date | None
    provenance: Provenance | None = None


@strawberry.type
class Anthropometrics:
    """The latest body measurements."""

    weight_kg: float | None
    height_cm: float | None
    bmi: float | None
    waist_cm: float | None
    measured_at: dt.datetime | None
    provenance: Provenance | None = None


@strawberry.type
class Encounter:
    """Where and when the patient was treated."""

    kind: EncounterKind
    start: dt.datetime
    end: dt.datetime | None
    organization: Organization | None
    practitioner: Practitioner | None
    diagnosis: Coding | None
    provenance: Provenance | None = None


@strawberry.type
class Dispensation:
    """A free or insured medicine handed out by a pharmacy."""

    drug: Coding
    name: str
    quantity: float
    amount_kzt: Decimal | None = strawberry.field(
        description="Null for roles that may not see cost."
    )
    program: str
    dispensed_at: dt.datetime
    pharmacy: Organization | None


@strawberry.type
class DoseCheck:
    """A current medication's daily dose against the patient's weight."""

    medication: Coding
    name: str
    daily_dose_mg: float | None
    weight_kg: float | None
    mg_per_kg_per_day: float | None
    reference_min_mg_per_kg_per_day: float | None
    reference_max_mg_per_kg_per_day: float | None
    verdict: DoseVerdict
    note: str | None


@strawberry.type
class AccessEvent:
    """One read of the passport, as the patient sees it."""

    at: dt.datetime
    role: Role
    subject: str
    practitioner: Practitioner | None
    organization: Organization | None
    sections: list[Section]
    reason: str | None
    break_glass: bool


@strawberry.type
class EmergencyData:
    """Critical data for emergency care."""

    identity: Identity | None
    blood_group: str | None = strawberry.field(description='e.g. "A(II) Rh+"; null when no record.')
    allergies: list[Allergy]
    active_problems: list[Problem]
    current_medications: list[Medication]
    implants: list[Coding]
    pregnancy: Pregnancy | None
    weight_kg: float | None
    sources: list[SourceStatus]


@strawberry.type(
    description=(
        "One row of an aggregate. Rows covering fewer patients than the suppression threshold "
        "have suppressed: true and null figures."
    )
)
class StatRow:
    """One aggregate row."""

    key: str
    label: str | None
    count: int | None
    patients: int | None
    amount_kzt: Decimal | None
    suppressed: bool


@strawberry.type
class Me:
    """Who is asking, and what they may read."""

    subject: str
    role: Role
    iin: IIN | None
    organization: Organization | None
    practitioner: Practitioner | None
    region: str | None
    readable_sections: list[Section] = strawberry.field(
        description="Sections this principal may read on some passport."
    )
