"""Normalised records -> the contract's types, for the list-like sections.

Pure functions: no I/O, no access decisions (those are made before any source is asked).
Items merged from several regional EHRs are deduplicated on what makes them the same fact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from gateway import records as rec
from gateway.clinical.current_medicines import CurrentMedicine
from gateway.clock import age_on, local_date, today
from gateway.contract import types as t
from gateway.contract.enums import (
    Criticality,
    EncounterKind,
    LabFlag,
    MedicationEvidence,
    ProblemStatus,
    Sex,
)
from gateway.language import Words
from gateway.resolvers.names import Names
from gateway.sources import SourceReport

PROBLEM_LIST = "problem-list-item"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
SCREENING = "screening"

_CRITICALITY = {"low": Criticality.LOW, "high": Criticality.HIGH}
_PROBLEM_STATUS = {
    "active": ProblemStatus.ACTIVE,
    "recurrence": ProblemStatus.ACTIVE,
    "relapse": ProblemStatus.ACTIVE,
    "inactive": ProblemStatus.INACTIVE,
    "remission": ProblemStatus.INACTIVE,
    "resolved": ProblemStatus.RESOLVED,
}
NOT_DONE = frozenset({"not-done", "entered-in-error"})


def identity(patient: rec.PatientRecord, names: Names) -> t.Identity:
    """The register's identity of a person."""
    return t.Identity(
        iin=patient.iin,
        family_name=patient.family,
        given_name=patient.given,
        patronymic=patient.patronymic,
        full_name=patient.full_name,
        birth_date=patient.birth_date,
        sex=Sex(patient.sex) if patient.sex in ("MALE", "FEMALE") else None,
        age=age_on(patient.birth_date, today()),
        region=patient.region,
        provenance=names.provenance(patient.provenance),
    )


def care_team(patient: rec.PatientRecord, names: Names) -> t.CareTeam:
    """The polyclinic and GP the person is attached to."""
    return t.CareTeam(
        attached_organization=names.organization(patient.managing_org),
        general_practitioner=names.practitioner(patient.gp),
        provenance=names.provenance(patient.provenance),
    )


def contacts(patient: rec.PatientRecord, names: Names) -> list[t.EmergencyContact]:
    """The people to call, as the register lists them: the register's own word for the
    relationship, else its v2-0131 code's display in the reader's language."""
    return [
        t.EmergencyContact(
            name=c.name, relationship=_relationship(c, names.words), phones=list(c.phones)
        )
        for c in patient.contacts
    ]


def _relationship(contact: rec.Contact, words: Words) -> str | None:
    """The register's word ("мать") as written; a code's display said in the reader's language."""
    code = contact.relationship_code
    if code is None:
        return contact.relationship
    if contact.relationship is None or contact.relationship == words.english(CONTACT_ROLE, code):
        return words.known(CONTACT_ROLE, code) or contact.relationship
    return contact.relationship


def allergies(items: Iterable[rec.Allergy], names: Names) -> list[t.Allergy]:
    """Allergies that are not resolved or refuted, one per substance, highest risk first."""
    chosen: dict[tuple[str, str], rec.Allergy] = {}
    for allergy in items:
        if allergy.substance is None:
            continue
        if allergy.clinical_status not in (None, "active"):
            continue
        key = (allergy.substance.system, allergy.substance.code)
        kept = chosen.get(key)
        if kept is None or _newer(allergy.provenance, kept.provenance):
            chosen[key] = allergy
    shaped = [
        t.Allergy(
            substance=names.coding(a.substance),  # type: ignore[arg-type]
            category=a.category,
            criticality=_CRITICALITY.get(a.criticality or "", Criticality.UNKNOWN),
            reactions=list(a.reactions),
            provenance=names.provenance(a.provenance),
        )
        for a in chosen.values()
    ]
    shaped.sort(key=lambda a: (a.criticality != Criticality.HIGH, a.substance.code))
    return shaped


