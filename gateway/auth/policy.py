"""Who may read what: the access policy of ACCESS.md as one table, and `decide()`.

The table is the policy; the functions below it only apply it. Read a row as:
section, then what each role may do (R read, `-` forbidden, `R active` active problems
only, `R no cost` without amountKzt), whether the patient may restrict the section from
nurses and doctors, and whether `emergency(iin, reason)` discloses it.
Patients read only their own passport; EMERGENCY reads only through `emergency`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from gateway.auth.principal import Principal, Role
from gateway.clock import age_on, today
from gateway.config import PolicySettings
from gateway.errors import BadUserInput, Forbidden, GatewayError, RestrictedByPatient
from gateway.iin import is_valid_iin
from gateway.records import Guardianship, PatientRecord


class Section(StrEnum):
    """The passport's sections; values are the GraphQL `Section` enum names."""

    IDENTITY = "IDENTITY"
    CARE_TEAM = "CARE_TEAM"
    EMERGENCY = "EMERGENCY"
    ALLERGIES = "ALLERGIES"
    LIFESTYLE = "LIFESTYLE"
    DIAGNOSTIC_STUDIES = "DIAGNOSTIC_STUDIES"
    LAB_RESULTS = "LAB_RESULTS"
    PHYSIOLOGICAL_STATE = "PHYSIOLOGICAL_STATE"
    RISK_BEHAVIOURS = "RISK_BEHAVIOURS"
    IMMUNIZATIONS = "IMMUNIZATIONS"
    SCREENINGS = "SCREENINGS"
    PROBLEMS = "PROBLEMS"
    MEDICATIONS = "MEDICATIONS"
    ANTHROPOMETRICS = "ANTHROPOMETRICS"
    ENCOUNTERS = "ENCOUNTERS"
    DISPENSATIONS = "DISPENSATIONS"


class Feature(StrEnum):
    """What may be read besides a passport's sections (not part of the GraphQL `Section`)."""

    ACCESS_LOG = "ACCESS_LOG"  # passport { accessLog }
    STATS = "STATS"  # Query.stats


class Rule(StrEnum):
    """What one role may do with one section."""

    DENY = "-"
    READ = "R"
    ACTIVE_ONLY = "R active"  # problems with an active clinical status only
    NO_COST = "R no cost"  # dispensations with amountKzt null
    OWN_REGION = "R own region"  # stats limited to the token's region when it has one


class EntryPoint(StrEnum):
    """The query field a person's data is read through."""

    PASSPORT = "passport"
    EMERGENCY = "emergency"


class Basis(StrEnum):
    """On what ground a read is made (the contract's `AccessBasis`); audited with each read."""

    OWN = "OWN"  # the patient themself
    GUARDIAN = "GUARDIAN"  # a parent or legal guardian of a child (ACCESS.md "Guardians")
    CARE_RELATIONSHIP = "CARE_RELATIONSHIP"  # attached to, or seen at, the reader's organisation
    BREAK_GLASS = "BREAK_GLASS"  # a nurse or doctor without a care relationship, with a reason
    EMERGENCY = "EMERGENCY"  # emergency(iin, reason)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One line of the policy table."""

    area: Section | Feature
    patient: Rule
    emergency: Rule
    nurse: Rule
    doctor: Rule
    manager: Rule
    restrictable: bool
    in_emergency: bool

    def rule(self, role: Role) -> Rule:
        """The rule of this row for `role`."""
        return getattr(self, role.value.lower())


R, A, C, G, _ = Rule.READ, Rule.ACTIVE_ONLY, Rule.NO_COST, Rule.OWN_REGION, Rule.DENY
S, F = Section, Feature
Y, N = True, False

