"""Choosing a language, saying codes and phrases in it, and refusing a bad data file."""

from __future__ import annotations

import pytest

from gateway.language import Phrase, Term, negotiate, words_for
from gateway.language.catalogue import parse_messages, parse_term_table, parse_texts
from gateway.language.plural import plural_category
from gateway.language.script import language_of

ICD10 = "http://hl7.org/fhir/sid/icd-10"


@pytest.mark.parametrize(
    ("header", "default", "chosen"),
    [
        (None, "kk", "kk"),
        ("", "ru", "ru"),
        ("en-GB,en;q=0.9", "kk", "en"),
        ("kk, ru;q=0.8", "en", "kk"),
        ("ru;q=0.5, kk;q=0.9, en;q=0.1", "en", "kk"),
        ("ru, kk", "en", "ru"),  # equal quality: the earlier wins
        ("de, kk-KZ;q=0.3", "en", "kk"),
        ("*", "ru", "ru"),
        ("en;q=0", "kk", "kk"),  # refused: the default
        ("en;q=bad", "kk", "kk"),  # a malformed quality counts as 0
        ("de-DE, fr", "xx", "kk"),  # an unknown default falls back to Kazakh
    ],
)
def test_accept_language_chooses_an_offered_language(
    header: str | None, default: str, chosen: str
) -> None:
    assert negotiate(header, default) == chosen


def test_a_known_code_is_said_in_the_language_and_an_unknown_one_keeps_the_source() -> None:
    ru, kk = words_for("ru"), words_for("kk")
    assert ru.display(ICD10, "I10", "whatever the EHR wrote") == (
        "Эссенциальная [первичная] гипертензия",
        "ru",
    )
    assert kk.display(ICD10, "I10", None) == ("Эссенциалды [біріншілік] гипертензия", "kk")
    # Unknown codes keep the source's words, and their language is told by the letters.
    assert kk.display(ICD10, "Q99.9", "Хромосомная аномалия") == ("Хромосомная аномалия", "ru")
    assert ru.display(ICD10, "Q99.9", "Хромосомалық ауытқу") == ("Хромосомалық ауытқу", "kk")
    assert ru.display(ICD10, "Q99.9", "Chromosomal abnormality") == (
        "Chromosomal abnormality",
        "en",
    )
    assert ru.display(ICD10, "Q99.9", None) == (None, None)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Қант диабеті", "kk"),
        ("Сахарный диабет", "ru"),
        ("Diabetes mellitus", "en"),
        ("Сахарный diabetes", None),  # mixed scripts: not guessed
        ("12/80", None),  # no letters
        ("", None),
    ],
)
def test_the_language_of_a_source_display_is_told_by_its_letters(
    text: str, language: str | None
) -> None:
    assert language_of(text) == language


@pytest.mark.parametrize(
    ("count", "category"),
    [
        (1, "one"),
        (21, "one"),
        (2, "few"),
        (24, "few"),
        (5, "many"),
        (11, "many"),
        (12, "many"),
        (111, "many"),
        (1.5, "other"),
    ],
)
def test_russian_plural_categories_follow_cldr(count: float, category: str) -> None:
    assert plural_category("ru", count) == category
    assert plural_category("kk", count) == ("one" if count == 1 else "other")


def test_phrases_are_said_with_their_values_in_the_language() -> None:
    age = Phrase.of("{years} years", years=5)
    note = Phrase.of("no dose reference under {age} (patient {patient})", age=age, patient=age)
    assert note.english() == "no dose reference under 5 years (patient 5 years)"
    assert words_for("ru").say(note) == (
        "справочные дозы есть только с возраста: 5 лет (возраст пациента: 5 лет)"
    )
    assert words_for("ru").say(Phrase.of("{years} years", years=3)) == "3 года"
    removed = Phrase.of(
        "no cervix left ({display} on {date})",
        display=Term("http://snomed.info/sct", "116140006", "Total hysterectomy"),
        date="2020-01-02",
    )
    assert (
        words_for("kk").say(removed)
        == "жатыр мойны алынып тасталған (Тотальды гистерэктомия, 2020-01-02)"
    )
    unknown = Phrase.of(
        "{why} since {date}", why=Phrase.of("a template nobody translated"), date="x"
    )
    assert words_for("ru").say(unknown) == "a template nobody translated с x"
    listed = Phrase.of(
        "no body weight recorded; above the maximum for {ceilings}", ceilings=(age, age)
    )
    assert listed.english().endswith("for 5 years, 5 years")


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'de'"):
        words_for("de")


SOURCES = {"ru": {"source": "written", "reviewed": False}}


@pytest.mark.parametrize(
    ("translation", "problem"),
    [
        ("лимит до {maximum}", "placeholders"),  # a placeholder renamed
        ("лимит", "placeholders"),  # a placeholder dropped
        ({"one": "{max} раз"}, "names its count"),  # a plural without its count
        ({"count": "max", "several": "{max}"}, "one, few, many, other"),
        ({"count": "max", "one": "раз"}, "must fill"),
    ],
)
def test_a_translation_that_does_not_fit_its_template_stops_start_up(
    translation: object, problem: str
) -> None:
    data = {"languages": SOURCES, "messages": {"g": {"limit is {max}": {"ru": translation}}}}
    with pytest.raises(ValueError, match=problem) as caught:
        parse_messages(data, "messages.json")
    assert "messages.json: g: 'limit is {max}' in ru" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        {"languages": {"ru": {"source": "", "reviewed": False}}, "messages": {}},
        {"languages": {"ru": {"source": "x"}}, "messages": {}},
        {"languages": {"de": {"source": "x", "reviewed": True}}, "messages": {}},
        {"languages": SOURCES, "messages": {"g": {"t": {"de": "t"}}}},
    ],
)
def test_a_catalogue_without_sources_or_with_an_unknown_language_is_refused(
    data: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match=r"messages\.json"):
        parse_messages(data, "messages.json")


def test_a_term_table_needs_its_system_and_displays() -> None:
    with pytest.raises(ValueError, match="needs its system"):
        parse_term_table({"languages": SOURCES, "terms": {}}, "x.json")
    with pytest.raises(ValueError, match="A01: 'ru' needs a display"):
        parse_term_table(
            {"system": "s", "languages": SOURCES, "terms": {"A01": {"ru": " "}}}, "x.json"
        )
    table = parse_term_table(
        {
            "system": "s",
            "languages": SOURCES,
            "terms": {"A01": {"ru": "а", "reviewed": {"ru": True}}},
        },
        "x.json",
    )
    assert table.terms == {"A01": {"ru": "а"}} and not table.reviewed("A01", "ru")


def test_a_text_needs_its_english_and_the_same_placeholders() -> None:
    with pytest.raises(ValueError, match="needs its English"):
        parse_texts({"languages": SOURCES, "texts": {"k": {"ru": "к"}}}, "t.json")
    with pytest.raises(ValueError, match="k in ru: placeholders"):
        parse_texts({"languages": SOURCES, "texts": {"k": {"en": "{a}", "ru": "{b}"}}}, "t.json")
