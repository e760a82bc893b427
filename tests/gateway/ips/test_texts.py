"""The IPS face's words: one table per language, complete, chosen by Accept-Language."""

from __future__ import annotations

import pytest

from gateway.auth.policy import Section
from gateway.contract.enums import Criticality, LabFlag, PregnancyStatus, ProblemStatus
from gateway.errors import FORBIDDEN, RESTRICTED_BY_PATIENT, SOURCE_UNAVAILABLE
from gateway.ips.parts import BUILDERS
from gateway.ips.sections import IPS_SECTIONS, REQUESTED
from gateway.ips.texts import EN, TEXTS, negotiate, text


def test_every_language_has_every_key() -> None:
    for language, table in TEXTS.items():
        assert set(table) == set(EN), language


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
    assert needed - set(EN) == set()


def test_every_part_of_every_section_has_its_builder() -> None:
    parts = {(section.key, part) for section in IPS_SECTIONS for part in section.parts}
    assert set(BUILDERS) == parts
    # Encounters and dispensations are no IPS section: the summary never asks for them.
    assert not REQUESTED & {Section.ENCOUNTERS, Section.DISPENSATIONS}


def test_texts_are_filled_in() -> None:
    sentence = text("missing.SOURCE_UNAVAILABLE", "en", part="Allergies", detail="timeout")
    assert sentence.startswith("Allergies: could not be read (timeout)")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "en"),
        ("", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("kk, ru;q=0.8", "en"),  # neither is offered yet: English
        ("*", "en"),
        ("en;q=0", "en"),  # refused, yet nothing else is offered: the default
        ("en;q=bad", "en"),
    ],
)
def test_accept_language_chooses_an_offered_language(header: str | None, chosen: str) -> None:
    assert negotiate(header) == chosen


def test_accept_language_prefers_the_highest_quality_offered(monkeypatch) -> None:
    # As it will once Kazakh and Russian land: two more tables with the same keys.
    monkeypatch.setitem(TEXTS, "kk", {"document.title": "Пациенттің халықаралық түйіндемесі"})
    monkeypatch.setitem(TEXTS, "ru", {})
    assert negotiate("ru;q=0.5, kk;q=0.9, en;q=0.1") == "kk"
    assert negotiate("ru, kk") == "ru"
    assert negotiate("de, kk-KZ;q=0.3") == "kk"
    assert negotiate(None, default="kk") == "kk"
    assert text("document.title", "kk") == "Пациенттің халықаралық түйіндемесі"
    # A key a language lacks falls back to English, never to an error.
    assert text("section.results", "kk") == "Results"
