"""One language's words: code displays, labels and messages, looked up in plain dicts.

A request resolves its language once (``negotiate``) and takes that language's ``Words``
(built once per process), so saying a code in it costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from gateway.language.catalogue import Catalogue, Translation, load_catalogue
from gateway.language.negotiation import LANGUAGES
from gateway.language.phrase import Phrase, Term
from gateway.language.plural import plural_category
from gateway.language.script import language_of


class Words:
    """What the gateway writes, in one language."""

    def __init__(self, language: str, catalogue: Catalogue) -> None:
        self.language = language
        self._displays: dict[tuple[str, str], str] = {
            (table.system, code): displays[language]
            for table in catalogue.tables.values()
            for code, displays in table.terms.items()
            if language in displays
        }
        self._english: dict[tuple[str, str], str] = {
            (table.system, code): displays["en"]
            for table in catalogue.tables.values()
            for code, displays in table.terms.items()
            if "en" in displays
        }
        self._messages: dict[str, Translation] = {
            template: translations[language]
            for template, translations in catalogue.messages.items()
            if language in translations
        }
        self._texts: dict[str, Translation] = {
            key: translations.get(language) or translations["en"]
            for key, translations in catalogue.texts.items()
        }

    def display(self, system: str, code: str, source: str | None) -> tuple[str | None, str | None]:
        """The display of a code in this language, else the source's own; and its language."""
        known = self._displays.get((system, code))
        if known is not None:
            return known, self.language
        return source, _language_of(source)

    def known(self, system: str, code: str) -> str | None:
        """The display of a code in this language, when the data files have it."""
        return self._displays.get((system, code))

    def english(self, system: str, code: str) -> str | None:
        """The code system's own (English) display of a code, when the data files have it."""
        return self._english.get((system, code))

    def say(self, phrase: Phrase) -> str:
        """The phrase in this language (its English template when no translation is known)."""
        return phrase.render(self._template, self._term)

    def message(self, template: str, values: Mapping[str, object]) -> str:
        """A template with its values, in this language."""
        return self.say(Phrase(template, tuple(values.items())))

    def text(self, key: str, **values: object) -> str:
        """The label of ``key`` in this language (its English when this language lacks it)."""
        return self._form(self._texts[key], values).format_map(values)

    def _template(self, template: str, values: Mapping[str, object]) -> str:
        return self._form(self._messages.get(template, template), values)

    def _form(self, translation: Translation, values: Mapping[str, object]) -> str:
        """A sentence, or the form of a plural translation its count takes in this language."""
        if isinstance(translation, str):
            return translation
        count = values.get(translation["count"])
        category = plural_category(self.language, count if isinstance(count, int | float) else 0)
        return translation.get(category) or translation.get("other") or translation["many"]

    def _term(self, term: Term) -> str | None:
        return self._displays.get((term.system, term.code))


@lru_cache(maxsize=len(LANGUAGES))
def words_for(language: str) -> Words:
    """The words of one of ``LANGUAGES`` (built once per process)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    return Words(language, load_catalogue())


@lru_cache(maxsize=4096)
def _language_of(text: str | None) -> str | None:
    return language_of(text)
