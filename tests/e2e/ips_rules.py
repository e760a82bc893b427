"""The HL7 IPS guide's rules for a document Bundle, checked here without the gateway's code.

``fhir.resources`` (its R4B models) validates the structure and datatypes of every resource.
These checks add what it does not: the document's shape (the Composition first and alone,
bdl-ips-1; a fullUrl on every entry), Composition-uv-ips (type 60591-5, the three required
sections with their LOINC codes, each section's allowed entry types, ips-comp-1, a narrative
that parses as XHTML), references that resolve inside the Bundle, and invariants of the
profiles (ips-pat-1 on the Patient's name, ips-2 on observations). The codes are the guide's
(input/fsh/profiles/CompositionUvIps.fsh of HL7/fhir-ips).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml.ElementTree import fromstring
from fhir.resources.R4B.bundle import Bundle

LOINC = "http://loinc.org"
XHTML = "{http://www.w3.org/1999/xhtml}div"
PATIENT_SUMMARY = "60591-5"
PROBLEMS, ALLERGIES, MEDICATIONS = "11450-4", "48765-2", "10160-0"
IMMUNIZATIONS, RESULTS, PROCEDURES, DEVICES = "11369-6", "30954-2", "47519-4", "46264-8"
PAST_PROBLEMS, VITAL_SIGNS, PREGNANCY = "11348-0", "8716-3", "10162-6"
SOCIAL_HISTORY, PLAN_OF_CARE = "29762-2", "18776-5"
REQUIRED = (PROBLEMS, ALLERGIES, MEDICATIONS)
DOCUMENT_REFERENCE = "DocumentReference"
# Section code -> the resource types its entries may reference (Composition-uv-ips).
ENTRY_TYPES: dict[str, set[str]] = {
    PROBLEMS: {"Condition"},
    ALLERGIES: {"AllergyIntolerance"},
    MEDICATIONS: {
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationDispense",
    },
    IMMUNIZATIONS: {"Immunization"},
    RESULTS: {"Observation", "DiagnosticReport"},
    PROCEDURES: {"Procedure"},
    DEVICES: {"DeviceUseStatement"},
    PAST_PROBLEMS: {"Condition"},
    VITAL_SIGNS: {"Observation"},
    PREGNANCY: {"Observation"},
    SOCIAL_HISTORY: {"Observation"},
    PLAN_OF_CARE: {"CarePlan", "ImmunizationRecommendation"},
    "42348-3": {"Consent"},
    "104605-1": {"Flag"},
    "47420-5": {"Condition", "ClinicalImpression"},
    "81338-6": set(),
}


def problems_of(bundle: dict[str, Any]) -> list[str]:
    """Every way ``bundle`` breaks the R4B models or the IPS rules above (empty: none)."""
    try:
        Bundle.model_validate(bundle)
    except ValueError as error:  # pydantic's ValidationError
        return [f"fhir.resources: {error}"]
    found: list[str] = []
    entries = bundle.get("entry", [])
    urls = [entry.get("fullUrl") for entry in entries]
    if (
        bundle.get("type") != "document"
        or not bundle.get("identifier")
        or not bundle.get("timestamp")
    ):
        found.append("not a document Bundle with identifier and timestamp")
    if None in urls or len(set(urls)) != len(urls):
        found.append("an entry without a fullUrl, or two with the same")
    kinds = [entry["resource"]["resourceType"] for entry in entries]
    if not kinds or kinds[0] != "Composition" or kinds.count("Composition") != 1:
        found.append("bdl-ips-1: the Composition is not first and alone")
        return found
    resources = {entry["fullUrl"]: entry["resource"] for entry in entries}
    for url, resource in resources.items():
        if url.startswith("urn:uuid:") and resource.get("id") not in (None, url[9:]):
            found.append(f"{url}: id disagrees with the fullUrl")
    found += [f"unresolved reference {r}" for r in references(bundle) if r not in resources]
    found += _composition_problems(entries[0]["resource"], resources)
    for resource in resources.values():
        found += _resource_problems(resource)
    return found


def references(value: Any) -> Iterator[str]:
    """Every ``reference`` anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def resources_by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Bundle's resources by fullUrl."""
    return {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}