# fmt: off
TABLE: tuple[PolicyRow, ...] = (
    #          section / feature       PATIENT EMERG. NURSE DOCTOR MANAGER restrictable emergency()
    PolicyRow(S.IDENTITY,              R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.CARE_TEAM,             R,      R,     R,    R,     _,      N,           N),
    PolicyRow(S.EMERGENCY,             R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.ALLERGIES,             R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.LIFESTYLE,             R,      _,     R,    R,     _,      Y,           N),
    PolicyRow(S.DIAGNOSTIC_STUDIES,    R,      _,     _,    R,     _,      Y,           N),
    PolicyRow(S.LAB_RESULTS,           R,      _,     _,    R,     _,      Y,           N),
    PolicyRow(S.PHYSIOLOGICAL_STATE,   R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.RISK_BEHAVIOURS,       R,      _,     _,    R,     _,      Y,           N),
    PolicyRow(S.IMMUNIZATIONS,         R,      _,     R,    R,     _,      Y,           N),
    PolicyRow(S.SCREENINGS,            R,      _,     R,    R,     _,      Y,           N),
    PolicyRow(S.PROBLEMS,              R,      A,     R,    R,     _,      Y,           Y),
    PolicyRow(S.MEDICATIONS,           R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.ANTHROPOMETRICS,       R,      R,     R,    R,     _,      N,           Y),
    PolicyRow(S.ENCOUNTERS,            R,      _,     _,    R,     _,      Y,           N),
    PolicyRow(S.DISPENSATIONS,         R,      _,     _,    C,     _,      Y,           N),
    PolicyRow(F.ACCESS_LOG,            R,      _,     _,    _,     _,      N,           N),
    PolicyRow(F.STATS,                 _,      _,     _,    _,     G,      N,           N),
)
# fmt: on
del R, A, C, G, _, F, Y, N  # the table's shorthands stop here

POLICY: dict[Section | Feature, dict[Role, Rule]] = {
    row.area: {role: row.rule(role) for role in Role} for row in TABLE
}
RESTRICTABLE: frozenset[Section] = frozenset(
    row.area for row in TABLE if row.restrictable and isinstance(row.area, Section)
)
EMERGENCY_SECTIONS: frozenset[Section] = frozenset(
    row.area for row in TABLE if row.in_emergency and isinstance(row.area, Section)
)
CLINICIANS = frozenset({Role.NURSE, Role.DOCTOR})
# Who may ask at all through each entry point (the sections are then decided by the table).
ENTRY_ROLES: dict[EntryPoint, frozenset[Role]] = {
    EntryPoint.PASSPORT: frozenset({Role.PATIENT}) | CLINICIANS,
    EntryPoint.EMERGENCY: frozenset({Role.EMERGENCY}) | CLINICIANS,
}
EMERGENCY_ENTRY_ROLES = ENTRY_ROLES[EntryPoint.EMERGENCY]
# ACCESS.md "Guardians": the v3-RoleCode relationships of a register RelatedPerson that make an
# adult a child's guardian, and the age at which the access ends (the 18th birthday).
GUARDIAN_RELATIONSHIPS = frozenset({"MTH", "FTH", "PRN", "GUARD"})
ADULTHOOD_YEARS = 18
# ACCESS.md "Notifications": the reads the patient is told about (break-glass, emergency).
NOTIFIED_BASES = frozenset({Basis.BREAK_GLASS, Basis.EMERGENCY})
# A reason is read by the patient in their access log and kept in the audit trail for good:
# a sentence, not a document.
MAX_REASON_CHARS = 500

# What each field of `Passport` and `EmergencyData` discloses (None: no person data). The one
# map behind both the decision (which sections a query asks for) and the served schema's
# `@access` directives.
PASSPORT_FIELDS: dict[str, Section | Feature | None] = {
    "iin": None,
    "identity": Section.IDENTITY,
    "careTeam": Section.CARE_TEAM,
    "emergency": Section.EMERGENCY,
    "allergies": Section.ALLERGIES,
    "lifestyle": Section.LIFESTYLE,
    "diagnosticStudies": Section.DIAGNOSTIC_STUDIES,
    "labResults": Section.LAB_RESULTS,
    "physiologicalState": Section.PHYSIOLOGICAL_STATE,
    "riskBehaviours": Section.RISK_BEHAVIOURS,
    "immunizations": Section.IMMUNIZATIONS,
    "screenings": Section.SCREENINGS,
    "screeningPlan": Section.SCREENINGS,
    "problems": Section.PROBLEMS,
    "currentMedications": Section.MEDICATIONS,
    "anthropometrics": Section.ANTHROPOMETRICS,
    "encounters": Section.ENCOUNTERS,
    "dispensations": Section.DISPENSATIONS,
    "doseCheck": Section.MEDICATIONS,
    "accessLog": Feature.ACCESS_LOG,
    "restrictedSections": None,
    "sources": None,
}
EMERGENCY_FIELDS: dict[str, Section | Feature | None] = {
    "identity": Section.IDENTITY,
    "bloodGroup": Section.EMERGENCY,
    "implants": Section.EMERGENCY,
    "allergies": Section.ALLERGIES,
    "activeProblems": Section.PROBLEMS,
    "currentMedications": Section.MEDICATIONS,
    "pregnancy": Section.PHYSIOLOGICAL_STATE,
    "weightKg": Section.ANTHROPOMETRICS,
    "contacts": Section.EMERGENCY,
    "sources": None,
    "complete": None,
}
# Fields narrower than their section's row: the dose check is for nurses and doctors.
FIELD_ROLES: dict[str, frozenset[Role]] = {"doseCheck": CLINICIANS}

