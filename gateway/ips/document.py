"""The IPS document Bundle of one settled passport read.

The Composition comes first, then the Patient, the author, the facts of each section, and, when
some part could not be shown, one OperationOutcome naming each such part. Sections follow the
guide's rule for empty ones: the three it requires (problems, allergies, medications) are
always present, with an ``emptyReason`` and no entry when there is nothing to show:

- ``nilknown``: every source holding such facts answered, and none is recorded;
- ``notasked``: no health record system holds a clinical record of the person at all;
- ``withheld``: the reader may not read it (role, or the patient's restriction);
- ``unavailable``: a source that holds such facts did not answer (never shown as "none").

Other sections are present only with something to show. What a reader may not read is never
in the Bundle: neither its entries nor a narrative of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.auth.policy import Section
from gateway.clock import now
from gateway.errors import Forbidden, RestrictedByPatient, SourceUnavailable
from gateway.ips import resources as fhir
from gateway.ips.entries import Entries, Reference
from gateway.ips.narrative import Block, Table, narrative
from gateway.ips.outcome import Missing, left_out
from gateway.ips.parts import BUILDERS, Build
from gateway.ips.sections import IPS_SECTIONS, LOINC, PATIENT_SUMMARY, IpsSection
from gateway.ips.texts import text
from gateway.language import words_for
from gateway.resolvers import passport as resolve
from gateway.resolvers.reads import PatientRead

EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
# The errors that leave one part out of a document; any other error fails the whole request.
PART_ERRORS = (Forbidden, RestrictedByPatient, SourceUnavailable)
T = TypeVar("T")


def summary_bundle(read: PatientRead, language: str) -> dict[str, Any]:
    """The IPS Bundle of what ``read`` may show (its loads must have settled)."""
    entries = Entries()
    missing: list[Missing] = []
    identity = _attempt(language, Section.IDENTITY, lambda: resolve.identity(read), missing)
    # The Patient is the first entry after the Composition; without the register, the IIN alone.
    patient = fhir.patient(read.iin, identity)
    b = Build(read, entries, entries.add(patient), language)
    author = entries.add(_author(b))
    _care_team(b, patient, missing)
    sections = [s for ips in IPS_SECTIONS if (s := _section(b, ips, missing)) is not None]
    if missing:
        entries.add(left_out(missing, b.words))
    composition = _composition(b, author, sections)
    stamp = now().isoformat(timespec="seconds")
    composition["date"] = stamp
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [fhir.IPS + "Bundle-uv-ips"]},
        "language": language,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": stamp,
        "entry": [
            {"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition},
            *entries.entries,
        ],
    }


def _care_team(b: Build, patient: dict[str, Any], missing: list[Missing]) -> None:
    """The patient's GP and polyclinic (CARE_TEAM) as ``generalPractitioner``."""
    care = _attempt(b.language, Section.CARE_TEAM, lambda: resolve.care_team(b.read), missing)
    if care is None:
        return
    carers = [
        b.entries.practitioner(care.general_practitioner),
        b.entries.organization(care.attached_organization),
    ]
    found = [carer for carer in carers if carer is not None]
    if found:
        patient["generalPractitioner"] = found


def _author(b: Build) -> dict[str, Any]:
    """The gateway itself: an IPS assembled by software names a Device as its author."""
    return {
        "resourceType": "Device",
        "deviceName": [{"name": b.say("author.name"), "type": "user-friendly-name"}],
    }


def _section(b: Build, ips: IpsSection, missing: list[Missing]) -> dict[str, Any] | None:
    """One Composition section, or None when it is optional and has nothing to show."""
    references: list[Reference] = []
    blocks: list[Block] = []
    left: list[Missing] = []
    for part in ips.parts:
        build = BUILDERS[(ips.key, part)]
        built = _attempt(b.language, part, lambda build=build: build(b), left, ips)
        if built is not None and built.references:
            references += built.references
            blocks += [x for x in built.blocks if not isinstance(x, Table) or x.rows]
    missing += left
    notes = [m.text for m in left]
    display = b.words.known(LOINC, ips.code) or ips.display
    section: dict[str, Any] = {
        "title": b.say(f"section.{ips.key}"),
        "code": {"coding": [{"system": LOINC, "code": ips.code, "display": display}]},
    }
    if references:
        section["text"] = narrative(blocks + notes, b.language)
        section["entry"] = references
        return section
    if not ips.required:
        return None
    reason, sentence = _empty(b, ips, left)
    section["text"] = narrative([sentence, *notes] if sentence else notes, b.language)
    empty = b.words.known(EMPTY_REASON, reason)
    section["emptyReason"] = {
        "coding": [{"system": EMPTY_REASON, "code": reason, "display": empty}],
        "text": sentence or " ".join(notes),
    }
    return section


def _empty(b: Build, ips: IpsSection, left: list[Missing]) -> tuple[str, str | None]:
    """Why a required section has no entry: its emptyReason code and the sentence to show."""
    if any(m.code == SourceUnavailable.code for m in left):
        return "unavailable", None
    if left:
        return "withheld", None
    if not b.read.ehr().records:  # every region answered (else SOURCE_UNAVAILABLE is left)
        return "notasked", b.say("empty.no_record")
    return "nilknown", b.say(f"empty.{ips.key}")


def _composition(b: Build, author: Reference, sections: list[dict[str, Any]]) -> dict[str, Any]:
    code, display = PATIENT_SUMMARY
    display = b.words.known(LOINC, code) or display
    return {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [fhir.IPS + "Composition-uv-ips"]},
        "language": b.language,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": b.subject,
        "author": [author],
        "title": b.say("document.title"),
        "section": sections,
    }


def _attempt(
    language: str,
    part: Section,
    build: Callable[[], T],
    missing: list[Missing],
    section: IpsSection | None = None,
) -> T | None:
    """``build()``, or None with the reason noted when the part may not or cannot be shown."""
    try:
        return build()
    except PART_ERRORS as error:
        words = words_for(language)
        detail = (
            words.message(error.template, error.values)
            if isinstance(error, SourceUnavailable)
            else ""
        )
        name = text(f"part.{part.value}", language)
        sentence = text(f"missing.{error.code}", language, part=name, detail=detail)
        missing.append(Missing(part, error.code, sentence, section))
        return None
