"""The IPS face's words: every key in Kazakh, Russian and English, filled in, chosen by the
request's language."""

from __future__ import annotations

import pytest

from gateway.auth.policy import Section
from gateway.contract.enums import Criticality, LabFlag, PregnancyStatus, ProblemStatus
from gateway.errors import FORBIDDEN, RESTRICTED_BY_PATIENT, SOURCE_UNAVAILABLE
from gateway.ips.parts import BUILDERS
from gateway.ips.sections import IPS_SECTIONS, REQUESTED
from gateway.ips.texts import text
from gateway.language import LANGUAGES
from gateway.language.catalogue import load_catalogue

TEXTS = load_catalogue().texts


def test_every_key_has_every_language() -> None:
    for key, translations in TEXTS.items():
        assert set(translations) == set(LANGUAGES), key


def test_every_key_the_document_builds_exists() -> None:
    # Keys made from enum values and section names at run time, listed from their enums.
    needed = {f"section.{s.key}" for s in IPS_SECTIONS}
    needed |= {f"part.{section.value}" for section in REQUESTED}
    needed |= {f"empty.{s.key}" for s in IPS_SECTIONS if s.required}
    needed |= {f"criticality.{c.value}" for c in Criticality}
    needed |= {f"problem.{s.value}" for s in ProblemStatus}
    needed |= {f"flag.{f.value}" for f in LabFlag}
    needed |= {f"pregnancy.{p.value}" for p in PregnancyStatus}
    needed |= {f"missing.{code}" for code in (FORBIDDEN, RESTRICTED_BY_PATIENT, SOURCE_UNAVAILABLE)}
    assert needed - set(TEXTS) == set()


def test_every_part_of_every_section_has_its_builder() -> None:
    parts = {(section.key, part) for section in IPS_SECTIONS for part in section.parts}
    assert set(BUILDERS) == parts
    # Encounters and dispensations are no IPS section: the summary never asks for them.
    assert not REQUESTED & {Section.ENCOUNTERS, Section.DISPENSATIONS}


@pytest.mark.parametrize("language", LANGUAGES)
def test_texts_are_filled_in_from_the_data_file(language: str) -> None:
    sentence = text("missing.SOURCE_UNAVAILABLE", language, part="X", detail="timeout")
    template = TEXTS["missing.SOURCE_UNAVAILABLE"][language]
    assert sentence == template.format(part="X", detail="timeout")
    assert sentence.startswith("X: ") and "(timeout)" in sentence


@pytest.mark.parametrize(
    ("language", "times", "said"),
    [
        ("en", 2, "2× a day"),
        ("ru", 1, "1 раз в день"),
        ("ru", 3, "3 раза в день"),
        ("ru", 5, "5 раз в день"),
        ("ru", 22, "22 раза в день"),
        ("kk", 3, "күніне 3 рет"),
    ],
)
def test_a_count_takes_its_plural_form(language: str, times: int, said: str) -> None:
    assert text("dosage.times_per_day", language, times=times) == said
