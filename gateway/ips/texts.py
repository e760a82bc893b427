"""Every word the IPS document writes for people: titles, table headings, labels, notes.

One table per language, so that Kazakh and Russian are two more dictionaries with the same
keys (tests/gateway/ips/test_texts.py keeps the keys of every language equal). Until those
translations land, English is the only language offered, and ``Accept-Language`` falls back
to it; codings keep the display their source gave.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_LANGUAGE = "en"

EN: dict[str, str] = {
    # the document
    "document.title": "International Patient Summary",
    "author.name": "Electronic Health Passport gateway",
    # IPS sections
    "section.problems": "Problem list",
    "section.allergies": "Allergies and intolerances",
    "section.medications": "Medication summary",
    "section.immunizations": "Immunizations",
    "section.results": "Results",
    "section.procedures": "History of procedures",
    "section.devices": "Medical devices",
    "section.past_problems": "History of past problems",
    "section.vital_signs": "Vital signs",
    "section.pregnancy": "Pregnancy",
    "section.social_history": "Social history",
    "section.plan_of_care": "Plan of care",
    # passport sections, as parts of IPS sections and in OperationOutcome issues
    "part.IDENTITY": "Identity",
    "part.CARE_TEAM": "Care team",
    "part.EMERGENCY": "Emergency data",
    "part.ALLERGIES": "Allergies",
    "part.LIFESTYLE": "Lifestyle",
    "part.DIAGNOSTIC_STUDIES": "Diagnostic studies",
    "part.LAB_RESULTS": "Laboratory results",
    "part.PHYSIOLOGICAL_STATE": "Physiological state",
    "part.RISK_BEHAVIOURS": "Risk behaviours",
    "part.IMMUNIZATIONS": "Immunizations",
    "part.SCREENINGS": "Screenings",
    "part.PROBLEMS": "Problems",
    "part.MEDICATIONS": "Medications",
    "part.ANTHROPOMETRICS": "Anthropometrics",
    # table headings
    "col.substance": "Substance",
    "col.category": "Category",
    "col.criticality": "Criticality",
    "col.reactions": "Reactions",
    "col.problem": "Problem",
    "col.status": "Status",
    "col.onset": "Onset",
    "col.medicine": "Medicine",
    "col.dosage": "Dosage",
    "col.since": "Since",
    "col.vaccine": "Vaccine",
    "col.date": "Date",
    "col.dose_number": "Dose",
    "col.test": "Test",
    "col.value": "Value",
    "col.reference_range": "Reference range",
    "col.flag": "Flag",
    "col.study": "Study",
    "col.conclusion": "Conclusion",
    "col.measure": "Measure",
    "col.procedure": "Procedure",
    "col.outcome": "Outcome",
    "col.device": "Device",
    "col.check_up": "Check-up",
    "col.due": "Due",
    "col.reason": "Reason",
    "col.expected_delivery": "Expected delivery",
    "col.gestational_weeks": "Weeks of gestation",
    # values
    "criticality.HIGH": "high",
    "criticality.LOW": "low",
    "criticality.UNKNOWN": "unknown",
    "problem.ACTIVE": "active",
    "problem.INACTIVE": "inactive",
    "problem.RESOLVED": "resolved",
    "flag.NORMAL": "normal",
    "flag.LOW": "low",
    "flag.HIGH": "high",
    "flag.ABNORMAL": "abnormal",
    "pregnancy.PREGNANT": "pregnant",
    "pregnancy.NOT_PREGNANT": "not pregnant",
    "pregnancy.UNKNOWN": "unknown",
    "device.in_use": "in use",
    "plan.overdue": "overdue",
    "plan.due": "due",
    "dosage.times_per_day": "{times}× a day",
    # empty and missing sections
    "empty.allergies": "No allergies or intolerances are recorded in the patient's health records.",
    "empty.problems": "No current problems are recorded in the patient's health records.",
    "empty.medications": "No current medicines are recorded in the patient's health records "
    "or prescriptions.",
    "empty.no_record": "No clinical record of this person is held by any health record system.",
    "missing.FORBIDDEN": "{part}: not included, the reader's role may not read it.",
    "missing.RESTRICTED_BY_PATIENT": "{part}: not included, restricted by the patient.",
    "missing.SOURCE_UNAVAILABLE": "{part}: could not be read ({detail}); this section may be "
    "incomplete.",
    # errors answered instead of a document
    "error.identifier": "identifier must be urn:kz:iin|<IIN>",
    "error.reason_encoding": "X-Break-Glass-Reason must be UTF-8 text (percent-encoded or not)",
}

TEXTS: dict[str, Mapping[str, str]] = {"en": EN}
LANGUAGES = tuple(TEXTS)


def text(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (English when that language lacks it), filled in."""
    template = TEXTS.get(language, EN).get(key) or EN[key]
    return template.format(**values) if values else template


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The offered language the ``Accept-Language`` header prefers most (RFC 9110, q-values)."""
    best, best_q = default if default in TEXTS else DEFAULT_LANGUAGE, 0.0
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        quality = _quality(parameters)
        # Earlier items win ties: subtract a tiny amount per position.
        score = quality - position * 1e-6
        if primary in TEXTS and quality > 0 and score > best_q:
            best, best_q = primary, score
    return best


def _quality(parameters: str) -> float:
    """The q-value of one Accept-Language item (1 when absent, 0 when malformed)."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
