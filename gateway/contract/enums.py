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