def problem_status(problem: rec.Problem) -> ProblemStatus:
    """The contract's three-valued status of a condition."""
    return _PROBLEM_STATUS.get(problem.clinical_status or "", ProblemStatus.ACTIVE)


def problems(
    items: Iterable[rec.Problem],
    names: Names,
    *,
    include_resolved: bool,
    active_only: bool = False,
) -> list[t.Problem]:
    """The problem list (problem-list items), newest onset first."""
    chosen: dict[tuple[str, str, date | None], rec.Problem] = {}
    for problem in items:
        if problem.code is None or problem.category not in (None, PROBLEM_LIST):
            continue
        status = problem_status(problem)
        if active_only and status is not ProblemStatus.ACTIVE:
            continue
        if not include_resolved and status is ProblemStatus.RESOLVED:
            continue
        onset = problem.onset.date() if problem.onset else None
        chosen.setdefault((problem.code.system, problem.code.code, onset), problem)
    shaped = [
        t.Problem(
            code=names.coding(p.code),  # type: ignore[arg-type]
            status=problem_status(p),
            onset=p.onset.date() if p.onset else None,
            provenance=names.provenance(p.provenance),
        )
        for p in chosen.values()
    ]
    shaped.sort(key=lambda p: (p.onset or date.min, p.code.code), reverse=True)
    return shaped


def medications(medicines: Iterable[CurrentMedicine], names: Names) -> list[t.Medication]:
    """Current medicines, each with every record that holds it."""
    return [
        t.Medication(
            code=names.coding(m.code),
            name=names.medicine(m.code.code, m.name),
            dose=_quantity(m.dose),
            times_per_day=m.times_per_day,
            route=m.route,
            since=m.since,
            provenance=names.provenance(m.provenance),
            sources=[
                t.MedicationSource(
                    kind=MedicationEvidence(item.kind),
                    provenance=names.provenance(item.provenance),
                    covers_until=item.covers_until,
                )
                for item in m.evidence
            ],
            pharmacy_only=m.pharmacy_only,
        )
        for m in medicines
    ]


def immunizations(items: Iterable[rec.Immunization], names: Names) -> list[t.Immunization]:
    """Vaccinations given, oldest first."""
    seen: dict[tuple[str, date, int | None], t.Immunization] = {}
    for item in items:
        if item.vaccine is None or item.occurred is None or item.status in NOT_DONE:
            continue
        day = item.occurred.date()
        seen.setdefault(
            (item.vaccine.code, day, item.dose_number),
            t.Immunization(
                vaccine=names.coding(item.vaccine),  # type: ignore[arg-type]
                date=day,
                dose_number=item.dose_number,
                provenance=names.provenance(item.provenance),
            ),
        )
    return sorted(seen.values(), key=lambda i: (i.date, i.vaccine.code))


def screenings(items: Iterable[rec.Procedure], names: Names) -> list[t.Screening]:
    """Screening procedures done, newest first."""
    seen: dict[tuple[str, date], t.Screening] = {}
    for item in items:
        if item.code is None or item.performed is None or item.status in NOT_DONE:
            continue
        if (item.category or "").lower() != SCREENING:
            continue
        day = item.performed.date()
        seen.setdefault(
            (item.code.code, day),
            t.Screening(
                code=names.coding(item.code),  # type: ignore[arg-type]
                date=day,
                outcome=item.outcome,
                provenance=names.provenance(item.provenance),
            ),
        )
    return sorted(seen.values(), key=lambda s: (s.date, s.code.code), reverse=True)


def diagnostic_studies(
    items: Iterable[rec.DiagnosticReport], names: Names
) -> list[t.DiagnosticStudy]:
    """Imaging, ECG and other studies, newest first."""
    shaped = [
        t.DiagnosticStudy(
            code=names.coding(item.code),  # type: ignore[arg-type]
            category=item.category,
            date=item.effective,
            conclusion=item.conclusion,
            provenance=names.provenance(item.provenance),
        )
        for item in items
        if item.code is not None and item.status != "entered-in-error"
    ]
    shaped.sort(key=lambda s: _sort_time(s.date), reverse=True)
    return shaped


