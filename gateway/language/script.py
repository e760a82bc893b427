"""The language of a source's own display, told by its letters.

Used only when the gateway keeps a display the source wrote (no translation of the code is
known): Kazakh Cyrillic has letters Russian lacks; Russian is Cyrillic without them; English
is plain Latin. Anything else (mixed scripts, no letters) is not guessed.
"""

from __future__ import annotations

KAZAKH_LETTERS = frozenset("ӘәҒғҚқҢңӨөҰұҮүҺһІі")


def language_of(text: str | None) -> str | None:
    """``kk``, ``ru`` or ``en`` when the letters of ``text`` say so; else None."""
    letters = [c for c in text or "" if c.isalpha()]
    if not letters:
        return None
    if all("\u0400" <= c <= "\u04ff" for c in letters):
        return "kk" if any(c in KAZAKH_LETTERS for c in letters) else "ru"
    if all(c.isascii() for c in letters):
        return "en"
    return None
