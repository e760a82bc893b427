"""The displays the gateway must write, read from its data files (gateway/data/i18n/*.json)
the way an operator reads them: the expected words of language tests, never the gateway's code."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

I18N = Path(__file__).resolve().parents[1] / "gateway" / "data" / "i18n"
ATC = "http://www.whocc.no/atc"


@cache
def tables() -> dict[str, dict[str, dict[str, str]]]:
    """system -> code -> language -> display, of every term table."""
    found = {}
    for path in sorted(I18N.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "system" in data:
            found[data["system"]] = data["terms"]
    return found


@cache
def messages() -> dict[str, dict[str, Any]]:
    """English template -> language -> translation, of the message catalogue."""
    data = json.loads((I18N / "messages.json").read_text(encoding="utf-8"))
    return {t: tr for group in data["messages"].values() for t, tr in group.items()}


def term(system: str, code: str, language: str) -> str | None:
    """The display of a code in a language, when the data files have it."""
    return tables().get(system, {}).get(code, {}).get(language)


def medicine_name(atc: str, source_name: str, language: str = "en") -> str:
    """A medicine's name in answers: its ATC substance in the language, else the source's."""
    return term(ATC, atc, language) or source_name