def lab_results(
    history: rec.LabHistory, names: Names, first: date | None, last: date | None
) -> list[t.LabResult]:
    """Validated results in the period (by result time), newest first."""
    shaped = []
    for result in history.results:
        moment = result.resulted_at or result.ordered_at
        if not _in_period(moment, first, last):
            continue
        shaped.append(
            t.LabResult(
                test=names.coding(result.test),  # type: ignore[arg-type]
                value=result.value,
                numeric_value=result.numeric_value,
                unit=result.unit,
                reference_range=result.reference_range,
                flag=LabFlag(result.flag) if result.flag else None,
                resulted_at=result.resulted_at,
                order_number=result.order_number,
                provenance=names.provenance(result.provenance),
            )
        )
    shaped.sort(key=lambda r: (_sort_time(r.resulted_at), r.order_number or ""), reverse=True)
    return shaped


def encounters(
    items: Iterable[rec.Encounter], names: Names, first: date | None, last: date | None
) -> list[t.Encounter]:
    """Encounters (EHR visits and ambulance calls) starting in the period, newest first."""
    shaped = []
    for item in items:
        if item.start is None or item.kind is None or not _in_period(item.start, first, last):
            continue
        shaped.append(
            t.Encounter(
                kind=EncounterKind(item.kind),
                start=item.start,
                end=item.end,
                organization=names.organization(item.organization),
                practitioner=names.practitioner(item.practitioner),
                diagnosis=names.coding(item.diagnosis) if item.diagnosis else None,
                provenance=names.provenance(item.provenance),
            )
        )
    shaped.sort(key=lambda e: e.start, reverse=True)
    return shaped


def dispensations(
    items: Iterable[rec.Dispensation],
    names: Names,
    first: date | None,
    last: date | None,
    *,
    show_cost: bool,
) -> list[t.Dispensation]:
    """Dispensations in the period, newest first; cost only for those who may see it."""
    shaped = []
    for item in items:
        if item.drug is None or item.dispensed_at is None:
            continue
        if not _in_period(item.dispensed_at, first, last):
            continue
        shaped.append(
            t.Dispensation(
                drug=names.coding(item.drug),
                name=names.medicine(
                    item.drug.code, item.inn or item.drug.display or item.drug.code
                ),
                quantity=item.quantity or 0.0,
                amount_kzt=item.amount if show_cost else None,
                program=item.program or "",
                dispensed_at=item.dispensed_at,
                pharmacy=names.organization(item.pharmacy),
            )
        )
    shaped.sort(key=lambda d: d.dispensed_at, reverse=True)
    return shaped


def source_statuses(reports: Iterable[SourceReport]) -> list[t.SourceStatus]:
    """How each source consulted answered (``sources`` of passports and emergency data)."""
    return [
        t.SourceStatus(
            source=r.source, ok=r.ok, stale=r.stale, fetched_at=r.fetched_at, error=r.error
        )
        for r in reports
    ]


def implants(devices: Iterable[rec.Device], names: Names) -> list[t.Coding]:
    """Active implanted devices, one per type."""
    seen: dict[tuple[str, str], t.Coding] = {}
    for device in devices:
        if device.type is None or device.status not in (None, "active"):
            continue
        key = (device.type.system, device.type.code)
        if key not in seen:
            seen[key] = names.coding(device.type)
    return list(seen.values())


def _quantity(quantity: rec.Quantity | None) -> t.Quantity | None:
    if quantity is None or quantity.value is None:
        return None
    return t.Quantity(value=float(quantity.value), unit=quantity.unit or "")


def _newer(a: rec.Provenance, b: rec.Provenance) -> bool:
    return _sort_time(a.recorded_at) > _sort_time(b.recorded_at)


def _sort_time(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else float("-inf")


def _in_period(moment: datetime | None, first: date | None, last: date | None) -> bool:
    if first is None and last is None:
        return True
    if moment is None:
        return False
    day = local_date(moment)
    return (first is None or day >= first) and (last is None or day <= last)
