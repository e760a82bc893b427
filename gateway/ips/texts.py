"""Every word the IPS document writes for people: titles, table headings, labels, notes.

The texts are data, one entry per key with its English, Russian and Kazakh
(``gateway/data/i18n/ips-texts.json``, read by ``gateway.language``); the document's language
is the request's (``Accept-Language``, else ``[app] default_language``).
"""

from __future__ import annotations

from gateway.language import words_for


def text(key: str, language: str, **values: object) -> str:
    """The text of ``key`` in ``language`` (English when that language lacks it), filled in."""
    return words_for(language).text(key, **values)
