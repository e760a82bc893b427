"""The IPS sections this gateway writes, and the passport sections each is built from.

One table, read like ``auth.policy.TABLE``: the section's LOINC code and display as the HL7
IPS implementation guide fixes them (Composition-uv-ips), whether the guide requires it, and
the passport sections (ACCESS.md) whose reading it needs. Access is decided per passport
section, so a caller who may read one part of an IPS section (a nurse: lifestyle, not risk
behaviours) gets that part, and the rest is named in the OperationOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.auth.policy import Section

LOINC = "http://loinc.org"
# Composition.type of every IPS document.
PATIENT_SUMMARY = ("60591-5", "Patient summary Document")


# The guide's display of each section code.
DISPLAYS: dict[str, str] = {
    "11450-4": "Problem list - Reported",
    "48765-2": "Allergies and adverse reactions Document",
    "10160-0": "History of Medication use Narrative",
    "11369-6": "History of Immunization note",
    "30954-2": "Relevant diagnostic tests/laboratory data note",
    "47519-4": "History of Procedures Document",
    "46264-8": "History of medical device use",
    "11348-0": "History of Past illness note",
    "8716-3": "Vital signs note",
    "10162-6": "History of pregnancies Narrative",
    "29762-2": "Social history note",
    "18776-5": "Plan of care note",
}


@dataclass(frozen=True, slots=True)
class IpsSection:
    """One section of the IPS Composition."""

    key: str  # names its texts ("section.<key>") and its builders
    code: str  # LOINC
    required: bool  # 1..1 in Composition-uv-ips: present even when empty (with emptyReason)
    parts: tuple[Section, ...]  # the passport sections it shows, in order

    @property
    def display(self) -> str:
        """The LOINC display of the section code, as the guide writes it."""
        return DISPLAYS[self.code]


S = Section
Y, N = True, False
# fmt: off
IPS_SECTIONS: tuple[IpsSection, ...] = (
    #          key               LOINC      required  passport sections
    IpsSection("problems",       "11450-4", Y,        (S.PROBLEMS,)),
    IpsSection("allergies",      "48765-2", Y,        (S.ALLERGIES,)),
    IpsSection("medications",    "10160-0", Y,        (S.MEDICATIONS,)),
    IpsSection("immunizations",  "11369-6", N,        (S.IMMUNIZATIONS,)),
    IpsSection("results",        "30954-2", N,        (S.LAB_RESULTS, S.DIAGNOSTIC_STUDIES)),
    IpsSection("procedures",     "47519-4", N,        (S.SCREENINGS,)),
    IpsSection("devices",        "46264-8", N,        (S.EMERGENCY,)),
    IpsSection("past_problems",  "11348-0", N,        (S.PROBLEMS,)),
    IpsSection("vital_signs",    "8716-3",  N,        (S.PHYSIOLOGICAL_STATE, S.ANTHROPOMETRICS)),
    IpsSection("pregnancy",      "10162-6", N,        (S.PHYSIOLOGICAL_STATE,)),
    IpsSection("social_history", "29762-2", N,        (S.RISK_BEHAVIOURS, S.LIFESTYLE)),
    IpsSection("plan_of_care",   "18776-5", N,        (S.SCREENINGS,)),
)
# fmt: on
del S, Y, N

BY_KEY: dict[str, IpsSection] = {section.key: section for section in IPS_SECTIONS}
# Everything a summary reads: the sections above, the person (IDENTITY) and their carers.
REQUESTED: frozenset[Section] = frozenset(
    {Section.IDENTITY, Section.CARE_TEAM}
    | {part for section in IPS_SECTIONS for part in section.parts}
)
