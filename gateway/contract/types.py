"""Plain object types of the contract: built by resolvers, no resolvers of their own.

List items and leaf objects carry no resolvers or permissions, so strawberry resolves
their fields by attribute access only (the cheap path).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from gateway.contract.enums import (
    AccessBasis,
    AccessOutcome,
    Criticality,
    DoseVerdict,
    EncounterKind,
    LabFlag,
    MedicationEvidence,
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
    display_language: str | None = strawberry.field(
        default=None,
        description=(
            "The language of display (kk, ru or en): the one asked for with Accept-Language "
            "when the gateway knows the code's name in it; else the source's own display's, "
            "told by its letters, or null when they do not say."
        ),
    )


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


@strawberry.type(description="One record that says a medicine is current, and where it is from.")
class MedicationSource:
    """A statement, prescription or dispensation holding a current medicine."""

    kind: MedicationEvidence
    provenance: Provenance
    covers_until: dt.date | None = strawberry.field(
        default=None,
        description="Dispensations: the last day the supply lasts at the prescribed dose.",
    )


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
    sources: list[MedicationSource] = strawberry.field(
        default_factory=list,
        description=(
            "Every record that holds this medicine: active EHR statements, active "
            "prescriptions, dispensations whose supply covers today (one per kind and system)."
        ),
    )
    pharmacy_only: bool = strawberry.field(
        default=False,
        description=(
            "True when only a pharmacy dispensation shows it: no clinical record or active "
            "prescription does; dose and times a day are the dispensed prescription's."
        ),
    )


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
    reference_max_daily_mg: float | None = strawberry.field(
        default=None,
        description=(
            "The absolute daily maximum of the reference band applied (mg), whatever the "
            "weight; null when the band has none."
        ),
    )


@strawberry.type
class AccessEvent:
    """One read of the passport, or an attempt at one, as the patient sees it."""

    at: dt.datetime
    role: Role
    subject: str
    practitioner: Practitioner | None
    organization: Organization | None
    sections: list[Section]
    reason: str | None
    break_glass: bool
    basis: AccessBasis = strawberry.field(description="On what ground the reader could read.")
    outcome: AccessOutcome = strawberry.field(
        description="Whether the attempt was allowed, refused, or asked for an unknown IIN."
    )
    restrictions_shown: bool = strawberry.field(
        description=(
            "True when the reader, a nurse or doctor, was told which sections the patient "
            "restricted (restrictedSections)."
        )
    )


@strawberry.type
class EmergencyContact:
    """Someone to call: the register's Patient.contact."""

    name: str
    relationship: str | None = strawberry.field(description='e.g. "мать", "next of kin"')
    phones: list[str]


@strawberry.type(
    description=(
        "Emergency data. A list is [] only when every source that holds such facts answered "
        "(fresh or from a flagged stale copy) and holds none; it is null when a source that "
        "may hold them did not answer, and then one error with extensions.code "
        'SOURCE_UNAVAILABLE names that field. Nothing unknown may look like "none".'
    )
)
class EmergencyData:
    """Critical data for emergency care."""

    identity: Identity | None
    blood_group: str | None = strawberry.field(description='e.g. "A(II) Rh+"; null when no record.')
    allergies: list[Allergy] | None
    active_problems: list[Problem] | None
    current_medications: list[Medication] | None
    implants: list[Coding] | None
    pregnancy: Pregnancy | None
    weight_kg: float | None
    sources: list[SourceStatus]
    contacts: list[EmergencyContact] | None = strawberry.field(
        description=(
            "People to call: the register's Patient.contact entries. Null when the register "
            "did not answer."
        )
    )
    complete: bool = strawberry.field(
        description=(
            "True when every source consulted answered fresh; false when any part is missing "
            "or is a stale copy."
        )
    )


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
