"""What each passport section adds to its IPS section: resources and narrative.

Each builder calls the GraphQL passport's own section function (``resolvers.passport``,
``screening_plan``): that function checks the read's decision, takes the loaded records,
shapes them, and marks the section disclosed for the audit. A builder never reaches a source
or decides access itself; an error of the section function (FORBIDDEN, RESTRICTED_BY_PATIENT,
SOURCE_UNAVAILABLE) leaves the part out, and the document names it.

Observations are written from the record the section's value came from (the latest of each
LOINC code across every regional EHR, as the passport picks it), so their codings, units and
times are the source's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from gateway import records as rec
from gateway.auth.policy import Section
from gateway.clock import local_time
from gateway.contract import types as t
from gateway.contract.enums import ProblemStatus
from gateway.ips import resources as fhir
from gateway.ips.entries import Entries, Reference
from gateway.ips.narrative import Block, Table
from gateway.ips.texts import text
from gateway.language import Words
from gateway.resolvers import observations as obs
from gateway.resolvers import passport as resolve
from gateway.resolvers.names import Names
from gateway.resolvers.reads import PatientRead
from gateway.resolvers.screening_plan import screening_plan

VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
TOBACCO_USE = fhir.IPS + "Observation-tobaccouse-uv-ips"
PREGNANCY_STATUS = fhir.IPS + "Observation-pregnancy-status-uv-ips"
PREGNANCY_EDD = fhir.IPS + "Observation-pregnancy-edd-uv-ips"
SOCIAL = "social-history"
# An observation to write: its LOINC code, category, and the profile it follows (if any).
ObservationSpec = tuple[str, str, str | None]
PLAN_MONTHS = 12  # the passport's default horizon of screeningPlan


@dataclass
class Build:
    """One document being written: the read it shows, its entries, and the reader's language."""

    read: PatientRead
    entries: Entries
    subject: Reference
    language: str

    @property
    def words(self) -> Words:
        """The request's words (the document's language): codes, messages."""
        return self.read.context.words

    def say(self, key: str, **values: object) -> str:
        """A text of this document's language (gateway.ips.texts)."""
        return text(key, self.language, **values)


@dataclass
class Part:
    """What one passport section added to an IPS section."""

    references: list[Reference] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def add(self, reference: Reference, table: Table, row: list[str]) -> None:
        """One entry and its row of the narrative."""
        self.references.append(reference)
        table.rows.append(row)


def problem_list(b: Build) -> Part:
    """Problems currently monitored: the passport's problems (active and inactive)."""
    return _problems(b, resolve.problems(b.read, include_resolved=False) or [])


def past_problems(b: Build) -> Part:
    """Resolved problems: the passport's problems with includeResolved, resolved ones only."""
    items = resolve.problems(b.read, include_resolved=True) or []
    return _problems(b, [p for p in items if p.status is ProblemStatus.RESOLVED])


def allergies(b: Build) -> Part:
    """Active allergies and intolerances."""
    part, table = _part(b, None, "substance", "category", "criticality", "reactions")
    for item in resolve.allergies(b.read) or []:
        row = [
            _coded(item.substance),
            item.category or "",
            b.say(f"criticality.{item.criticality.value}"),
            ", ".join(item.reactions),
        ]
        part.add(b.entries.add(fhir.allergy(item, b.subject, b.entries)), table, row)
    return part


def medications(b: Build) -> Part:
    """Current medicines (EHR statements and prescriptions, as the passport merges them)."""
    part, table = _part(b, None, "medicine", "dosage", "since")
    for item in resolve.current_medications(b.read) or []:
        dosage = _dosage(b, item)
        resource = fhir.medication_statement(item, dosage, b.subject, b.entries)
        row = [f"{item.name} ({item.code.code})", dosage, _day(item.since)]
        part.add(b.entries.add(resource), table, row)
    return part


def immunizations(b: Build) -> Part:
    """Vaccinations given."""
    part, table = _part(b, None, "vaccine", "date", "dose_number")
    for item in resolve.immunizations(b.read) or []:
        row = [_coded(item.vaccine), _day(item.date), str(item.dose_number or "")]
        part.add(b.entries.add(fhir.immunization(item, b.subject, b.entries)), table, row)
    return part


def lab_results(b: Build) -> Part:
    """Every validated laboratory result."""
    part, table = _part(b, Section.LAB_RESULTS, "test", "value", "reference_range", "flag", "date")
    for item in resolve.lab_results(b.read, None, None) or []:
        value = f"{item.value} {item.unit or ''}".strip()
        flag = b.say(f"flag.{item.flag.value}") if item.flag else ""
        row = [_coded(item.test), value, item.reference_range or "", flag, _time(item.resulted_at)]
        resource = fhir.lab_observation(item, b.subject, b.entries, b.words)
        part.add(b.entries.add(resource), table, row)
    return part