del S


@dataclass(frozen=True, slots=True)
class CareRelationship:
    """How a clinician's organisation relates to the patient (register and encounters)."""

    attached: bool  # the patient is attached to the clinician's organisation
    recent_encounter: bool  # an encounter there within policy.care_window_days

    @property
    def exists(self) -> bool:
        """True when either link makes a care relationship."""
        return self.attached or self.recent_encounter


@dataclass(frozen=True, slots=True)
class Guardians:
    """What the register says of the caller as a parent or guardian (a patient asking for
    another IIN): its RelatedPersons naming them, or why it could not say."""

    records: tuple[Guardianship, ...] = ()
    unavailable: GatewayError | None = None  # the register did not answer, no copy to serve


def grants_access(record: Guardianship, on: date) -> bool:
    """ACCESS.md: active, MTH/FTH/PRN/GUARD, a period covering ``on`` and a child under 18.

    A period without a start grants nothing: whether it covers ``on`` is not known.
    """
    child = record.child
    age = age_on(child.birth_date, on) if child is not None else None
    return (
        record.active is True
        and record.relationship in GUARDIAN_RELATIONSHIPS
        and record.start is not None
        and record.start <= on
        and (record.end is None or on <= record.end)
        and age is not None
        and 0 <= age < ADULTHOOD_YEARS
    )


def dependants(guardians: Guardians, on: date | None = None) -> list[PatientRecord]:
    """The children ``guardians`` grant access to on ``on`` (today), once each, eldest first."""
    day = on or today()
    children: dict[str, PatientRecord] = {}
    for record in guardians.records:
        if record.child is not None and grants_access(record, day):
            children.setdefault(record.child.iin, record.child)
    return sorted(children.values(), key=lambda c: (c.birth_date or day, c.iin))


def is_guardian_of(guardians: Guardians, child_iin: str, on: date | None = None) -> bool:
    """True when a record of ``guardians`` grants access to ``child_iin`` on ``on`` (today)."""
    day = on or today()
    return any(
        record.child is not None and record.child.iin == child_iin and grants_access(record, day)
        for record in guardians.records
    )


def needs_guardians(principal: Principal, entry: EntryPoint, patient_iin: str) -> bool:
    """True when ``decide`` needs the caller's guardianships: a patient asking for another IIN."""
    return (
        principal.role is Role.PATIENT
        and entry is EntryPoint.PASSPORT
        and principal.iin != patient_iin
        and is_valid_iin(patient_iin)
    )


def notifies_patient(basis: Basis | str | None, outcome: str | None) -> bool:
    """ACCESS.md "Notifications": a break-glass or emergency attempt on a known person (read
    or refused) is told to the patient; an IIN the register does not know has nobody to tell."""
    return basis in NOTIFIED_BASES and outcome in ("DISCLOSED", "REFUSED")


@dataclass(frozen=True)
class Decision:
    """What one request may read of one person's record."""

    allowed: frozenset[Section]
    denied: dict[Section, str] = field(default_factory=dict)  # section -> error code
    break_glass: bool = False
    reason: str | None = None  # stripped break-glass or emergency reason, for the audit
    show_cost: bool = False  # dispensations carry amountKzt
    active_problems_only: bool = False
    denial: GatewayError | None = None  # set when the whole request is refused
    # The ground read on, or tried: audited with every attempt. None only when the role may
    # not use the entry point at all (nothing about the person is then tried).
    basis: Basis | None = None

    @property
    def refused(self) -> bool:
        """True when nothing at all may be read (raise `denial`)."""
        return self.denial is not None


def readable_sections(role: Role) -> list[Section]:
    """Sections `role` may read on some passport, in passport order (`me.readableSections`)."""
    return [
        row.area
        for row in TABLE
        if isinstance(row.area, Section) and row.rule(role) is not Rule.DENY
    ]


def requested_sections(
    fields: Iterable[str], mapping: dict[str, Section | Feature | None]
) -> frozenset[Section]:
    """The sections selected field names (of PASSPORT_FIELDS or EMERGENCY_FIELDS) ask for."""
    return frozenset(s for name in fields if isinstance(s := mapping.get(name), Section))


