"""What the gateway writes for people, found in its own code and data (not in a list kept by
hand): every message template and every code of the emulators' vocabulary.

Messages: the literal English template of every error (``GatewayError`` and its subclasses,
their ``default_message``), every ``Phrase``, every ``words.message(...)``, every reason of an
``HTTPException`` we raise, and the templates the clinical data files hold (screening names and
reasons, dose reference notes). Codes: every code of docs/codes.md's tables and of the
population generator's tables, by code system.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

from emulators import population_data as data
from emulators.ambulance import OUTCOME_LABELS
from emulators.dps import PROGRAM_LABELS
from gateway import errors

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "gateway"
ERROR_CLASSES = frozenset(
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.GatewayError)
)
# Calls whose first argument is a message template (Phrase.of, Phrase, words.message).
TEMPLATE_CALLS = ERROR_CLASSES | {"Phrase", "of", "message"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _calls(path: Path) -> Iterator[ast.Call]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield node


def literal_templates() -> dict[str, str]:
    """Template -> where it is written, for every literal template in gateway/."""
    found: dict[str, str] = {}
    for path in sorted(GATEWAY.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for call in _calls(path):
            name = _name(call.func)
            argument = None
            if name in TEMPLATE_CALLS and call.args:
                argument = call.args[0]
            elif name == "HTTPException" and len(call.args) > 1:
                argument = call.args[1]
            elif name == "__init__" and path.name == "errors.py" and call.args:
                argument = call.args[0]  # SourceUnavailable's own template
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.setdefault(argument.value, where)
    for error in ERROR_CLASSES:
        found.setdefault(getattr(errors, error).default_message, "gateway/errors.py")
    return found


def formatted_templates() -> list[str]:
    """Templates built with an f-string (they could never be translated): where each is."""
    wrong = []
    for path in sorted(GATEWAY.rglob("*.py")):
        for call in _calls(path):
            templated = _name(call.func) in TEMPLATE_CALLS and call.args
            if templated and isinstance(call.args[0], ast.JoinedStr):
                wrong.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    return wrong


def data_templates() -> dict[str, str]:
    """Templates the clinical data files hold: screening names and reasons, dose notes."""
    found: dict[str, str] = {}
    programme = json.loads((GATEWAY / "data" / "screening_programme.json").read_text("utf-8"))
    for rule in programme["rules"]:
        found[rule["name"]] = "screening_programme.json name"
        for exclusion in rule.get("exclusions", ()):
            found[exclusion["why"]] = "screening_programme.json why"
    reference = json.loads((GATEWAY / "data" / "dose_reference.json").read_text("utf-8"))
    for drug in reference["drugs"].values():
        if drug.get("otherwise"):
            found[drug["otherwise"]] = "dose_reference.json otherwise"
    return found


# docs/codes.md: the section heading's words -> the code system its tables list.
CODES_MD_SYSTEMS = {
    "ICD-10": "http://hl7.org/fhir/sid/icd-10",
    "ATC": "http://www.whocc.no/atc",
    "LOINC": "http://loinc.org",
    "SNOMED CT": "http://snomed.info/sct",
}
_ROW = re.compile(r"^\|\s*`([^`|]+)`\s*\|")
_HL7_ROW = re.compile(r"^\|\s*`\.\.\./CodeSystem/([^`]+)`\s*\|([^|]+)\|")


def codes_md() -> set[tuple[str, str]]:
    """(system, code) of every row of docs/codes.md's code tables."""
    found: set[tuple[str, str]] = set()
    system = None
    for line in (ROOT / "docs" / "codes.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            system = next((s for key, s in CODES_MD_SYSTEMS.items() if key in line), None)
            continue
        hl7 = _HL7_ROW.match(line)
        if hl7:
            table = "http://terminology.hl7.org/CodeSystem/" + hl7.group(1)
            found |= {(table, code) for code in _listed_codes(hl7.group(2))}
            continue
        row = _ROW.match(line)
        if row and system is not None:
            found.add((system, row.group(1)))
    for code in ("BCG", "HepB", "DTP", "IPV", "Hib", "PCV", "MMR", "HPV", "Td", "Flu"):
        found.add(("urn:kz:vaccine", code))  # listed in prose, checked against the generator below
    return found


def _listed_codes(cell: str) -> list[str]:
    """The codes of a cell like "EC (Electrocardiac (e.g., EKG)), CUS (Cardiac Ultrasound)"."""
    items, depth, current = [], 0, ""
    for char in cell:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [item.split()[0] for item in items if item.strip()]


def generator_codes() -> set[tuple[str, str]]:
    """(system, code) of every code the population generator's tables write."""
    icd10, atc = CODES_MD_SYSTEMS["ICD-10"], CODES_MD_SYSTEMS["ATC"]
    loinc, snomed = CODES_MD_SYSTEMS["LOINC"], CODES_MD_SYSTEMS["SNOMED CT"]
    hl7 = "http://terminology.hl7.org/CodeSystem/"
    found = {(icd10, code) for code in data.ICD10_RU}
    found |= {(icd10, reason[1]) for reason in data.AMBULANCE_REASONS}
    found |= {(atc, code) for code in data.DRUGS}
    found |= {(system, code) for system, code, *_ in data.ALLERGENS}
    found |= {("urn:kz:vaccine", code) for code in data.VACCINE_DISPLAY}
    found |= {(snomed, s.code) for s in data.SCREENINGS}
    found |= {(snomed, r.snomed) for r in data.ORGAN_REMOVALS}
    found |= {(loinc, study[0]) for study in data.STUDIES.values()}
    found |= {(loinc, test[0]) for test in data.LAB_TESTS.values() if test[0]}
    found |= {("urn:kz:lis:test", code) for code in data.LAB_TESTS}
    found |= {(hl7 + "v2-0131", code) for code in data.CONTACT_ROLE_DISPLAY}
    found |= {(hl7 + "v3-RoleCode", code) for code in data.ROLE_CODE_DISPLAY}
    found |= {(hl7 + "v2-0074", code) for code in data.DIAGNOSTIC_SERVICE_DISPLAY}
    found |= {(hl7 + "observation-category", code) for code in data.OBSERVATION_CATEGORY_DISPLAY}
    return found


def stats_labels() -> set[tuple[str, str]]:
    """(label table, key) of every stats row key the emulators label."""
    found = {("label:program", key) for key in PROGRAM_LABELS}
    found |= {("label:call-outcome", key) for key in OUTCOME_LABELS}
    found |= {("label:region", region) for region in data.REGION_WEIGHTS}
    icd10 = CODES_MD_SYSTEMS["ICD-10"]
    found |= {(icd10, reason[1][:3]) for reason in data.AMBULANCE_REASONS}  # grouped by category
    return found
