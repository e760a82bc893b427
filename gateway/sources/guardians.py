"""The register's ``RelatedPerson`` records naming an adult as a child's parent or guardian.

SOURCES.md: ``identifier`` is the adult's IIN, ``patient`` the child's ``Patient``,
``relationship[0].coding[0]`` a v3-RoleCode, ``active`` and ``period``. One search by the
adult's IIN, then one search for the children's Patients by id (the contract has no
``_include``). Whether a record grants access today is the policy's call, not this module's.
"""

from __future__ import annotations

from typing import Any

from gateway.records import Guardianship, PatientRecord, Screened
from gateway.sources.fhir_client import FhirClient, chunked
from gateway.sources.fhir_mapping import IIN_SYSTEM, map_patient, parse_date
from gateway.sources.ownership import screened

ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# An adult has a few children at most; a page of this many holds them all as a rule.
_PAGE = 100


async def guardianships_of(
    fhir: FhirClient, source: str, region: str | None, adult_iin: str
) -> Screened:
    """Every RelatedPerson naming ``adult_iin``, each with the child's register record, as a
    ``Screened`` tuple (records naming anyone else are dropped and counted)."""
    entries = await fhir.search(
        "RelatedPerson", [("identifier", f"{IIN_SYSTEM}|{adult_iin}"), ("_count", str(_PAGE))]
    )
    resources = [
        e["resource"] for e in entries if e["resource"].get("resourceType") == "RelatedPerson"
    ]
    # A record must name the caller: a register answering someone else's can never grant access.
    own = [r for r in resources if adult_iin in _iins(r)]
    dropped = len(resources) - len(own)
    child_ids = sorted({cid for r in own if (cid := _child_id(r)) is not None})
    children: dict[str, PatientRecord] = {}
    for chunk in chunked(child_ids):
        found = await fhir.search(
            "Patient", [("_id", ",".join(chunk)), ("_count", str(len(chunk)))]
        )
        for entry in found:
            resource = entry["resource"]
            if resource.get("resourceType") != "Patient":
                continue
            patient = map_patient(resource, source, region)
            if patient is not None and patient.local_id in chunk:
                children[patient.local_id] = patient
    records = tuple(
        _guardianship(resource, adult_iin, children.get(_child_id(resource) or ""), source)
        for resource in own
    )
    return screened(source, records, dropped, "RelatedPerson records")


def _guardianship(
    resource: dict[str, Any], adult_iin: str, child: PatientRecord | None, source: str
) -> Guardianship:
    period = resource.get("period") if isinstance(resource.get("period"), dict) else {}
    active = resource.get("active")
    return Guardianship(
        adult_iin=adult_iin,
        child=child,
        relationship=_role_code(resource),
        active=active if isinstance(active, bool) else None,
        start=parse_date(period.get("start")),
        end=parse_date(period.get("end")),
        source=source,
    )


def _iins(resource: dict[str, Any]) -> set[str]:
    """The IINs among a resource's identifiers."""
    identifiers = resource.get("identifier")
    listed = identifiers if isinstance(identifiers, list) else []
    return {
        i["value"]
        for i in listed
        if isinstance(i, dict) and i.get("system") == IIN_SYSTEM and isinstance(i.get("value"), str)
    }


def _child_id(resource: dict[str, Any]) -> str | None:
    """The id of ``patient`` = ``Patient/{id}`` (a version suffix allowed), else None."""
    patient = resource.get("patient")
    literal = patient.get("reference") if isinstance(patient, dict) else None
    if not isinstance(literal, str):
        return None
    parts = literal.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    # An id that could break a comma-separated search list is not followed.
    if len(parts) == 2 and parts[0] == "Patient" and parts[1] and not set(parts[1]) & set(",|\\$"):
        return parts[1]
    return None


def _role_code(resource: dict[str, Any]) -> str | None:
    """``relationship[0].coding[0].code`` when its system is v3-RoleCode."""
    relationships = resource.get("relationship")
    first = relationships[0] if isinstance(relationships, list) and relationships else None
    codings = first.get("coding") if isinstance(first, dict) else None
    coding = codings[0] if isinstance(codings, list) and codings else None
    if not isinstance(coding, dict) or coding.get("system") != ROLE_CODE_SYSTEM:
        return None
    code = coding.get("code")
    return code if isinstance(code, str) else None