def diagnostic_studies(b: Build) -> Part:
    """Imaging, ECG and endoscopy studies with their conclusions."""
    part, table = _part(b, Section.DIAGNOSTIC_STUDIES, "study", "date", "conclusion")
    for item in resolve.diagnostic_studies(b.read) or []:
        row = [_coded(item.code), _time(item.date), item.conclusion or ""]
        part.add(b.entries.add(fhir.diagnostic_report(item, b.subject, b.entries)), table, row)
    return part


def screenings_done(b: Build) -> Part:
    """Screening procedures done (the passport's screenings)."""
    part, table = _part(b, None, "procedure", "date", "outcome")
    for item in resolve.screenings(b.read) or []:
        row = [_coded(item.code), _day(item.date), item.outcome or ""]
        resource = fhir.procedure(item, b.subject, b.entries, b.words)
        part.add(b.entries.add(resource), table, row)
    return part


def devices(b: Build) -> Part:
    """Implants of the emergency data: a Device and its DeviceUseStatement each."""
    part, table = _part(b, None, "device", "status")
    for kind in resolve.implants(b.read) or []:
        device = b.entries.add(fhir.device(kind, b.subject))
        statement = b.entries.add(fhir.device_use(device, b.subject))
        part.add(statement, table, [_coded(kind), b.say("device.in_use")])
    return part


def plan_of_care(b: Build) -> Part:
    """The national screening programme's check-ups due: one CarePlan."""
    planned = screening_plan(b.read, PLAN_MONTHS) or []
    part, table = _part(b, None, "check_up", "due", "reason")
    if not planned:
        return part
    for item in planned:
        due = b.say("plan.overdue" if item.overdue else "plan.due")
        table.rows.append([item.name, f"{item.due_month} ({due})", item.reason])
    resource = fhir.care_plan(
        planned, b.say("section.plan_of_care"), b.say("plan.overdue"), b.subject
    )
    part.references.append(b.entries.add(resource))
    return part


def physiological_vitals(b: Build) -> Part:
    """Blood pressure and heart rate of the physiological state."""
    resolve.physiological_state(b.read)
    return _observations(b, Section.PHYSIOLOGICAL_STATE, _vital(obs.BLOOD_PRESSURE, obs.HEART_RATE))


def anthropometrics(b: Build) -> Part:
    """Weight, height and BMI (vital signs), and waist circumference (a physical finding)."""
    resolve.anthropometrics(b.read)
    specs = (*_vital(obs.WEIGHT, obs.HEIGHT, obs.BMI), (obs.WAIST, "exam", None))
    return _observations(b, Section.ANTHROPOMETRICS, specs)


def pregnancy(b: Build) -> Part:
    """Pregnancy status (IPS profile), with the expected delivery date when pregnant."""
    state = resolve.physiological_state(b.read)
    part, table = _part(b, None, "status", "expected_delivery", "gestational_weeks")
    shown = state.pregnancy if state is not None else None
    latest = b.read.ehr().latest
    record = latest.get(obs.PREGNANCY)
    if shown is None or record is None:
        return part
    resource = fhir.observation(
        record, _by(b, record), SOCIAL, b.subject, b.entries, b.read.names, PREGNANCY_STATUS
    )
    due = latest.get(obs.DELIVERY_DATE)
    if shown.expected_delivery_date is not None and due is not None:
        edd = fhir.observation(
            due, _by(b, due), SOCIAL, b.subject, b.entries, b.read.names, PREGNANCY_EDD
        )
        edd["valueDateTime"] = shown.expected_delivery_date.isoformat()  # the passport's date
        resource["hasMember"] = [b.entries.add(edd)]
    row = [
        b.say(f"pregnancy.{shown.status.value}"),
        _day(shown.expected_delivery_date),
        str(shown.gestational_weeks) if shown.gestational_weeks is not None else "",
    ]
    part.add(b.entries.add(resource), table, row)
    return part


def risk_behaviours(b: Build) -> Part:
    """Smoking (IPS tobacco use profile), alcohol (AUDIT-C) and drug use."""
    resolve.risk_behaviours(b.read)
    specs = (
        (obs.SMOKING, SOCIAL, TOBACCO_USE),
        (obs.ALCOHOL, SOCIAL, None),
        (obs.DRUGS, SOCIAL, None),
    )
    return _observations(b, Section.RISK_BEHAVIOURS, specs)


