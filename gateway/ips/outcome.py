"""OperationOutcome: the errors answered instead of a document, and the parts left out of one.

Codes are those of ACCESS.md, carried in ``details.coding`` beside the HTTP status, so a
client of the FHIR face reads the same codes as a client of GraphQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth.policy import Section
from gateway.errors import (
    BAD_USER_INPUT,
    FORBIDDEN,
    INTERNAL,
    NOT_FOUND,
    PERSISTED_QUERY_NOT_FOUND,
    QUERY_TOO_COMPLEX,
    RATE_LIMITED,
    RESTRICTED_BY_PATIENT,
    SOURCE_UNAVAILABLE,
    UNAUTHENTICATED,
)
from gateway.ips.sections import LOINC, IpsSection
from gateway.language import Words

ERROR_SYSTEM = "urn:kz:ehp:error-code"  # the codes of ACCESS.md
SECTION_SYSTEM = "urn:kz:ehp:passport-section"  # the passport's Section enum
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"

# ACCESS.md code -> (HTTP status, FHIR IssueType) of an answer that is not a document.
STATUS: dict[str, tuple[int, str]] = {
    UNAUTHENTICATED: (401, "login"),
    FORBIDDEN: (403, "forbidden"),
    RESTRICTED_BY_PATIENT: (403, "suppressed"),
    BAD_USER_INPUT: (400, "invalid"),
    NOT_FOUND: (404, "not-found"),
    SOURCE_UNAVAILABLE: (503, "transient"),
    QUERY_TOO_COMPLEX: (400, "too-costly"),
    RATE_LIMITED: (429, "throttled"),
    # GraphQL's trusted documents; this face runs no client document, so never answered here.
    PERSISTED_QUERY_NOT_FOUND: (400, "not-supported"),
    NOT_ACCEPTABLE: (406, "not-supported"),
    INTERNAL: (500, "exception"),
}
# ACCESS.md code -> FHIR IssueType of a part left out of a document.
LEFT_OUT: dict[str, str] = {
    FORBIDDEN: "suppressed",
    RESTRICTED_BY_PATIENT: "suppressed",
    SOURCE_UNAVAILABLE: "incomplete",
}


@dataclass(frozen=True, slots=True)
class Missing:
    """A passport section that could not go into the document, and why."""

    part: Section
    code: str  # FORBIDDEN, RESTRICTED_BY_PATIENT or SOURCE_UNAVAILABLE
    text: str  # the sentence the narrative shows, in the document's language
    section: IpsSection | None = None  # None for the Patient's own parts (identity, care team)


def error_outcome(code: str, message: str) -> dict[str, Any]:
    """The OperationOutcome answered instead of a document."""
    issue_type = STATUS.get(code, STATUS[INTERNAL])[1]
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue_type,
                "details": {"coding": [{"system": ERROR_SYSTEM, "code": code}], "text": message},
            }
        ],
    }


def http_status(code: str) -> int:
    """The HTTP status of an answer that is an OperationOutcome with this code."""
    return STATUS.get(code, STATUS[INTERNAL])[0]


def left_out(missing: list[Missing], words: Words) -> dict[str, Any]:
    """The OperationOutcome entry naming every part the document does not show."""
    return {"resourceType": "OperationOutcome", "issue": [_issue(m, words) for m in missing]}


def _issue(missing: Missing, words: Words) -> dict[str, Any]:
    coding = []
    if missing.section is not None:
        code = missing.section.code
        display = words.known(LOINC, code) or missing.section.display
        coding.append({"system": LOINC, "code": code, "display": display})
    coding += [
        {"system": SECTION_SYSTEM, "code": missing.part.value},
        {"system": ERROR_SYSTEM, "code": missing.code},
    ]
    return {
        "severity": "warning",
        "code": LEFT_OUT[missing.code],
        "details": {"coding": coding, "text": missing.text},
    }
