"""The translation data files (``gateway/data/i18n/*.json``), read and checked once.

Three kinds of file. A term table translates the displays of one code system (or one table of
labels, ``label:...``): ``{"system", "name", "about", "languages": {lang: {"source",
"reviewed"}}, "terms": {code: {"en", "ru", "kk", "reviewed"?: {lang: bool}}}}``. A message
catalogue translates the gateway's own sentences, keyed by their English template (gettext's
convention): ``{"about", "languages", "messages": {group: {template: {"ru", "kk"}}}}``; a
translation that depends on a count is ``{"count": name, "one": ..., "few": ..., "many": ...,
"other": ...}`` (CLDR categories). A text table holds labels by key, each with its English:
``{"about", "languages", "texts": {key: {"en", "ru", "kk"}}}``. ``reviewed`` is true where
the text is the named published source's own, false where it was written for this project
and awaits review.

A file that breaks these rules (a placeholder missing or added, an unknown language) stops the
gateway at start-up naming the entry, rather than failing a request later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.language.negotiation import LANGUAGES
from gateway.language.phrase import placeholders

PLURAL_CATEGORIES = frozenset({"one", "few", "many", "other"})
Translation = str | Mapping[str, str]  # a sentence, or its forms by CLDR plural category


@dataclass(frozen=True, slots=True)
class TermTable:
    """One code system's displays in each language, with where each language's came from."""

    system: str
    name: str
    sources: Mapping[str, Mapping[str, Any]]  # language -> {"source", "reviewed"}
    terms: Mapping[str, Mapping[str, str]]  # code -> language -> display
    unreviewed: frozenset[tuple[str, str]]  # (code, language) written for this project

    def reviewed(self, code: str, language: str) -> bool:
        """Whether the display of ``code`` in ``language`` is its published source's own."""
        if (code, language) in self.unreviewed:
            return False
        return bool(self.sources.get(language, {}).get("reviewed"))


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every term table by system, and every message by its English template."""

    tables: Mapping[str, TermTable]
    messages: Mapping[str, Mapping[str, Translation]]  # template -> language -> translation
    message_sources: Mapping[str, Mapping[str, Any]]
    texts: Mapping[str, Mapping[str, Translation]]  # key -> language -> translation


def parse_term_table(data: Mapping[str, Any], where: str) -> TermTable:
    """A term table from its JSON form; ValueError naming ``where`` and the entry."""
    system = data.get("system")
    if not isinstance(system, str) or not system:
        raise ValueError(f"{where}: a term table needs its system")
    sources = _sources(data, where)
    terms: dict[str, dict[str, str]] = {}
    unreviewed: set[tuple[str, str]] = set()
    for code, entry in dict(data.get("terms") or {}).items():
        displays: dict[str, str] = {}
        for language, display in entry.items():
            if language == "reviewed":
                unreviewed |= {(code, lang) for lang, ok in display.items() if not ok}
                continue
            if language not in LANGUAGES or not isinstance(display, str) or not display.strip():
                raise ValueError(f"{where}: {code}: {language!r} needs a display")
            displays[language] = display
        terms[code] = displays
    return TermTable(system, str(data.get("name", system)), sources, terms, frozenset(unreviewed))


def parse_messages(
    data: Mapping[str, Any], where: str
) -> tuple[dict[str, dict[str, Translation]], Mapping[str, Mapping[str, Any]]]:
    """Messages by template from a catalogue's JSON form; ValueError naming the entry."""
    sources = _sources(data, where)
    messages: dict[str, dict[str, Translation]] = {}
    for group, entries in dict(data.get("messages") or {}).items():
        for template, translations in dict(entries).items():
            wanted = placeholders(template)
            checked: dict[str, Translation] = {}
            for language, translation in translations.items():
                name = f"{where}: {group}: {template!r} in {language}"
                if language not in LANGUAGES:
                    raise ValueError(f"{name}: unknown language")
                checked[language] = _checked(translation, wanted, name)
            messages[template] = checked
    return messages, sources


def parse_texts(data: Mapping[str, Any], where: str) -> dict[str, dict[str, Translation]]:
    """Texts by key from a text table's JSON form; ValueError naming the entry."""
    _sources(data, where)
    texts: dict[str, dict[str, Translation]] = {}
    for key, translations in dict(data["texts"]).items():
        english = translations.get("en")
        if not isinstance(english, str):
            raise ValueError(f"{where}: {key}: needs its English")
        wanted = placeholders(english)
        checked: dict[str, Translation] = {}
        for language, translation in translations.items():
            if language not in LANGUAGES:
                raise ValueError(f"{where}: {key}: unknown language {language!r}")
            checked[language] = _checked(translation, wanted, f"{where}: {key} in {language}")
        texts[key] = checked
    return texts


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The packaged data files (read once per process)."""
    folder = resources.files("gateway").joinpath("data/i18n")
    tables: dict[str, TermTable] = {}
    messages: dict[str, dict[str, Translation]] = {}
    message_sources: dict[str, Mapping[str, Any]] = {}
    texts: dict[str, dict[str, Translation]] = {}
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".json"):
            continue
        data = json.loads(item.read_text("utf-8"))
        where = f"gateway/data/i18n/{item.name}"
        if "texts" in data:
            found_texts = parse_texts(data, where)
            if found_texts.keys() & texts.keys():
                raise ValueError(f"{where}: texts also in another file")
            texts.update(found_texts)
        elif "messages" in data:
            found, sources = parse_messages(data, where)
            twice = found.keys() & messages.keys()
            if twice:
                raise ValueError(f"{where}: messages also in another file: {sorted(twice)}")
            messages.update(found)
            message_sources[Path(item.name).stem] = sources
        else:
            table = parse_term_table(data, where)
            if table.system in tables:
                raise ValueError(f"{where}: {table.system} has two tables")
            tables[table.system] = table
    return Catalogue(tables, messages, message_sources, texts)


def _sources(data: Mapping[str, Any], where: str) -> Mapping[str, Mapping[str, Any]]:
    sources = dict(data.get("languages") or {})
    for language, about in sources.items():
        if language not in LANGUAGES or not str(dict(about).get("source", "")).strip():
            raise ValueError(f"{where}: languages.{language} needs its source")
        if not isinstance(about.get("reviewed"), bool):
            raise ValueError(f"{where}: languages.{language} needs reviewed: true or false")
    return sources


def _checked(translation: Any, wanted: frozenset[str], name: str) -> Translation:
    """A translation whose placeholders are exactly the template's."""
    if isinstance(translation, str):
        if placeholders(translation) != wanted:
            raise ValueError(f"{name}: placeholders {sorted(placeholders(translation))}")
        return translation
    if not isinstance(translation, dict) or translation.get("count") not in wanted:
        raise ValueError(f"{name}: a plural translation names its count among the placeholders")
    forms = {key: value for key, value in translation.items() if key != "count"}
    if not forms or not set(forms) <= PLURAL_CATEGORIES:
        raise ValueError(f"{name}: plural forms are one, few, many, other")
    for form in forms.values():
        if not isinstance(form, str) or placeholders(form) != wanted:
            raise ValueError(f"{name}: a plural form must fill the template's placeholders")
    return {"count": translation["count"], **forms}