def lifestyle(b: Build) -> Part:
    """Physical activity and sleep."""
    resolve.lifestyle(b.read)
    return _observations(
        b, Section.LIFESTYLE, ((obs.EXERCISE, SOCIAL, None), (obs.SLEEP, SOCIAL, None))
    )


# (IPS section key, passport section) -> builder; every part of sections.IPS_SECTIONS has one.
BUILDERS: dict[tuple[str, Section], Callable[[Build], Part]] = {
    ("problems", Section.PROBLEMS): problem_list,
    ("allergies", Section.ALLERGIES): allergies,
    ("medications", Section.MEDICATIONS): medications,
    ("immunizations", Section.IMMUNIZATIONS): immunizations,
    ("results", Section.LAB_RESULTS): lab_results,
    ("results", Section.DIAGNOSTIC_STUDIES): diagnostic_studies,
    ("procedures", Section.SCREENINGS): screenings_done,
    ("devices", Section.EMERGENCY): devices,
    ("past_problems", Section.PROBLEMS): past_problems,
    ("vital_signs", Section.PHYSIOLOGICAL_STATE): physiological_vitals,
    ("vital_signs", Section.ANTHROPOMETRICS): anthropometrics,
    ("pregnancy", Section.PHYSIOLOGICAL_STATE): pregnancy,
    ("social_history", Section.RISK_BEHAVIOURS): risk_behaviours,
    ("social_history", Section.LIFESTYLE): lifestyle,
    ("plan_of_care", Section.SCREENINGS): plan_of_care,
}


def _part(b: Build, caption: Section | None, *columns: str) -> tuple[Part, Table]:
    """An empty part with one table of the given column keys."""
    table = Table(
        headers=[b.say(f"col.{column}") for column in columns],
        caption=b.say(f"part.{caption.value}") if caption else None,
    )
    return Part(blocks=[table]), table


def _problems(b: Build, items: list[t.Problem]) -> Part:
    part, table = _part(b, None, "problem", "status", "onset")
    for item in items:
        row = [_coded(item.code), b.say(f"problem.{item.status.value}"), _day(item.onset)]
        part.add(b.entries.add(fhir.condition(item, b.subject, b.entries)), table, row)
    return part


def _vital(*codes: str) -> tuple[ObservationSpec, ...]:
    return tuple((code, "vital-signs", VITAL_SIGNS) for code in codes)


def _observations(b: Build, section: Section, specs: tuple[ObservationSpec, ...]) -> Part:
    """The latest observation of each code, as the section read it, and a row each."""
    part, table = _part(b, section, "measure", "value", "date")
    latest = b.read.ehr().latest
    for code, category, profile in specs:
        record = latest.get(code)
        if record is None:
            continue
        names = b.read.names
        resource = fhir.observation(
            record, _by(b, record), category, b.subject, b.entries, names, profile
        )
        code = names.coding(record.code) if record.code else None
        row = [_coded(code), _measured(record, names), _time(record.effective)]
        part.add(b.entries.add(resource), table, row)
    return part


def _by(b: Build, record: rec.Observation) -> t.Provenance:
    """Who recorded an observation, named as the passport names them (from the register)."""
    return b.read.names.provenance(record.provenance)


def _dosage(b: Build, item: t.Medication) -> str:
    """e.g. "500 mg, 2 times a day, oral"."""
    pieces = []
    if item.dose is not None:
        pieces.append(f"{_number(item.dose.value)} {item.dose.unit}".strip())
    if item.times_per_day:
        pieces.append(b.say("dosage.times_per_day", times=item.times_per_day))
    if item.route:
        pieces.append(item.route)
    return ", ".join(pieces)


def _measured(record: rec.Observation, names: Names) -> str:
    """An observation's value as a person reads it (blood pressure as systolic/diastolic)."""
    if record.components:
        values = [_plain(c.value, names) for c in record.components]
        unit = next((c.unit for c in record.components if c.unit), "")
        return f"{'/'.join(values)} {unit}".strip()
    return f"{_plain(record.value, names)} {record.unit or ''}".strip()


def _plain(value: object, names: Names) -> str:
    if isinstance(value, rec.Coding):
        return names.coding(value).display or value.code
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float):
        return _number(value)
    return "" if value is None else str(value)


def _number(value: float) -> str:
    return f"{value:g}"


def _coded(coding: t.Coding | rec.Coding | None) -> str:
    if coding is None:
        return ""
    return f"{coding.display} ({coding.code})" if coding.display else coding.code


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _time(value: datetime | None) -> str:
    return f"{local_time(value):%Y-%m-%d %H:%M}" if value is not None else ""
