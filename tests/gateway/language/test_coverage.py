"""Nothing the gateway writes is left untranslated for Kazakh and Russian.

The templates and codes are found in the gateway's code and data and in the emulators' tables
(``written.py``), not listed here by hand: a new error message, note or code without its
translations fails this test.
"""

from __future__ import annotations

import pytest

from emulators import population_data as data
from gateway.language import LANGUAGES, words_for
from gateway.language.catalogue import load_catalogue
from tests.gateway.language import written

CATALOGUE = load_catalogue()
TRANSLATED = ("kk", "ru")


def test_no_message_is_built_with_an_f_string() -> None:
    # An f-string has no template to look its translations up by.
    assert written.formatted_templates() == []


def test_the_search_finds_the_messages_it_should() -> None:
    found = written.literal_templates()
    # One of each kind: an error, a default message, a clinical phrase, a limit, a face's own.
    for template in (
        "IIN must be 12 digits with a valid check digit",
        "not allowed",
        "no body weight recorded",
        "{operation} costs {cost}, over the limit of {max} (each passport, emergency "
        "record or stats view costs the source systems it needs)",
        "request body too large",
        "source {source} unavailable: {reason}",
    ):
        assert template in found
    assert len(written.data_templates()) >= 15


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_the_gateway_writes_is_translated(language: str) -> None:
    templates = {**written.literal_templates(), **written.data_templates()}
    missing = {
        template: where
        for template, where in templates.items()
        if language not in CATALOGUE.messages.get(template, {})
    }
    assert missing == {}


def test_the_catalogue_holds_no_message_the_gateway_no_longer_writes() -> None:
    templates = {**written.literal_templates(), **written.data_templates()}
    assert set(CATALOGUE.messages) - set(templates) == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_code_the_emulators_emit_has_a_display(language: str) -> None:
    codes = written.codes_md() | written.generator_codes()
    assert len(codes) > 150
    words = words_for(language)
    missing = sorted(code for code in codes if words.known(*code) is None)
    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_stats_label_is_translated(language: str) -> None:
    words = words_for(language)
    missing = sorted(key for key in written.stats_labels() if words.known(*key) is None)
    assert missing == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_ips_text_is_translated(language: str) -> None:
    assert [key for key, texts in CATALOGUE.texts.items() if language not in texts] == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_are_not_the_english_left_in_place(language: str) -> None:
    # A few may rightly read the same (an INN, "HBsAg"); whole tables copied over may not.
    for table in CATALOGUE.tables.values():
        same = [c for c, d in table.terms.items() if d.get(language) == d.get("en")]
        assert len(same) <= len(table.terms) // 5, (table.system, language, same)
    same = [t for t, tr in CATALOGUE.messages.items() if tr.get(language) == t]
    assert same == []


def test_every_language_of_every_file_names_its_source_and_review() -> None:
    for table in CATALOGUE.tables.values():
        assert set(table.sources) == set(LANGUAGES), table.system
        for about in table.sources.values():
            assert about["source"].strip() and isinstance(about["reviewed"], bool)
    for name, sources in CATALOGUE.message_sources.items():
        assert set(sources) == set(TRANSLATED), name


def test_russian_icd10_titles_are_the_emulators_published_edition() -> None:
    # Both are the Russian edition's titles (docs/codes.md): the EHRs' displays are kept as is.
    table = CATALOGUE.tables["http://hl7.org/fhir/sid/icd-10"]
    for code, title in data.ICD10_RU.items():
        assert table.terms[code]["ru"] == title, code
        assert table.reviewed(code, "ru")
    assert not table.reviewed("I21.0", "kk")
    assert not table.reviewed("I21", "ru")  # a category title, written here