def field_roles(field: str, mapping: dict[str, Section | Feature | None]) -> list[Role]:
    """The roles that may read `field` of a person's record, from the table (for `@access`)."""
    area = mapping.get(field)
    if area is None:
        return list(Role)
    narrowed = FIELD_ROLES.get(field, frozenset(Role))
    return [r for r in Role if POLICY[area][r] is not Rule.DENY and r in narrowed]


def may_read_access_log(principal: Principal, patient_iin: str, basis: Basis | None = None) -> bool:
    """True when `principal` may read the access log of `patient_iin`: the patient, or their
    guardian on a read `decide` allowed as GUARDIAN (the guardian sees what the child sees)."""
    if POLICY[Feature.ACCESS_LOG][principal.role] is Rule.DENY:
        return False
    return principal.iin == patient_iin or basis is Basis.GUARDIAN


def stats_region(principal: Principal, requested_region: str | None) -> str | None:
    """The region `stats` are limited to (None = national); raises Forbidden when not allowed."""
    rule = POLICY[Feature.STATS][principal.role]
    if rule is Rule.DENY:
        raise Forbidden("only health managers read statistics")
    if rule is Rule.OWN_REGION and principal.region is not None:
        if requested_region not in (None, principal.region):
            raise Forbidden("statistics are limited to your region")
        return principal.region
    return requested_region


def needs_relationship(
    principal: Principal,
    entry: EntryPoint = EntryPoint.PASSPORT,
    break_glass_reason: str | None = None,
) -> bool:
    """True when `decide` needs the care relationship (a clinician's passport read, no reason)."""
    return (
        principal.role in CLINICIANS and entry is EntryPoint.PASSPORT and break_glass_reason is None
    )


def decide(
    principal: Principal,
    entry: EntryPoint,
    patient_iin: str,
    requested: frozenset[Section],
    relationship: CareRelationship | None,
    restrictions: frozenset[Section],
    break_glass_reason: str | None,
    settings: PolicySettings,
    guardians: Guardians | None = None,
    on: date | None = None,
) -> Decision:
    """Apply the table to one read: which requested sections are allowed, and why others are not.

    For `EntryPoint.EMERGENCY`, `break_glass_reason` carries the `emergency(reason:)` argument.
    `guardians` are the caller's RelatedPersons when a patient asks for another IIN
    (`needs_guardians`); `on` is the day judged (today).
    """
    if not is_valid_iin(patient_iin):
        return _refuse(requested, BadUserInput("invalid IIN"))
    if entry is EntryPoint.EMERGENCY:
        return _decide_emergency(principal, requested, break_glass_reason, settings)
    role = principal.role
    if role is Role.PATIENT:
        if principal.iin != patient_iin:
            return _decide_guardian(requested, patient_iin, guardians or Guardians(), on)
        # The patient always sees everything of their own, restrictions included.
        return _apply(role, requested, frozenset(), break_glass=False, reason=None)
    if role not in CLINICIANS:
        return _refuse(requested, Forbidden("role {role} may not read a passport", role=role.value))
    reason = None
    if break_glass_reason is not None:
        reason = reason_text(break_glass_reason)
        problem = _reason_problem("breakGlassReason", reason, settings.break_glass_min_chars)
        if problem is not None:
            return _refuse(requested, problem, Basis.BREAK_GLASS, reason)
    related = relationship is not None and relationship.exists
    if not related and reason is None:
        denial = Forbidden("no care relationship with this patient; give breakGlassReason")
        return _refuse(requested, denial, Basis.CARE_RELATIONSHIP)
    # Any read with a reason is a break-glass read: it overrides restrictions and is flagged.
    return _apply(role, requested, restrictions, break_glass=reason is not None, reason=reason)


def _decide_guardian(
    requested: frozenset[Section], child_iin: str, guardians: Guardians, on: date | None
) -> Decision:
    """A patient asking for another IIN: read as a guardian, or refused on that ground."""
    if guardians.unavailable is not None:
        return _refuse(requested, guardians.unavailable, Basis.GUARDIAN)
    if not is_guardian_of(guardians, child_iin, on):
        denial = Forbidden("patients may read only their own passport and their children's")
        return _refuse(requested, denial, Basis.GUARDIAN)
    # The guardian sees what the child would see: everything, restrictions included.
    return _apply(
        Role.PATIENT,
        requested,
        frozenset(),
        break_glass=False,
        reason=None,
        basis=Basis.GUARDIAN,
    )


