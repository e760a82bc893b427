"""The languages of what the gateway writes: Kazakh, Russian and English.

``negotiate`` picks the language of a request from its ``Accept-Language`` once; ``words_for``
gives that language's ``Words``: code displays (ICD-10, ATC, LOINC, SNOMED CT, vaccines, HL7
tables), labels and messages, read from the data files of ``gateway/data/i18n/`` with their
sources. Records are cached in no language at all: translation happens when they are shaped.
"""

from gateway.language.negotiation import DEFAULT_LANGUAGE, LANGUAGES, negotiate
from gateway.language.phrase import Phrase, Term
from gateway.language.words import Words, words_for

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Phrase",
    "Term",
    "Words",
    "negotiate",
    "words_for",
]