def composition(bundle: dict[str, Any]) -> dict[str, Any]:
    """The document's Composition."""
    return bundle["entry"][0]["resource"]


def section(bundle: dict[str, Any], code: str) -> dict[str, Any] | None:
    """The Composition's section with this LOINC code, if present."""
    found = [s for s in composition(bundle)["section"] if _code(s) == code]
    return found[0] if found else None


def section_resources(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    """The resources a section's entries reference ([] when the section is absent)."""
    chosen = section(bundle, code)
    by_url = resources_by_url(bundle)
    return [by_url[ref["reference"]] for ref in (chosen or {}).get("entry", [])]


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every resource of one type in the Bundle."""
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def issues(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues of the Bundle's OperationOutcome entries."""
    return [issue for outcome in of_type(bundle, "OperationOutcome") for issue in outcome["issue"]]


def named(issue: dict[str, Any], system_suffix: str) -> str | None:
    """The code an issue's details carry in a system ending with ``system_suffix``."""
    for coding in issue.get("details", {}).get("coding", []):
        if coding["system"].endswith(system_suffix):
            return coding["code"]
    return None


def _code(section: dict[str, Any]) -> str | None:
    codings = section.get("code", {}).get("coding", [])
    return codings[0]["code"] if codings and codings[0].get("system") == LOINC else None


def _composition_problems(comp: dict[str, Any], resources: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    if [(c["system"], c["code"]) for c in comp["type"]["coding"]] != [(LOINC, PATIENT_SUMMARY)]:
        found.append("Composition.type is not LOINC 60591-5")
    subject = resources.get(comp["subject"]["reference"], {})
    if subject.get("resourceType") != "Patient":
        found.append("Composition.subject is not the Bundle's Patient")
    if not comp.get("author") or not comp.get("date") or not comp.get("title"):
        found.append("Composition without author, date or title")
    codes = [_code(s) for s in comp["section"]]
    if len(set(codes)) != len(codes):
        found.append(f"a section twice: {codes}")
    for required in REQUIRED:
        if codes.count(required) != 1:
            found.append(f"required section {required} missing")
    for sec in comp["section"]:
        code = _code(sec)
        if code not in ENTRY_TYPES:
            found.append(f"section {code} is not an IPS section")
            continue
        if not sec.get("title"):
            found.append(f"section {code} has no title")
        if not sec.get("entry") and not sec.get("emptyReason"):
            found.append(f"ips-comp-1: section {code} has neither entry nor emptyReason")
        if sec.get("entry") and sec.get("emptyReason"):
            found.append(f"section {code} has entries and an emptyReason")
        found += _narrative_problems(f"section {code}", sec.get("text"))
        allowed = ENTRY_TYPES[code] | {DOCUMENT_REFERENCE}
        for ref in sec.get("entry", []):
            kind = resources.get(ref["reference"], {}).get("resourceType")
            if kind not in allowed:
                found.append(f"section {code} references a {kind}")
    return found


def _narrative_problems(where: str, text: dict[str, Any] | None) -> list[str]:
    if not text or text.get("status") != "generated":
        return [f"{where}: no generated narrative"]
    try:
        root = fromstring(text["div"])
    except ParseError as error:
        return [f"{where}: narrative is not XML ({error})"]
    if root.tag != XHTML or not "".join(root.itertext()).strip():
        return [f"{where}: narrative is not a non-empty XHTML div"]
    return []


def _resource_problems(resource: dict[str, Any]) -> list[str]:
    kind = resource["resourceType"]
    if kind == "Patient":
        names = resource.get("name", [])
        # ips-pat-1 (an element carried only by an extension exists too)
        if not names or not all(
            any(k in n for k in ("family", "given", "text", "_text")) for n in names
        ):
            return ["ips-pat-1: Patient.name without family, given or text"]
        if "birthDate" not in resource and "_birthDate" not in resource:
            return ["Patient without birthDate (1.. in Patient-uv-ips)"]
    if kind == "Observation":
        keys = set(resource)
        if not any(k.startswith("value") for k in keys) and not keys & {
            "dataAbsentReason",
            "hasMember",
            "component",
        }:
            return ["ips-2: Observation without value, dataAbsentReason, hasMember or component"]
    return []