def decide_restriction(
    principal: Principal, patient_iin: str, guardians: Guardians | None = None
) -> Decision:
    """Who may hide or reveal sections of `patient_iin`'s passport: the patient, or a guardian
    of that child today (ACCESS.md). Refused decisions carry the basis tried."""
    if principal.role is not Role.PATIENT or principal.iin is None:
        denial = Forbidden("only patients restrict sections, of their own or their children's")
        return _refuse((), denial)
    if not is_valid_iin(patient_iin):
        return _refuse((), BadUserInput("invalid IIN"))
    if principal.iin == patient_iin:
        return Decision(allowed=frozenset(), basis=Basis.OWN)
    guardians = guardians or Guardians()
    if guardians.unavailable is not None:
        return _refuse((), guardians.unavailable, Basis.GUARDIAN)
    if not is_guardian_of(guardians, patient_iin):
        denial = Forbidden("patients restrict sections only of their own or their children's")
        return _refuse((), denial, Basis.GUARDIAN)
    return Decision(allowed=frozenset(), basis=Basis.GUARDIAN)


def reason_text(text: str) -> str:
    """A reason as it is judged and audited: control characters dropped, spaces collapsed."""
    printable = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if unicodedata.category(ch)[0] != "C" or ch.isspace()
    )
    return " ".join(printable.split())


def _reason_problem(name: str, reason: str, min_chars: int) -> BadUserInput | None:
    """BAD_USER_INPUT when a reason is too short or too long to be a reason."""
    if len(reason) < min_chars:
        return BadUserInput("{name} needs at least {count} characters", name=name, count=min_chars)
    if len(reason) > MAX_REASON_CHARS:
        return BadUserInput(
            "{name} may have at most {count} characters", name=name, count=MAX_REASON_CHARS
        )
    return None


def _decide_emergency(
    principal: Principal,
    requested: frozenset[Section],
    given_reason: str | None,
    settings: PolicySettings,
) -> Decision:
    if principal.role not in EMERGENCY_ENTRY_ROLES:
        return _refuse(
            requested, Forbidden("role {role} may not use emergency", role=principal.role.value)
        )
    reason = reason_text(given_reason or "")
    problem = _reason_problem("reason", reason, settings.emergency_reason_min_chars)
    if problem is not None:
        return _refuse(requested, problem, Basis.EMERGENCY, reason or None)
    allowed: set[Section] = set()
    denied: dict[Section, str] = {}
    for section in requested:
        # Restrictions do not apply: every emergency section but PROBLEMS is unrestrictable,
        # and active problems in `emergency` are always shown.
        if section in EMERGENCY_SECTIONS and POLICY[section][principal.role] is not Rule.DENY:
            allowed.add(section)
        else:
            denied[section] = Forbidden.code
    return Decision(
        allowed=frozenset(allowed),
        denied=denied,
        reason=reason,
        show_cost=False,
        active_problems_only=True,
        basis=Basis.EMERGENCY,
    )


def _apply(
    role: Role,
    requested: Iterable[Section],
    restrictions: frozenset[Section],
    *,
    break_glass: bool,
    reason: str | None,
    basis: Basis | None = None,
) -> Decision:
    allowed: set[Section] = set()
    denied: dict[Section, str] = {}
    for section in requested:
        if POLICY[section][role] is Rule.DENY:
            denied[section] = Forbidden.code
        elif section in restrictions and section in RESTRICTABLE and not break_glass:
            denied[section] = RestrictedByPatient.code
        else:
            allowed.add(section)
    return Decision(
        allowed=frozenset(allowed),
        denied=denied,
        break_glass=break_glass,
        reason=reason,
        show_cost=POLICY[Section.DISPENSATIONS][role] is Rule.READ,
        active_problems_only=POLICY[Section.PROBLEMS][role] is Rule.ACTIVE_ONLY,
        basis=basis or _basis(role, reason),
    )


def _basis(role: Role, reason: str | None) -> Basis:
    """The ground of an allowed passport read."""
    if role is Role.PATIENT:
        return Basis.OWN
    return Basis.BREAK_GLASS if reason is not None else Basis.CARE_RELATIONSHIP


def _refuse(
    requested: Iterable[Section],
    error: GatewayError,
    basis: Basis | None = None,
    reason: str | None = None,
) -> Decision:
    return Decision(
        allowed=frozenset(),
        denied=dict.fromkeys(requested, error.code),
        denial=error,
        basis=basis,
        reason=reason,
        break_glass=basis is Basis.BREAK_GLASS,
    )
