"""Enumerations of the public contract (passport.graphql)."""

from __future__ import annotations

from enum import Enum

import strawberry

from gateway.auth.policy import Section as _Section
from gateway.auth.principal import Role as _Role

# Role and Section are the policy's own enumerations, served as they are: the access table
# and the schema cannot drift apart.
Role = strawberry.enum(_Role, name="Role", description="Who is asking.")
Section = strawberry.enum(
    _Section,
    name="Section",
    description=(
        "The passport's sections, in the order of the national passport, plus where-treated "
        "and free-medicine history."
    ),
)


@strawberry.enum
class Sex(Enum):
    """Sex as recorded in the population register."""

    MALE = "MALE"
    FEMALE = "FEMALE"


@strawberry.enum
class Criticality(Enum):
    """How dangerous a reaction to the substance may be."""

    LOW = "LOW"
    HIGH = "HIGH"
    UNKNOWN = "UNKNOWN"


@strawberry.enum
class LabFlag(Enum):
    """The laboratory's interpretation of a result."""

    NORMAL = "NORMAL"
    LOW = "LOW"
    HIGH = "HIGH"
    ABNORMAL = "ABNORMAL"


@strawberry.enum
class PregnancyStatus(Enum):
    """Pregnancy status from the latest observation."""

    PREGNANT = "PREGNANT"
    NOT_PREGNANT = "NOT_PREGNANT"
    UNKNOWN = "UNKNOWN"


@strawberry.enum
class SmokingStatus(Enum):
    """Tobacco smoking status from the latest observation."""

    NEVER = "NEVER"
    FORMER = "FORMER"
    CURRENT = "CURRENT"
    UNKNOWN = "UNKNOWN"


@strawberry.enum
class ProblemStatus(Enum):
    """Clinical status of a problem, folded into three values."""

    ACTIVE = "ACTIVE"
    RESOLVED = "RESOLVED"
    INACTIVE = "INACTIVE"


@strawberry.enum
class EncounterKind(Enum):
    """Where care was given."""

    OUTPATIENT = "OUTPATIENT"
    INPATIENT = "INPATIENT"
    EMERGENCY = "EMERGENCY"
    AMBULANCE = "AMBULANCE"


@strawberry.enum
class DoseVerdict(Enum):
    """A dose judged against the weight-based reference range."""

    WITHIN_RANGE = "WITHIN_RANGE"
    ABOVE_RANGE = "ABOVE_RANGE"
    BELOW_RANGE = "BELOW_RANGE"
    NO_REFERENCE = "NO_REFERENCE"
    NO_WEIGHT = "NO_WEIGHT"


@strawberry.enum
class MedicationEvidence(Enum):
    """What kind of record says a medicine is current."""

    STATEMENT = strawberry.enum_value(
        "STATEMENT", description="An active MedicationStatement of a regional clinical record."
    )
    PRESCRIPTION = strawberry.enum_value(
        "PRESCRIPTION", description="An active prescription of the drug provision system."
    )
    DISPENSATION = strawberry.enum_value(
        "DISPENSATION",
        description="A pharmacy dispensation whose supply still covers today.",
    )


@strawberry.enum
class DispensationGrouping(Enum):
    """How dispensation aggregates are grouped."""

    ATC = "ATC"
    REGION = "REGION"
    MONTH = "MONTH"
    PROGRAM = "PROGRAM"
    PHARMACY = "PHARMACY"


@strawberry.enum
class CallGrouping(Enum):
    """How ambulance call aggregates are grouped."""

    DIAGNOSIS = "DIAGNOSIS"
    OUTCOME = "OUTCOME"
    STATION = "STATION"
    MONTH = "MONTH"


@strawberry.enum(description="On what ground the reader could read.")
class AccessBasis(Enum):
    """The contract's AccessBasis (passport-2026-12.graphql); values of `policy.Basis`."""

    OWN = strawberry.enum_value("OWN", description="The patient themself.")
    GUARDIAN = strawberry.enum_value(
        "GUARDIAN", description="A parent or legal guardian of a child under 18."
    )
    CARE_RELATIONSHIP = strawberry.enum_value(
        "CARE_RELATIONSHIP",
        description=(
            "A nurse or doctor of the organisation the patient is attached to or was seen at."
        ),
    )
    BREAK_GLASS = strawberry.enum_value(
        "BREAK_GLASS",
        description="A nurse or doctor without a care relationship, with a stated reason.",
    )
    EMERGENCY = strawberry.enum_value("EMERGENCY", description="emergency(iin, reason).")


@strawberry.enum(description="How an attempt to read a passport ended; every attempt is logged.")
class AccessOutcome(Enum):
    """An addition to the contract: attempts that read nothing are in the access log too."""

    DISCLOSED = strawberry.enum_value(
        "DISCLOSED",
        description=(
            "Allowed: `sections` lists what was shown, possibly none (the answer still told "
            "the reader that the person exists)."
        ),
    )
    REFUSED = strawberry.enum_value(
        "REFUSED",
        description="Refused before anything was read (no care relationship, a bad reason).",
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="The register did not know the IIN asked for."
    )
